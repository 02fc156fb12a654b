# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _referrers: OCI artifacts with a subject, the referrers API and its tag-schema fallback.

Only the HTTP boundary (the Transport) is stubbed: every request is asserted exactly (method, URL,
headers, body), in order."""

import base64
import hashlib
import json

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _referrers
from ansible_collections.containergen.images.plugins.module_utils._referrers import Client, OciError

REG = "reg.example:5000"
REPO = "ns/keystone"
BASE = "https://%s/v2/%s/" % (REG, REPO)
BASIC = "Basic " + base64.b64encode(b"publisher:s3cret").decode()
AUTH = {"Authorization": BASIC}
IMAGE = {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "a" * 64, "size": 1234}
FALLBACK = "sha256-" + "a" * 64
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
DOC = b'{"spdxVersion": "SPDX-2.3"}'


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(value):
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class Transport(object):
    """Answers the expected requests in order; any other request fails the test."""

    def __init__(self, *exchanges):
        self.exchanges = list(exchanges)

    def __call__(self, method, url, headers, body):
        assert self.exchanges, "unexpected request %s %s" % (method, url)
        (want_method, want_url, want_headers, want_body), response = self.exchanges.pop(0)
        assert (method, url, headers, body) == (want_method, want_url, want_headers, want_body)
        return response

    def done(self):
        assert not self.exchanges, "requests not made: %s" % [e[0][:2] for e in self.exchanges]


def client(*exchanges):
    transport = Transport(*exchanges)
    return Client(REG, transport, ("publisher", "s3cret")), transport


def artifact(document=DOC, artifact_type=_referrers.SPDX, annotations=None):
    manifest = {"schemaVersion": 2, "mediaType": _referrers.MANIFEST, "artifactType": artifact_type,
                "config": {"mediaType": _referrers.EMPTY, "digest": EMPTY_DIGEST, "size": 2},
                "layers": [{"mediaType": artifact_type, "digest": sha(document), "size": len(document)}],
                "subject": IMAGE}
    if annotations:
        manifest["annotations"] = annotations
    return compact(manifest)


NOT_FOUND = (404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')


def test_empty_config_digest_is_the_specs():
    assert _referrers.digest_of(_referrers.EMPTY_DATA) == EMPTY_DIGEST


def test_attach_without_referrers_api_pushes_blobs_manifest_and_the_fallback_index():
    data = artifact(annotations={"k": "v"})
    index = compact({"schemaVersion": 2, "mediaType": _referrers.INDEX, "manifests": [
        {"mediaType": _referrers.MANIFEST, "digest": sha(data), "size": len(data),
         "artifactType": _referrers.SPDX, "annotations": {"k": "v"}}]})
    oci, transport = client(
        (("GET", BASE + "referrers/" + IMAGE["digest"], dict(AUTH, Accept=_referrers.INDEX), None),
         (404, {}, b"404 page not found\n")),
        (("GET", BASE + "manifests/" + FALLBACK, dict(AUTH, Accept=_referrers.ACCEPT), None), NOT_FOUND),
        (("HEAD", BASE + "blobs/" + EMPTY_DIGEST, AUTH, None), (200, {}, b"")),  # the registry has it
        (("HEAD", BASE + "blobs/" + sha(DOC), AUTH, None), (404, {}, b"")),
        (("POST", BASE + "blobs/uploads/", dict(AUTH, **{"Content-Length": "0"}), b""),
         (202, {"location": "/v2/ns/keystone/blobs/uploads/u1?_state=x"}, b"")),
        (("PUT", "https://%s/v2/ns/keystone/blobs/uploads/u1?_state=x&digest=%s" % (REG, sha(DOC).replace(":", "%3A")),
          dict(AUTH, **{"Content-Type": "application/octet-stream", "Content-Length": str(len(DOC))}), DOC),
         (201, {}, b"")),
        (("PUT", BASE + "manifests/" + sha(data), dict(AUTH, **{"Content-Type": _referrers.MANIFEST}), data),
         (201, {"docker-content-digest": sha(data)}, b"")),  # no OCI-Subject: no referrers API
        (("GET", BASE + "manifests/" + FALLBACK, dict(AUTH, Accept=_referrers.ACCEPT), None), NOT_FOUND),
        (("PUT", BASE + "manifests/" + FALLBACK, dict(AUTH, **{"Content-Type": _referrers.INDEX}), index),
         (201, {}, b"")),
    )
    result = oci.attach(REPO, IMAGE, _referrers.SPDX, DOC, {"k": "v"})
    transport.done()
    assert result == {"digest": sha(data), "bytes_sent": len(DOC) + len(data) + len(index), "attached": True}


def test_attach_with_referrers_api_leaves_the_fallback_tag_alone():
    data = artifact()
    oci, transport = client(
        (("GET", BASE + "referrers/" + IMAGE["digest"], dict(AUTH, Accept=_referrers.INDEX), None),
         (200, {}, compact({"schemaVersion": 2, "mediaType": _referrers.INDEX, "manifests": [
             {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "c" * 64, "size": 9,
              "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]}))),
        (("HEAD", BASE + "blobs/" + EMPTY_DIGEST, AUTH, None), (200, {}, b"")),
        (("HEAD", BASE + "blobs/" + sha(DOC), AUTH, None), (200, {}, b"")),
        (("PUT", BASE + "manifests/" + sha(data), dict(AUTH, **{"Content-Type": _referrers.MANIFEST}), data),
         (201, {"oci-subject": IMAGE["digest"]}, b"")),
    )
    assert oci.attach(REPO, IMAGE, _referrers.SPDX, DOC) == {"digest": sha(data), "bytes_sent": len(data),
                                                             "attached": True}
    transport.done()


def test_attach_sends_nothing_when_an_artifact_of_that_type_refers_to_the_digest():
    index = compact({"schemaVersion": 2, "mediaType": _referrers.INDEX, "manifests": [
        {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "e" * 64, "size": 400,
         "artifactType": _referrers.SPDX}]})
    oci, transport = client(
        (("GET", BASE + "referrers/" + IMAGE["digest"], dict(AUTH, Accept=_referrers.INDEX), None), (404, {}, b"")),
        (("GET", BASE + "manifests/" + FALLBACK, dict(AUTH, Accept=_referrers.ACCEPT), None),
         (200, {"content-type": _referrers.INDEX}, index)),
    )
    assert oci.attach(REPO, IMAGE, _referrers.SPDX, DOC) == {"digest": "sha256:" + "e" * 64, "bytes_sent": 0,
                                                             "attached": False}
    transport.done()


def test_fallback_index_gains_an_entry_and_the_replaced_index_is_deleted():
    old = compact({"schemaVersion": 2, "mediaType": _referrers.INDEX, "manifests": [
        {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "1" * 64, "size": 5, "artifactType": _referrers.SPDX}]})
    entry = {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "2" * 64, "size": 6,
             "artifactType": _referrers.CYCLONEDX, "annotations": {}}
    new = compact({"schemaVersion": 2, "mediaType": _referrers.INDEX, "manifests": [
        json.loads(old)["manifests"][0],
        {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "2" * 64, "size": 6,
         "artifactType": _referrers.CYCLONEDX}]})
    oci, transport = client(
        (("GET", BASE + "manifests/" + FALLBACK, dict(AUTH, Accept=_referrers.ACCEPT), None),
         (200, {"content-type": _referrers.INDEX}, old)),
        (("PUT", BASE + "manifests/" + FALLBACK, dict(AUTH, **{"Content-Type": _referrers.INDEX}), new), (201, {}, b"")),
        (("DELETE", BASE + "manifests/" + sha(old), AUTH, None), (202, {}, b"")),
    )
    assert oci._add_to_fallback(REPO, IMAGE["digest"], entry) == len(new)  # pylint: disable=protected-access
    transport.done()


def test_detach_all_deletes_the_referrers_then_the_fallback_index():
    index = compact({"schemaVersion": 2, "mediaType": _referrers.INDEX, "manifests": [
        {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "1" * 64, "size": 5, "artifactType": _referrers.SPDX},
        {"mediaType": _referrers.MANIFEST, "digest": "sha256:" + "2" * 64, "size": 5,
         "artifactType": _referrers.CYCLONEDX}]})
    fallback = (("GET", BASE + "manifests/" + FALLBACK, dict(AUTH, Accept=_referrers.ACCEPT), None),
                (200, {"content-type": _referrers.INDEX}, index))
    oci, transport = client(
        (("GET", BASE + "referrers/" + IMAGE["digest"], dict(AUTH, Accept=_referrers.INDEX), None), (404, {}, b"")),
        fallback,
        (("DELETE", BASE + "manifests/sha256:" + "1" * 64, AUTH, None), (202, {}, b"")),
        (("DELETE", BASE + "manifests/sha256:" + "2" * 64, AUTH, None), NOT_FOUND),  # gone already
        fallback,
        (("DELETE", BASE + "manifests/" + sha(index), AUTH, None), (202, {}, b"")),
    )
    assert oci.detach_all(REPO, IMAGE["digest"]) == ["sha256:" + "1" * 64, sha(index)]
    transport.done()


def test_bearer_challenge_is_answered_once_with_a_token():
    challenge = 'Bearer realm="https://auth.example/token",service="reg.example",scope="repository:ns/keystone:pull"'
    oci, transport = client(
        (("HEAD", BASE + "blobs/" + EMPTY_DIGEST, AUTH, None), (401, {"www-authenticate": challenge}, b"")),
        (("GET", "https://auth.example/token?service=reg.example&scope=repository%3Ans%2Fkeystone%3Apull%2Cpush%2Cdelete",
          AUTH, None), (200, {}, b'{"token": "t0k"}')),
        (("HEAD", BASE + "blobs/" + EMPTY_DIGEST, {"Authorization": "Bearer t0k"}, None), (200, {}, b"")),
    )
    assert oci.push_blob(REPO, _referrers.EMPTY_DATA) == 0
    transport.done()


def test_an_error_names_method_repository_and_the_registrys_codes_never_the_credentials():
    oci, transport = client(
        (("PUT", BASE + "manifests/x", dict(AUTH, **{"Content-Type": _referrers.MANIFEST}), b"{}"),
         (400, {}, b'{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}')))
    with pytest.raises(OciError) as info:
        oci.put_manifest(REPO, "x", b"{}", _referrers.MANIFEST)
    transport.done()
    assert str(info.value) == "PUT ns/keystone/manifests/x: HTTP 400 MANIFEST_INVALID manifest invalid"
    assert "s3cret" not in str(info.value) and BASIC not in str(info.value)


def test_credentials_from_the_authfile(tmp_path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"auths": {REG: {"auth": base64.b64encode(b"publisher:pa:ss").decode()}}}))
    assert _referrers.credentials(str(path), REG) == ("publisher", "pa:ss")
    assert _referrers.credentials(str(path), "other:5000") is None
    assert _referrers.credentials(str(tmp_path / "absent.json"), REG) is None
    path.write_text("{not json")
    with pytest.raises(OciError) as info:
        _referrers.credentials(str(path), REG)
    assert str(info.value) == "%s: not JSON (JSONDecodeError)" % path


def test_tls_context_uses_the_registry_ca_from_cert_dir(tmp_path):
    with pytest.raises(OSError):  # the CA file is read: an empty one is refused, the default store is not used
        (tmp_path / "ca.crt").write_text("")
        _referrers.ssl_context(REG, str(tmp_path))
    assert _referrers.ssl_context(REG, str(tmp_path / "none")).verify_mode.name == "CERT_REQUIRED"
    assert _referrers.ssl_context(REG, tls_verify=False).verify_mode.name == "CERT_NONE"
