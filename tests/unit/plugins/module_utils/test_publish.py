# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _publish: skopeo argv through Runner's run seam, and the publish / cull / promote /
rollback logic against an in-memory fake registry. Nothing here talks to a registry."""

import datetime
import hashlib
import inspect as pyinspect
import json
import os
import threading
import time

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _publish
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, MANIFEST_DIGEST_LABEL, MANIFEST_LABEL,
)
from fakes import FakeRun  # pylint: disable=import-error
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner
from ansible_collections.containergen.images.plugins.module_utils._publish import (
    PublishError, PublishLock, Registry,
)


def sha(char):
    return "sha256:" + char * 64


HEX_A, HEX_B, HEX_C, HEX_D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


def labels(fingerprint, manifest_digest, **extra):
    result = {FINGERPRINT_LABEL: fingerprint, MANIFEST_DIGEST_LABEL: manifest_digest}
    result.update(extra)
    return result


# ---- the run seam -------------------------------------------------------------------------------


REG = "registry.example:5000"
NS = "containergen"
AUTH = "/root/.config/containergen/auth.json"
CERTS = "/etc/containers/certs.d/registry.example:5000"
REPO = "%s/%s/keystone" % (REG, NS)


def client(fake, **kwargs):
    kwargs.setdefault("authfile", AUTH)
    return Registry(Runner(run=fake), REG, NS, **kwargs)


# ---- is_static / revisions ------------------------------------------------------------------------

@pytest.mark.parametrize("tag", ["4.0.0", "v1.2", "1.2.3.4", "0.1", "v10.20.30"])
def test_static_tags(tag):
    assert _publish.is_static(tag) is True


@pytest.mark.parametrize("tag", ["latest", "zed", "4.0.0-1", "4", "v4", "1.2.3.4.5", "4.0.0rc1", "latest-2", ""])
def test_non_static_tags(tag):
    assert _publish.is_static(tag) is False


def test_revisions_numeric_order_and_exact_prefix():
    tags = ["latest-2", "latest-10", "latest-1", "latest", "latestx-3", "zed-4"]
    assert _publish.revisions(tags, "latest") == [1, 2, 10]
    assert _publish.revisions(tags, "zed") == [4]
    assert _publish.revisions(tags, "latestx") == [3]
    assert _publish.revisions([], "latest") == []


def test_revisions_escapes_regex_characters():
    # unescaped, "." would match the "x" of v1x2-5 and "+" would make "aab-2" a revision of "a+b"
    assert _publish.revisions(["v1.2-1", "v1x2-5", "v1.2-3", "v1.2-x", "v1.2-"], "v1.2") == [1, 3]
    assert _publish.revisions(["a+b-1", "aab-2", "ab-3"], "a+b") == [1]


# ---- Registry: exact argv -------------------------------------------------------------------------

INSPECT_OUT = json.dumps({
    "Name": REPO, "Digest": sha("d"), "RepoTags": [], "Created": "2024-05-01T10:00:00.123456789Z",
    "DockerVersion": "", "Labels": {"a": "1"}, "Architecture": "amd64", "Os": "linux",
    "Layers": [sha("1"), sha("2")], "Env": ["PATH=/usr/bin"],
})
RAW_OUT = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"digest": sha("9"), "size": 1234},
                      "layers": [{"digest": sha("1"), "size": 1000}, {"digest": sha("2"), "size": 2500}]})
CONFIG_OUT = json.dumps({"architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": [sha("a"), sha("b")]}})

FLAG_CASES = {
    # id: (Registry kwargs, plain flags, push (dest-) flags, retag (src- and dest-) flags)
    "authfile": ({}, ["--authfile", AUTH], ["--authfile", AUTH], ["--authfile", AUTH]),
    "no-authfile": ({"authfile": None}, [], [], []),
    "cert-dir": ({"cert_dir": CERTS},
                 ["--authfile", AUTH, "--cert-dir", CERTS],
                 ["--authfile", AUTH, "--dest-cert-dir", CERTS],
                 ["--authfile", AUTH, "--src-cert-dir", CERTS, "--dest-cert-dir", CERTS]),
    "no-tls-verify": ({"tls_verify": False},
                      ["--authfile", AUTH, "--tls-verify=false"],
                      ["--authfile", AUTH, "--dest-tls-verify=false"],
                      ["--authfile", AUTH, "--src-tls-verify=false", "--dest-tls-verify=false"]),
    "all": ({"cert_dir": CERTS, "tls_verify": False},
            ["--authfile", AUTH, "--cert-dir", CERTS, "--tls-verify=false"],
            ["--authfile", AUTH, "--dest-cert-dir", CERTS, "--dest-tls-verify=false"],
            ["--authfile", AUTH, "--src-cert-dir", CERTS, "--src-tls-verify=false",
             "--dest-cert-dir", CERTS, "--dest-tls-verify=false"]),
}


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_every_skopeo_call_exact_argv(case):
    kwargs, plain, push, retag = FLAG_CASES[case]
    fake = FakeRun((0, '{"Repository": "%s", "Tags": ["latest", "latest-1"]}' % REPO, ""),
                   (0, INSPECT_OUT, ""),
                   (0, "", ""),  # push
                   (0, "", ""),  # retag
                   (0, "", ""),  # retag from a digest
                   (0, "", ""),  # delete
                   (0, RAW_OUT, ""), (0, CONFIG_OUT, ""))
    registry = client(fake, **kwargs)
    assert registry.list_tags("keystone") == ["latest", "latest-1"]
    assert registry.inspect("keystone", "latest-1")["digest"] == sha("d")
    assert registry.push("localhost/containergen/keystone:latest", "keystone", "latest-2") == []
    registry.retag("keystone", "latest-2", "latest")
    registry.retag("keystone", "@" + sha("e"), "previous")
    registry.delete("keystone", "latest-1")
    assert registry.layer_sizes("keystone", "latest-2") == [(sha("a"), 1000), (sha("b"), 2500)]
    assert fake.argvs == [
        ["skopeo", "list-tags"] + plain + ["docker://" + REPO],
        ["skopeo", "inspect"] + plain + ["docker://%s:latest-1" % REPO],
        ["skopeo", "--debug", "copy", "--retry-times", "2", "--remove-signatures"] + push
        + ["containers-storage:localhost/containergen/keystone:latest", "docker://%s:latest-2" % REPO],
        ["skopeo", "copy", "--retry-times", "2", "--remove-signatures"] + retag
        + ["docker://%s:latest-2" % REPO, "docker://%s:latest" % REPO],
        ["skopeo", "copy", "--retry-times", "2", "--remove-signatures"] + retag
        + ["docker://%s@%s" % (REPO, sha("e")), "docker://%s:previous" % REPO],
        ["skopeo", "delete"] + plain + ["docker://%s:latest-1" % REPO],
        ["skopeo", "inspect", "--raw"] + plain + ["docker://%s:latest-2" % REPO],
        ["skopeo", "inspect", "--config"] + plain + ["docker://%s:latest-2" % REPO],
    ]
    # credentials only ever come from the authfile: nothing on stdin, no --creds/--password anywhere
    assert all(call["data"] is None for call in fake.calls)
    for argv in fake.argvs:
        assert not [a for a in argv if "creds" in a or "pass" in a.lower()], argv
        if kwargs.get("authfile", AUTH):
            assert argv[argv.index("--authfile") + 1] == AUTH
        else:
            assert "--authfile" not in argv


def test_registry_has_no_password_parameter():
    params = list(pyinspect.signature(Registry).parameters)
    assert params == ["run", "registry", "namespace", "authfile", "cert_dir", "tls_verify", "skopeo",
                      "source_transport", "sign_key", "sign_passphrase_file", "registries_d"]
    # the signing passphrase is a path to a 0600 file, never the passphrase itself
    assert not [p for p in params if ("pass" in p and p != "sign_passphrase_file") or "cred" in p or "token" in p]


def test_registry_defaults_and_repo_forms():
    registry = Registry(None, "registry.example/", "/containergen/")
    assert (registry.registry, registry.namespace, registry.authfile, registry.cert_dir, registry.tls_verify,
            registry.skopeo) == ("registry.example", "containergen", None, None, True, "skopeo")
    assert registry.repo("keystone") == "registry.example/containergen/keystone"
    assert Registry(None, "registry.example", "").repo("keystone") == "registry.example/keystone"
    assert Registry(None, "registry.example", "a/b").repo("keystone") == "registry.example/a/b/keystone"


def test_empty_namespace_argv_and_custom_skopeo():
    fake = FakeRun((0, '{"Tags": null}', ""))
    registry = Registry(Runner(run=fake), "registry.example", "", authfile=AUTH, skopeo="/opt/bin/skopeo")
    assert registry.list_tags("keystone") == []
    registry.delete("keystone", "latest-1")
    assert fake.argvs == [
        ["/opt/bin/skopeo", "list-tags", "--authfile", AUTH, "docker://registry.example/keystone"],
        ["/opt/bin/skopeo", "delete", "--authfile", AUTH, "docker://registry.example/keystone:latest-1"],
    ]


# ---- list_tags / inspect errors -------------------------------------------------------------------

@pytest.mark.parametrize("out,err", [
    ("", 'time="2024-05-01T10:00:00Z" level=fatal msg="Error listing repository tags: fetching tags list: '
         'name unknown: repository name not known to registry"\n'),
    ('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}', ""),
])
def test_list_tags_unknown_repository_is_empty(out, err):
    fake = FakeRun((1, out, err))
    assert client(fake).list_tags("keystone") == []
    assert len(fake.calls) == 1


def test_list_tags_other_failure_raises():
    err = ('time="2024-05-01T10:00:00Z" level=fatal msg="Error listing repository tags: fetching tags list: '
           'unauthorized: authentication required"\n')
    fake = FakeRun((1, "", err))
    with pytest.raises(CommandError) as info:
        client(fake).list_tags("keystone")
    assert info.value.argv == ["skopeo", "list-tags", REPO]
    assert info.value.rc == 1
    assert info.value.output == err
    assert "authentication required" in str(info.value)


def test_list_tags_connection_refused_on_port_404x_raises():
    registry = Registry(Runner(run=FakeRun((1, "", 'time="2024-05-01T10:00:00Z" level=fatal msg="Error listing '
                                                   'repository tags: fetching tags list: pinging container registry '
                                                   'registry.example:4043: Get \\"https://registry.example:4043/v2/\\": '
                                                   'dial tcp 192.0.2.10:4043: connect: connection refused"\n'))),
                        "registry.example:4043", NS, authfile=AUTH)
    with pytest.raises(CommandError):
        registry.list_tags("keystone")


def test_inspect_parses_digest_labels_created_layers():
    fake = FakeRun((0, INSPECT_OUT, ""))
    assert client(fake).inspect("keystone", "latest-1") == {
        "digest": sha("d"), "labels": {"a": "1"}, "created": "2024-05-01T10:00:00.123456789Z",
        "layers": [sha("1"), sha("2")]}


def test_inspect_null_labels_and_layers():
    fake = FakeRun((0, json.dumps({"Digest": sha("d"), "Labels": None, "Created": None}), ""))
    assert client(fake).inspect("keystone", "x") == {"digest": sha("d"), "labels": {}, "created": None, "layers": []}


def test_inspect_manifest_unknown_is_none():
    err = ('time="2024-05-01T10:00:00Z" level=fatal msg="Error parsing image name \\"docker://%s:4.0.0\\": '
           'reading manifest 4.0.0 in %s: manifest unknown"\n' % (REPO, REPO))
    fake = FakeRun((1, "", err))
    assert client(fake).inspect("keystone", "4.0.0") is None


def test_inspect_other_failure_raises():
    err = 'time="2024-05-01T10:00:00Z" level=fatal msg="x509: certificate signed by unknown authority"\n'
    fake = FakeRun((1, "", err))
    with pytest.raises(CommandError) as info:
        client(fake).inspect("keystone", "4.0.0")
    assert (info.value.argv, info.value.rc, info.value.output) == (["skopeo", "inspect", REPO + ":4.0.0"], 1, err)


def test_retag_and_delete_and_layer_sizes_failures_raise():
    for call in (lambda r: r.retag("keystone", "latest-1", "latest"), lambda r: r.delete("keystone", "latest-1"),
                 lambda r: r.layer_sizes("keystone", "latest-1")):
        fake = FakeRun((1, "", "denied\n"))
        with pytest.raises(CommandError) as info:
            call(client(fake))
        assert info.value.argv == fake.argvs[0]
        assert info.value.output == "denied\n"


def test_layer_sizes_zips_diff_ids_with_manifest_sizes():
    raw = json.dumps({"layers": [{"digest": sha("1"), "size": 10}, {"digest": sha("2")}, {"digest": sha("3"), "size": 7}]})
    config = json.dumps({"rootfs": {"diff_ids": [sha("a"), sha("b"), sha("c")]}})
    fake = FakeRun((0, raw, ""), (0, config, ""))
    assert client(fake).layer_sizes("keystone", "t") == [(sha("a"), 10), (sha("b"), 0), (sha("c"), 7)]
    fake = FakeRun((0, "{}", ""), (0, "{}", ""))
    assert client(fake).layer_sizes("keystone", "t") == []


# ---- push and the blobs it sent -------------------------------------------------------------------

def debug(msg):
    return 'time="2024-05-01T10:00:00Z" level=debug msg="%s"' % msg


def test_push_failure_hides_debug_lines():
    out = "Getting image source signatures\nCopying blob sha256:%s\n" % HEX_A
    err = "\n".join([
        debug('Loading registries configuration \\"/etc/containers/registries.conf\\"'),
        debug("Skipping blob sha256:%s (already present):" % HEX_B),
        'time="2024-05-01T10:00:01Z" level=fatal msg="writing blob: uploading layer chunked: received unexpected '
        'HTTP status: 500 Internal Server Error"',
    ]) + "\n"
    fake = FakeRun((1, out, err))
    with pytest.raises(CommandError) as info:
        client(fake).push("localhost/containergen/keystone:latest", "keystone", "latest-3")
    assert info.value.rc == 1
    assert info.value.argv == fake.argvs[0]
    assert info.value.output == (
        "Getting image source signatures\nCopying blob sha256:%s\n" % HEX_A
        + 'time="2024-05-01T10:00:01Z" level=fatal msg="writing blob: uploading layer chunked: received unexpected '
          'HTTP status: 500 Internal Server Error"')
    assert "level=debug" not in info.value.output
    assert "level=debug" not in str(info.value)


def test_push_returns_sent_blobs():
    out = ("Getting image source signatures\nCopying blob sha256:%s\nCopying blob sha256:%s\n"
           "Copying config sha256:%s\nWriting manifest to image destination\n" % (HEX_A, HEX_B, HEX_C))
    err = debug("Skipping blob sha256:%s (already present):" % HEX_B) + "\n"
    fake = FakeRun((0, out, err))
    assert client(fake).push("src", "keystone", "latest-1") == [HEX_A]


def test_sent_blobs_realistic_debug_output():
    output = "\n".join([
        debug("Using registries.d directory /etc/containers/registries.d"),
        "Getting image source signatures",
        debug("Checking if we can reuse blob sha256:%s: general substitution = true" % HEX_A),
        "Copying blob sha256:%s" % HEX_A,
        debug("Skipping blob sha256:%s (already present):" % HEX_A),
        "Copying blob sha256:%s" % HEX_C,
        "Copying blob sha256:%s" % HEX_B,
        "Copying blob sha256:%s" % HEX_C,  # a retried blob is counted once
        debug("Sending blob sha256:%s" % HEX_D),  # not a 'Copying blob' line
        "Copying config sha256:%s" % HEX_D,
        "Writing manifest to image destination",
    ])
    assert _publish.sent_blobs(output) == [HEX_C, HEX_B]


def test_sent_blobs_short_digests_and_nothing():
    assert _publish.sent_blobs("Copying blob 2e0b4bd4a2d4 done\nCopying blob 5f70bf18a086 skipped: already exists\n"
                               + debug("Skipping blob sha256:5f70bf18a086 (already present):")) == ["2e0b4bd4a2d4"]
    assert _publish.sent_blobs("") == []
    assert _publish.sent_blobs(debug("Copying blob sha256:%s" % HEX_A)) == []  # only at the start of a line


# ---- same_content ---------------------------------------------------------------------------------

@pytest.mark.parametrize("local,remote,expected", [
    (labels("f1", "m1"), labels("f1", "m1", other="x"), True),
    (labels("f1", "m1"), labels("f2", "m1"), False),
    (labels("f1", "m1"), labels("f1", "m2"), False),
    (labels("f1", ""), labels("f1", ""), False),
    ({FINGERPRINT_LABEL: "f1"}, {FINGERPRINT_LABEL: "f1"}, False),
    (labels("f1", "m1"), {}, False),
    (labels("f1", "m1"), {MANIFEST_DIGEST_LABEL: "m1"}, False),
])
def test_same_content(local, remote, expected):
    assert _publish.same_content(local, remote) is expected


# ---- a fake registry ------------------------------------------------------------------------------

NOW = datetime.datetime(2024, 6, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
OLD = "2024-03-01T12:00:00.123456789Z"   # 92 days before NOW
YOUNG = "2024-05-30T12:00:00Z"           # 2 days before NOW


class FakeRegistry(object):
    """In memory: name -> {tag: {"digest", "labels", "created"}}. Records every call in order.

    local: what push uploads, per source: {source: (digest, labels)}. race: when set, (digest, labels) that
    a concurrent publisher wrote under the pushed tag right after our push.
    """

    signature_tag = staticmethod(Registry.signature_tag)

    def __init__(self, images=None, local=None, sent=(), layers=(), registry="reg.example", namespace="ns",
                 sign_key=None):
        self.sign_key = sign_key
        self.images = images or {}
        self.local = local or {}
        self.sent = list(sent)
        self.layers = list(layers)
        self.race = None
        self.calls = []
        self.registry, self.namespace = registry, namespace
        self.manifests = {e["digest"]: dict(e) for tags in self.images.values() for e in tags.values()}
        self.artifacts = {}  # (name, subject digest) -> digests of the artifacts referring to it

    def detach(self, name, digest):
        self.calls.append(("detach", name, digest))
        return self.artifacts.pop((name, digest), [])

    def repo(self, name):
        return "%s/%s/%s" % (self.registry, self.namespace, name)

    def tags(self, name):
        return self.images.setdefault(name, {})

    def list_tags(self, name):
        self.calls.append(("list_tags", name))
        return list(self.images.get(name, {}))

    def inspect(self, name, tag):
        self.calls.append(("inspect", name, tag))
        entry = self.images.get(name, {}).get(tag)
        if entry is None:
            return None
        return {"digest": entry["digest"], "labels": dict(entry.get("labels") or {}),
                "created": entry.get("created", OLD), "layers": []}

    def push(self, source, name, tag):
        self.calls.append(("push", source, name, tag))
        digest, image_labels = self.race or self.local[source]
        self.tags(name)[tag] = {"digest": digest, "labels": image_labels, "created": YOUNG}
        self.manifests[digest] = dict(self.tags(name)[tag])
        return list(self.sent)

    def retag(self, name, from_tag, to_tag):
        self.calls.append(("retag", name, from_tag, to_tag))
        if from_tag.startswith("@"):
            # by digest: the manifest outlives its tags (until a garbage collection)
            entry = self.manifests[from_tag[1:]]
        else:
            entry = self.tags(name)[from_tag]
        self.tags(name)[to_tag] = dict(entry)

    def delete(self, name, tag):
        # distribution deletes the manifest: every tag of that digest goes
        self.calls.append(("delete", name, tag))
        digest = self.tags(name)[tag]["digest"]
        for other in [t for t, e in self.tags(name).items() if e["digest"] == digest]:
            del self.tags(name)[other]

    def sign(self, name, digest, tag):
        self.calls.append(("sign", name, digest, tag))
        self.tags(name)[self.signature_tag(digest)] = {"digest": sha("5"), "labels": {}}
        return True

    def layer_sizes(self, name, tag):
        self.calls.append(("layer_sizes", name, tag))
        return list(self.layers)

    def digests(self, name):
        return {tag: entry["digest"] for tag, entry in self.images.get(name, {}).items()}

    def kinds(self):
        return [call[0] for call in self.calls]


SRC = "localhost/containergen/keystone:latest"
LOCAL = labels("fp-new", "md-new")
OTHER = labels("fp-old", "md-old")


def image(digest, image_labels=None, created=OLD):
    return {"digest": digest, "labels": image_labels if image_labels is not None else OTHER, "created": created}


def publisher(images=None, **kwargs):
    return FakeRegistry(images={"keystone": images} if images is not None else {},
                        local={SRC: (sha("n"), LOCAL)}, **kwargs)


def result(**fields):
    base = {"name": "keystone", "source": SRC, "tag": "latest", "action": "", "revision": None, "ref": "",
            "digest": "", "blobs_sent": 0, "bytes_sent": 0, "signed": False}
    base.update(fields)
    return base


# ---- publish_image --------------------------------------------------------------------------------

def test_publish_first_revision_push_verify_then_retag():
    registry = publisher()
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest") == result(
        action="pushed", revision=1, ref="reg.example/ns/keystone:latest-1", digest=sha("n"))
    assert registry.calls == [
        ("list_tags", "keystone"),
        ("push", SRC, "keystone", "latest-1"),
        ("inspect", "keystone", "latest-1"),
        ("layer_sizes", "keystone", "latest-1"),
        ("retag", "keystone", "latest-1", "latest"),
    ]
    assert registry.digests("keystone") == {"latest-1": sha("n"), "latest": sha("n")}


def test_publish_unchanged_when_latest_revision_has_same_content():
    registry = publisher({"latest-1": image(sha("1")), "latest-2": image(sha("2"), LOCAL), "latest": image(sha("2"))})
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest") == result(
        action="unchanged", revision=2, ref="reg.example/ns/keystone:latest-2", digest=sha("2"))
    assert registry.calls == [("list_tags", "keystone"), ("inspect", "keystone", "latest-2"),
                              ("inspect", "keystone", "latest")]


@pytest.mark.parametrize("floating", [image(sha("1")), None])
def test_publish_same_content_moves_a_stale_or_missing_floating_tag(floating):
    images = {"latest-1": image(sha("1")), "latest-2": image(sha("2"), LOCAL)}
    if floating:
        images["latest"] = floating
    registry = publisher(images)
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest") == result(
        action="retagged", revision=2, ref="reg.example/ns/keystone:latest-2", digest=sha("2"))
    assert "push" not in registry.kinds()
    assert registry.calls[-1] == ("retag", "keystone", "latest-2", "latest")
    assert registry.kinds().count("retag") == 1
    assert registry.digests("keystone")["latest"] == sha("2")


def test_publish_same_content_stale_floating_tag_check_mode():
    registry = publisher({"latest-2": image(sha("2"), LOCAL), "latest": image(sha("1"))})
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest", check_mode=True)["action"] == "retagged"
    assert "retag" not in registry.kinds()
    assert registry.digests("keystone")["latest"] == sha("1")


def test_publish_different_content_pushes_next_numeric_revision():
    registry = publisher({"latest-2": image(sha("2")), "latest-10": image(sha("a")), "latest-1": image(sha("1")),
                          "latest": image(sha("a")), "latestx-30": image(sha("x"), LOCAL)})
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest") == result(
        action="pushed", revision=11, ref="reg.example/ns/keystone:latest-11", digest=sha("n"))
    assert registry.calls == [
        ("list_tags", "keystone"),
        ("inspect", "keystone", "latest-10"),
        ("push", SRC, "keystone", "latest-11"),
        ("inspect", "keystone", "latest-11"),
        ("layer_sizes", "keystone", "latest-11"),
        ("retag", "keystone", "latest-11", "latest"),
    ]
    assert registry.digests("keystone")["latest"] == sha("n")


def test_publish_static_tag_absent_pushes_once_never_retags():
    registry = publisher({"latest-1": image(sha("1"), LOCAL), "latest": image(sha("1"), LOCAL)})
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "4.0.0") == result(
        tag="4.0.0", action="pushed", revision=None, ref="reg.example/ns/keystone:4.0.0", digest=sha("n"))
    assert registry.calls == [
        ("list_tags", "keystone"),
        ("push", SRC, "keystone", "4.0.0"),
        ("inspect", "keystone", "4.0.0"),
        ("layer_sizes", "keystone", "4.0.0"),
    ]


def test_publish_static_tag_present_same_content_unchanged():
    registry = publisher({"4.0.0": image(sha("4"), LOCAL)})
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "4.0.0") == result(
        tag="4.0.0", action="unchanged", ref="reg.example/ns/keystone:4.0.0", digest=sha("4"))
    assert registry.calls == [("list_tags", "keystone"), ("inspect", "keystone", "4.0.0")]


def test_publish_static_tag_is_never_overwritten():
    registry = publisher({"4.0.0": image(sha("4"), OTHER)})
    with pytest.raises(PublishError) as info:
        _publish.publish_image(registry, "keystone", SRC, LOCAL, "4.0.0")
    assert str(info.value) == ("keystone: static tag 4.0.0 already exists in reg.example/ns/keystone with other "
                               "content; static tags are never overwritten (use a new release tag)")
    assert registry.calls == [("list_tags", "keystone"), ("inspect", "keystone", "4.0.0")]
    assert registry.digests("keystone") == {"4.0.0": sha("4")}


def test_publish_race_after_push_fails_and_floating_tag_stays():
    registry = publisher({"latest-1": image(sha("1")), "latest": image(sha("1"))})
    registry.race = (sha("r"), labels("fp-theirs", "md-theirs"))
    with pytest.raises(PublishError) as info:
        _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest")
    assert str(info.value) == ("keystone: reg.example/ns/keystone:latest-2 does not hold the pushed image after the "
                               "push: another publisher raced this one, or the registry lost it")
    assert registry.calls == [("list_tags", "keystone"), ("inspect", "keystone", "latest-1"),
                              ("push", SRC, "keystone", "latest-2"), ("inspect", "keystone", "latest-2")]
    assert registry.digests("keystone")["latest"] == sha("1")


def test_publish_pushed_tag_vanished_fails():
    registry = publisher()
    registry.push = lambda source, name, tag: registry.calls.append(("push", source, name, tag)) or []
    with pytest.raises(PublishError, match="does not hold the pushed image"):
        _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest")
    assert "retag" not in registry.kinds()


@pytest.mark.parametrize("images,revision", [(None, 1), ({"latest-3": image(sha("3")), "latest": image(sha("3"))}, 4)])
def test_publish_check_mode_pushes_nothing(images, revision):
    registry = publisher(images)
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest", check_mode=True) == result(
        action="pushed", revision=revision, ref="reg.example/ns/keystone:latest-%d" % revision)
    assert not {"push", "retag", "layer_sizes"} & set(registry.kinds())


def test_publish_check_mode_static_tag():
    registry = publisher()
    assert _publish.publish_image(registry, "keystone", SRC, LOCAL, "4.0.0", check_mode=True) == result(
        tag="4.0.0", action="pushed", ref="reg.example/ns/keystone:4.0.0")
    assert registry.calls == [("list_tags", "keystone")]


@pytest.mark.parametrize("local", [{FINGERPRINT_LABEL: "fp"}, labels("fp", ""), {}])
def test_publish_requires_manifest_digest_label(local):
    registry = publisher()
    with pytest.raises(PublishError) as info:
        _publish.publish_image(registry, "keystone", SRC, local, "latest")
    assert str(info.value) == ("keystone: local image %s has no %s label: was it built by containergen?"
                               % (SRC, MANIFEST_DIGEST_LABEL))
    assert registry.calls == []


def test_publish_bytes_sent_counts_sent_layers_short_and_long():
    layers = [(sha("a"), 1000), (sha("b"), 2000), (sha("c"), 4000), ("sha256:" + "a" * 11 + "f" * 53, 8000)]
    registry = publisher(sent=["a" * 12, HEX_C], layers=layers)
    got = _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest")
    assert (got["blobs_sent"], got["bytes_sent"]) == (2, 5000)


def test_publish_nothing_sent_is_zero_bytes():
    registry = publisher(sent=[], layers=[(sha("a"), 1000)])
    got = _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest")
    assert (got["blobs_sent"], got["bytes_sent"]) == (0, 0)


def test_lock_entries_keyed_by_repository_only_with_digest():
    results = [result(name="a", ref="r:5000/ns/a:latest-1", digest=sha("1")), result(name="b", ref="r/ns/b:latest-1"),
               result(name="a", ref="r:5000/other/a:latest-4", digest=sha("4"))]
    assert _publish.lock_entries(results) == {"r:5000/ns/a": "r:5000/ns/a:latest-1@" + sha("1"),
                                              "r:5000/other/a": "r:5000/other/a:latest-4@" + sha("4")}


# ---- floating tags of one run: all or nothing -------------------------------------------------------

def test_publish_without_moving_leaves_the_floating_tag_and_says_where_it_goes():
    registry = publisher({"latest-1": image(sha("1")), "latest": image(sha("1"))})
    got = _publish.publish_image(registry, "keystone", SRC, LOCAL, "latest", move_floating=False)
    assert got == result(action="pushed", revision=2, ref="reg.example/ns/keystone:latest-2", digest=sha("n"),
                         floating="latest-2")
    assert "retag" not in registry.kinds()
    assert registry.digests("keystone")["latest"] == sha("1")
    stale = publisher({"latest-2": image(sha("2"), LOCAL), "latest": image(sha("1"))})
    assert _publish.publish_image(stale, "keystone", SRC, LOCAL, "latest", move_floating=False)["floating"] == "latest-2"
    assert "retag" not in stale.kinds()
    same = publisher({"latest-2": image(sha("2"), LOCAL), "latest": image(sha("2"))})
    assert _publish.publish_image(same, "keystone", SRC, LOCAL, "latest", move_floating=False)["floating"] is None
    static = publisher()
    assert _publish.publish_image(static, "keystone", SRC, LOCAL, "4.0.0", move_floating=False)["floating"] is None
    check = publisher({"latest-2": image(sha("2"), LOCAL), "latest": image(sha("1"))})
    assert _publish.publish_image(check, "keystone", SRC, LOCAL, "latest", check_mode=True,
                                  move_floating=False)["floating"] is None


def test_move_floating_tags_in_order():
    registry = FakeRegistry({"a": {"latest-2": image(sha("2"))}, "b": {"latest-5": image(sha("5"))}})
    results = [{"name": "a", "tag": "latest", "floating": "latest-2", "action": "pushed"},
               {"name": "c", "tag": "latest", "floating": None, "action": "unchanged"},
               {"name": "b", "tag": "latest", "floating": "latest-5", "action": "retagged"}]
    assert _publish.move_floating_tags(registry, results) == ["a", "b"]
    assert registry.calls == [("retag", "a", "latest-2", "latest"), ("retag", "b", "latest-5", "latest")]


def test_move_floating_tags_failing_midway_names_what_moved():
    registry = FakeRegistry({"a": {"latest-2": image(sha("2"))}, "b": {"latest-5": image(sha("5"))},
                             "c": {"latest-1": image(sha("1"))}})
    real = registry.retag

    def retag(name, from_tag, to_tag):
        if name == "b":
            raise CommandError(["skopeo", "copy"], 1, "connection refused\nretrying")
        real(name, from_tag, to_tag)
    registry.retag = retag
    results = [{"name": n, "tag": "latest", "floating": f, "action": "pushed"}
               for n, f in (("a", "latest-2"), ("b", "latest-5"), ("c", "latest-1"))]
    with pytest.raises(PublishError) as info:
        _publish.move_floating_tags(registry, results)
    message = str(info.value)
    assert message.startswith("moving the floating tags failed at b (latest -> latest-5): ")
    assert "skopeo copy exited with 1: connection refused | retrying" in message and "\n" not in message
    assert "; moved: a (latest-2); not moved: b (latest-5), c (latest-1) (" in message
    assert registry.digests("a")["latest"] == sha("2")
    assert "latest" not in registry.digests("c")


def test_pushed_summary_names_only_new_revisions():
    results = [{"name": "a", "floating": "latest-2", "action": "pushed"},
               {"name": "b", "floating": "latest-5", "action": "retagged"},
               {"name": "c", "floating": None, "action": "unchanged"}]
    assert _publish.pushed_summary(results) == ("pushed and verified (now in the registry, harmless, reused by a "
                                                "rerun): a:latest-2")
    assert _publish.pushed_summary(results[1:]) == "no new revision was pushed"


# ---- lock files -----------------------------------------------------------------------------------

ENTRIES = {"reg.example:5000/containergen/nova-api": "reg.example:5000/containergen/nova-api:latest-10@" + sha("b"),
           "reg.example:5000/containergen/keystone": "reg.example:5000/containergen/keystone:latest-3@" + sha("a")}


def test_lock_files_round_trip(tmp_path):
    base = str(tmp_path / "sub" / "images.lock")
    assert _publish.write_lock_files(ENTRIES, base) == [base + ".yaml", base + ".json"]
    assert _publish.read_lock_file(base + ".yaml") == ENTRIES
    assert _publish.read_lock_file(base + ".json") == ENTRIES
    with open(base + ".yaml", encoding="utf-8") as handle:
        assert handle.read() == (
            "---\n# containergen.images lock file: repository -> registry/namespace/name:tag-revision@digest\n"
            "images:\n"
            '  "reg.example:5000/containergen/keystone": "reg.example:5000/containergen/keystone:latest-3@%s"\n'
            '  "reg.example:5000/containergen/nova-api": "reg.example:5000/containergen/nova-api:latest-10@%s"\n'
            % (sha("a"), sha("b")))
    with open(base + ".json", encoding="utf-8") as handle:
        assert json.load(handle) == {"images": ENTRIES}
    assert sorted(os.listdir(str(tmp_path / "sub"))) == ["images.lock.json", "images.lock.yaml"]


def test_lock_files_identical_content_not_rewritten(tmp_path):
    base = str(tmp_path / "images.lock")
    paths = _publish.write_lock_files(ENTRIES, base)
    old = 1_000_000_000 * 10 ** 9
    for path in paths:
        os.utime(path, ns=(old, old))
    _publish.write_lock_files(dict(ENTRIES), base)
    assert [os.stat(path).st_mtime_ns for path in paths] == [old, old]
    changed = dict(ENTRIES)
    changed["reg.example:5000/containergen/keystone"] = "reg.example:5000/containergen/keystone:latest-4@" + sha("c")
    _publish.write_lock_files(changed, base)
    assert [os.stat(path).st_mtime_ns != old for path in paths] == [True, True]
    assert _publish.read_lock_file(base + ".yaml") == changed
    assert _publish.read_lock_file(base + ".json") == changed


def test_lock_files_keyed_by_image_name_are_migrated(tmp_path):
    old = {"keystone": ENTRIES["reg.example:5000/containergen/keystone"],
           "nova-api": ENTRIES["reg.example:5000/containergen/nova-api"]}
    (tmp_path / "old.yaml").write_text(
        "---\n# containergen.images lock file: image -> registry/namespace/name:tag-revision@digest\nimages:\n"
        + "".join('  %s: "%s"\n' % item for item in sorted(old.items())))
    (tmp_path / "old.json").write_text(json.dumps({"images": old}))
    assert _publish.read_lock_file(str(tmp_path / "old.yaml")) == ENTRIES
    assert _publish.read_lock_file(str(tmp_path / "old.json")) == ENTRIES
    # merging into an old file rewrites it with repository keys and loses nothing
    other = {"reg.example:5000/x/keystone": "reg.example:5000/x/keystone:latest-1@" + sha("d")}
    assert _publish.merge_lock_files(other, str(tmp_path / "old")) == dict(ENTRIES, **other)
    assert _publish.read_lock_file(str(tmp_path / "old.yaml")) == dict(ENTRIES, **other)
    assert sorted(os.listdir(str(tmp_path))) == ["old.json", "old.yaml"]


def test_lock_file_merges_of_different_sets_lose_nothing(tmp_path):
    base = str(tmp_path / "images.lock")
    sets = [{"r:5000/ns%d/img%d" % (w, i): "r:5000/ns%d/img%d:latest-1@%s" % (w, i, sha(str(i))) for i in range(4)}
            for w in range(6)]
    barrier = threading.Barrier(len(sets))

    def write(entries):
        barrier.wait()
        for key, ref in entries.items():
            _publish.merge_lock_files({key: ref}, base)

    threads = [threading.Thread(target=write, args=(entries,)) for entries in sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {k: v for entries in sets for k, v in entries.items()}
    assert _publish.read_lock_file(base + ".json") == expected
    assert _publish.read_lock_file(base + ".yaml") == expected
    assert sorted(os.listdir(str(tmp_path))) == ["images.lock.json", "images.lock.yaml"]
    assert oct(os.stat(base + ".yaml").st_mode & 0o777) == "0o644"


def test_lock_file_empty(tmp_path):
    base = str(tmp_path / "empty")
    _publish.write_lock_files({}, base)
    assert _publish.read_lock_file(base + ".yaml") == {}
    assert _publish.read_lock_file(base + ".json") == {}


@pytest.mark.parametrize("ref,expected", [
    ("reg.example:5000/containergen/keystone:latest-3@" + sha("a"),
     ("reg.example:5000/containergen/keystone", "latest-3", sha("a"))),
    ("reg.example/keystone:4.0.0@" + sha("0"), ("reg.example/keystone", "4.0.0", sha("0"))),
])
def test_parse_lock_ref(ref, expected):
    assert _publish.parse_lock_ref(ref) == expected


@pytest.mark.parametrize("ref", [
    "",
    "reg.example/ns/keystone:latest-3",                              # no digest
    "reg.example:5000/ns/keystone@" + sha("a"),                      # no tag (the port is not one)
    "reg.example/ns/keystone:latest-3@sha256:" + "a" * 63,           # short digest
    "reg.example/ns/keystone:latest-3@sha256:" + "A" * 64,           # upper case
    "reg.example/ns/keystone:latest-3@sha512:" + "a" * 64,
    "reg.example/ns/keystone:latest-3@" + sha("a") + "x",
    "reg.example/ns/keystone:latest-3@" + sha("a") + "@" + sha("b"),
])
def test_parse_lock_ref_bad(ref):
    with pytest.raises(PublishError) as info:
        _publish.parse_lock_ref(ref)
    assert str(info.value) == "lock file entry %r is not REGISTRY/NAMESPACE/NAME:TAG@sha256:DIGEST" % ref


# ---- manifest_diff / report -----------------------------------------------------------------------

OLD_MANIFEST = {MANIFEST_LABEL: json.dumps({"libc6": "2.36-9", "openssl": "3.0.11-1", "curl": "7.88.1-10"})}
NEW_MANIFEST = {MANIFEST_LABEL: json.dumps({"libc6": "2.36-9", "openssl": "3.0.13-1", "zlib1g": "1:1.2.13",
                                            "bash": "5.2.15"})}


def test_manifest_diff_exact():
    assert _publish.manifest_diff(OLD_MANIFEST, NEW_MANIFEST) == {
        "added": {"bash": "5.2.15", "zlib1g": "1:1.2.13"},
        "removed": {"curl": "7.88.1-10"},
        "updated": {"openssl": ["3.0.11-1", "3.0.13-1"]},
    }
    assert list(_publish.manifest_diff(OLD_MANIFEST, NEW_MANIFEST)["added"]) == ["bash", "zlib1g"]
    assert _publish.manifest_diff({}, {}) == {"added": {}, "removed": {}, "updated": {}}
    assert _publish.manifest_diff({}, OLD_MANIFEST)["added"] == json.loads(OLD_MANIFEST[MANIFEST_LABEL])


def test_report_summary():
    registry = FakeRegistry({"keystone": {"latest-1": image(sha("1"), OLD_MANIFEST),
                                          "latest-2": image(sha("2"), NEW_MANIFEST)}})
    assert _publish.report(registry, "keystone", "latest-1", "latest-2") == {
        "added": {"bash": "5.2.15", "zlib1g": "1:1.2.13"},
        "removed": {"curl": "7.88.1-10"},
        "updated": {"openssl": ["3.0.11-1", "3.0.13-1"]},
        "summary": "keystone: +2 -1 ~1 packages (latest-1 -> latest-2)",
        "refresh": [],
    }


@pytest.mark.parametrize("old,new,missing", [("latest-9", "latest-1", "latest-9"), ("latest-1", "latest-9", "latest-9")])
def test_report_missing_tag(old, new, missing):
    registry = FakeRegistry({"keystone": {"latest-1": image(sha("1"), OLD_MANIFEST)}})
    with pytest.raises(PublishError) as info:
        _publish.report(registry, "keystone", old, new)
    assert str(info.value) == "keystone: reg.example/ns/keystone:%s does not exist" % missing


# ---- cull -----------------------------------------------------------------------------------------

def test_parse_created():
    assert _publish.parse_created("2024-03-01T12:00:00.123456789Z") == datetime.datetime(
        2024, 3, 1, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    assert _publish.parse_created("2024-05-30T12:00:00Z") == datetime.datetime(
        2024, 5, 30, 12, tzinfo=datetime.timezone.utc)


def test_cull_old_revisions_newest_always_kept():
    registry = FakeRegistry({"keystone": {
        "latest-1": image(sha("1")), "latest-2": image(sha("2")), "latest-10": image(sha("a")),
        "latest-3": image(sha("3")), "latest": image(sha("a")), "nightly-1": image(sha("9"))}})
    assert _publish.cull_candidates(registry, "keystone", "latest", 30, set(), now=NOW) == (
        ["latest-1", "latest-2", "latest-3"], ["latest-10"])


def test_cull_newest_kept_even_without_floating_tag():
    registry = FakeRegistry({"keystone": {"latest-1": image(sha("1")), "latest-2": image(sha("2"))}})
    assert _publish.cull_candidates(registry, "keystone", "latest", 30, set(), now=NOW) == (["latest-1"], ["latest-2"])


def test_cull_no_revisions():
    registry = FakeRegistry({})
    assert _publish.cull_candidates(registry, "keystone", "latest", 30, set(), now=NOW) == ([], [])


@pytest.mark.parametrize("protector,keep", [
    ("latest", set()), ("deployed", set()), ("previous", set()), ("4.0.0", set()), ("v2.1", set()),
    (None, {sha("1")}),
])
def test_cull_keeps_revisions_sharing_a_protected_digest(protector, keep):
    tags = {"latest-1": image(sha("1")), "latest-2": image(sha("2")), "latest-3": image(sha("3"))}
    if protector:
        tags[protector] = image(sha("1"))
    registry = FakeRegistry({"keystone": tags})
    assert _publish.cull_candidates(registry, "keystone", "latest", 30, keep, now=NOW) == (
        ["latest-2"], ["latest-1", "latest-3"])


def test_cull_keeps_revision_sharing_digest_with_another_floating_tag():
    registry = FakeRegistry({"keystone": {
        "nightly-1": image(sha("1")), "nightly-2": image(sha("2")), "nightly": image(sha("2")),
        "latest-1": image(sha("1")), "latest": image(sha("1"))}})
    assert _publish.cull_candidates(registry, "keystone", "nightly", 30, set(), now=NOW) == (
        [], ["nightly-1", "nightly-2"])


def test_cull_age_boundary_and_young():
    at_limit = (NOW - datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    just_over = (NOW - datetime.timedelta(days=30, seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    registry = FakeRegistry({"keystone": {
        "latest-1": image(sha("1"), created=just_over), "latest-2": image(sha("2"), created=at_limit),
        "latest-3": image(sha("3"), created=YOUNG), "latest-4": image(sha("4"), created=OLD)}})
    assert _publish.cull_candidates(registry, "keystone", "latest", 30, set(), now=NOW) == (
        ["latest-1"], ["latest-2", "latest-3", "latest-4"])


def cull_registry():
    return FakeRegistry({
        "keystone": {"latest-1": image(sha("1")), "latest-2": image(sha("2")), "latest-3": image(sha("3")),
                     "latest": image(sha("3"))},
        "glance": {"latest-1": image(sha("4"), created=YOUNG), "latest-2": image(sha("5"))},
    })


def test_cull_check_mode_deletes_nothing():
    registry = cull_registry()
    assert _publish.cull(registry, ["keystone", "glance"], "latest", 30, set(), check_mode=True, now=NOW) == [
        {"name": "keystone", "deleted": ["latest-1", "latest-2"], "kept": ["latest-3"], "signatures_deleted": [],
         "artifacts_deleted": []},
        {"name": "glance", "deleted": [], "kept": ["latest-1", "latest-2"], "signatures_deleted": [],
         "artifacts_deleted": []},
    ]
    assert "delete" not in registry.kinds()


def test_cull_deletes_each_doomed_revision():
    registry = cull_registry()
    assert _publish.cull(registry, ["keystone", "glance"], "latest", 30, set(), now=NOW) == [
        {"name": "keystone", "deleted": ["latest-1", "latest-2"], "kept": ["latest-3"], "signatures_deleted": [],
         "artifacts_deleted": []},
        {"name": "glance", "deleted": [], "kept": ["latest-1", "latest-2"], "signatures_deleted": [],
         "artifacts_deleted": []},
    ]
    deletes = [c for c in registry.calls if c[0] == "delete"]
    assert deletes == [("delete", "keystone", "latest-1"), ("delete", "keystone", "latest-2")]
    assert registry.digests("keystone") == {"latest-3": sha("3"), "latest": sha("3")}


# ---- promote / rollback ---------------------------------------------------------------------------

def lock_ref(tag, digest, name="keystone"):
    return "reg.example/ns/%s:%s@%s" % (name, tag, digest)


def test_promote_moves_deployed_and_keeps_previous():
    registry = FakeRegistry({"keystone": {"latest-3": image(sha("3")), "deployed": image(sha("1"))}})
    ref = lock_ref("latest-3", sha("3"))
    assert _publish.promote(registry, {"keystone": ref}) == [
        {"name": "keystone", "action": "promoted", "deployed": ref, "previous": sha("1")}]
    assert registry.calls == [("inspect", "keystone", "latest-3"), ("inspect", "keystone", "deployed"),
                              ("retag", "keystone", "deployed", "previous"),
                              ("retag", "keystone", "latest-3", "deployed")]
    assert registry.digests("keystone") == {"latest-3": sha("3"), "deployed": sha("3"), "previous": sha("1")}
    registry.calls = []
    assert _publish.promote(registry, {"keystone": ref}) == [{"name": "keystone", "action": "unchanged", "deployed": ref}]
    assert registry.calls == [("inspect", "keystone", "latest-3"), ("inspect", "keystone", "deployed")]


def test_promote_first_time_and_check_mode():
    registry = FakeRegistry({"keystone": {"latest-1": image(sha("1"))}, "glance": {"4.0.0": image(sha("4"))}})
    entries = {"keystone": lock_ref("latest-1", sha("1")), "glance": lock_ref("4.0.0", sha("4"), "glance")}
    expected = [{"name": "glance", "action": "promoted", "deployed": entries["glance"], "previous": None},
                {"name": "keystone", "action": "promoted", "deployed": entries["keystone"], "previous": None}]
    assert _publish.promote(registry, entries, check_mode=True) == expected
    assert "retag" not in registry.kinds()
    assert _publish.promote(registry, entries) == expected
    retags = [c for c in registry.calls if c[0] == "retag"]
    assert retags == [("retag", "glance", "4.0.0", "deployed"), ("retag", "keystone", "latest-1", "deployed")]


@pytest.mark.parametrize("tags", [{"latest-3": image(sha("9"))}, {}])
def test_promote_stale_lock_entry(tags):
    tags = dict(tags, deployed=image(sha("1")))
    registry = FakeRegistry({"keystone": tags})
    with pytest.raises(PublishError) as info:
        _publish.promote(registry, {"keystone": lock_ref("latest-3", sha("3"))})
    assert str(info.value) == ("keystone: reg.example/ns/keystone:latest-3 is no longer %s in the registry "
                               "(stale lock file?)" % sha("3"))
    assert "retag" not in registry.kinds()


def test_promote_entry_of_another_registry():
    registry = FakeRegistry({"keystone": {"latest-3": image(sha("3"))}})
    with pytest.raises(PublishError) as info:
        _publish.promote(registry, {"other.example/ns/keystone": "other.example/ns/keystone:latest-3@" + sha("3")})
    assert str(info.value) == "lock file has no entry in reg.example/ns (its entries are in other.example/ns)"
    assert registry.calls == []


def test_promote_shared_lock_file_promotes_only_its_namespace():
    registry = FakeRegistry({"keystone": {"latest-3": image(sha("3"))}})
    ours = lock_ref("latest-3", sha("3"))
    entries = {"reg.example/ns/keystone": ours,
               "reg.example/ns2/keystone": "reg.example/ns2/keystone:latest-9@" + sha("9"),
               "reg.example/ns/sub/keystone": "reg.example/ns/sub/keystone:latest-1@" + sha("1")}
    assert _publish.entries_of(registry, entries) == {"keystone": ours}
    assert _publish.promote(registry, entries) == [
        {"name": "keystone", "action": "promoted", "deployed": ours, "previous": None}]
    assert [c for c in registry.calls if c[1] != "keystone"] == []


def test_rollback_swaps_deployed_and_previous():
    registry = FakeRegistry({"keystone": {"deployed": image(sha("3")), "previous": image(sha("1"))}})
    assert _publish.rollback(registry, ["keystone"]) == [
        {"name": "keystone", "action": "rolled back", "deployed": sha("1"), "previous": sha("3")}]
    assert registry.calls == [("inspect", "keystone", "previous"), ("inspect", "keystone", "deployed"),
                              ("retag", "keystone", "previous", "deployed"),
                              ("retag", "keystone", "@" + sha("3"), "previous")]
    assert registry.digests("keystone") == {"deployed": sha("1"), "previous": sha("3")}
    _publish.rollback(registry, ["keystone"])  # rolls forward again
    assert registry.digests("keystone") == {"deployed": sha("3"), "previous": sha("1")}


def test_rollback_check_mode_and_unchanged():
    registry = FakeRegistry({"keystone": {"deployed": image(sha("3")), "previous": image(sha("1"))},
                             "glance": {"deployed": image(sha("4")), "previous": image(sha("4"))}})
    assert _publish.rollback(registry, ["keystone", "glance"], check_mode=True) == [
        {"name": "keystone", "action": "rolled back", "deployed": sha("1"), "previous": sha("3")},
        {"name": "glance", "action": "unchanged", "deployed": sha("4")}]
    assert "retag" not in registry.kinds()


def test_rollback_without_previous():
    registry = FakeRegistry({"keystone": {"deployed": image(sha("3"))}})
    with pytest.raises(PublishError) as info:
        _publish.rollback(registry, ["keystone"])
    assert str(info.value) == "keystone: no 'previous' tag in reg.example/ns/keystone: nothing to roll back to"
    assert "retag" not in registry.kinds()


# ---- PublishLock ----------------------------------------------------------------------------------

def test_publish_lock_file_name_sanitized(tmp_path):
    lock_dir = str(tmp_path / "locks")
    lock = PublishLock(lock_dir, "registry.example:5000/team")
    assert lock.path == os.path.join(lock_dir, "containergen-publish-registry.example_5000_team.lock")
    assert os.path.isdir(lock_dir)
    with lock:
        assert os.path.exists(lock.path)


def test_publish_lock_serializes_threads(tmp_path):
    events = []
    first_in, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def first():
        with PublishLock(str(tmp_path), "registry.example:5000"):
            events.append(("first in", time.monotonic()))
            first_in.set()
            release.wait(5)
            events.append(("first out", time.monotonic()))

    def second():
        first_in.wait(5)
        with PublishLock(str(tmp_path), "registry.example:5000"):
            events.append(("second in", time.monotonic()))
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    try:
        assert first_in.wait(5)
        assert not second_in.wait(0.2)  # blocked while the first holds the lock
    finally:
        release.set()
        for thread in threads:
            thread.join(5)
    assert second_in.is_set()
    assert [name for name, stamp in events] == ["first in", "first out", "second in"]
    assert events[1][1] <= events[2][1]


def test_publish_lock_other_registry_does_not_block(tmp_path):
    entered = threading.Event()

    def other():
        with PublishLock(str(tmp_path), "other.example"):
            entered.set()

    with PublishLock(str(tmp_path), "registry.example"):
        thread = threading.Thread(target=other)
        thread.start()
        assert entered.wait(2)
        thread.join(2)


def test_list_tags_of_a_repository_distribution_does_not_have_is_empty():
    """What distribution 2.8 really answers on /v2/NAME/tags/list of an unknown repository."""
    err = ('time="2026-11-22T00:19:54Z" level=fatal msg="Error listing repository tags: fetching tags list: '
           'invalid status code from registry 404 (Not Found)"')
    registry = Registry(Runner(run=FakeRun((1, "", err))), "localhost:5000", "ns")
    assert registry.list_tags("nothing") == []


# ---- signing ------------------------------------------------------------------------------------

KEY, PASSFILE, REGD = "/etc/containergen/signing/cosign.key", "/etc/containergen/signing/cosign.password", "/tmp/rd"
SIGN = ["--sign-by-sigstore-private-key", KEY, "--sign-passphrase-file", PASSFILE]


def test_signing_push_and_retag_exact_argv(tmp_path, monkeypatch):
    from ansible_collections.containergen.images.plugins.module_utils import _signing
    keys = _signing.ensure_key_pair(str(tmp_path / "keys"))
    work = tmp_path / "sig"
    monkeypatch.setattr(_publish.tempfile, "mkdtemp", lambda **kwargs: str(work))
    attachment = "docker://%s:sha256-%s.sig" % (REPO, "d" * 64)  # INSPECT_OUT's digest
    written = {}

    def keep(argv):  # what skopeo is handed, read before the work dir goes
        if argv[-2].startswith("dir:"):
            written.update(signatures=_signing.read_attachment(argv[-2][4:]))

    fake = FakeRun((0, "", ""), (0, "", ""), (0, INSPECT_OUT, ""), (1, "", "manifest unknown"), (0, "", ""))
    original = fake.__call__
    registry = client(lambda argv, **kw: (keep(argv), original(argv, **kw))[1], sign_key=keys["private_key"],
                      sign_passphrase_file=keys["passphrase_file"], registries_d=REGD)
    registry.push("localhost/containergen/keystone:latest", "keystone", "latest-2")
    registry.retag("keystone", "latest-2", "latest")
    insecure = ["skopeo", "--insecure-policy", "--registries.d", REGD, "copy", "--retry-times", "2"]
    assert fake.argvs == [
        ["skopeo", "--debug", "--registries.d", REGD, "copy", "--retry-times", "2", "--remove-signatures", "--authfile", AUTH]
        + ["containers-storage:localhost/containergen/keystone:latest", "docker://%s:latest-2" % REPO],
        ["skopeo", "--registries.d", REGD, "copy", "--retry-times", "2", "--remove-signatures", "--authfile", AUTH]
        + ["docker://%s:latest-2" % REPO, "docker://%s:latest" % REPO],
        ["skopeo", "inspect", "--authfile", AUTH, "docker://%s:latest" % REPO],
        insecure + ["--authfile", AUTH, attachment, "dir:%s/old" % work],
        ["skopeo", "--registries.d", REGD, "copy", "--retry-times", "2", "--authfile", AUTH,
         "dir:%s/new" % work, attachment],
    ]
    # no secret on any command line; the key opened once; the work dir removed
    for argv in fake.argvs:
        assert not [a for a in argv if "pass" in a.lower() or "cosign" in a], argv
    assert not work.exists()
    [(payload, layer)] = written["signatures"]
    assert _signing.payload_identity(payload) == ("%s:latest" % REPO, sha("d"))
    assert registry.signer().verifies(payload, layer["annotations"][_signing.SIGNATURE_ANNOTATION])


def test_signing_needs_key_and_passphrase_file_together():
    with pytest.raises(PublishError, match="sign_key and sign_passphrase_file go together"):
        client(FakeRun(), sign_key=KEY)


def test_signature_tag_is_cosigns():
    assert Registry.signature_tag(sha("a")) == "sha256-%s.sig" % HEX_A


def test_signed_publish_records_signature_and_unchanged_republish_signs_nothing():
    local = {"src": (sha("a"), labels("f1", "m1"))}
    fake = FakeRegistry(local=local, sign_key=KEY)
    first = _publish.publish_image(fake, "keystone", "src", labels("f1", "m1"), "latest")
    assert (first["action"], first["signed"]) == ("pushed", True)
    # the verified digest is signed before the floating tag moves
    assert [c for c in fake.calls if c[0] in ("push", "sign", "retag")] == [
        ("push", "src", "keystone", "latest-1"), ("sign", "keystone", sha("a"), "latest-1"),
        ("retag", "keystone", "latest-1", "latest")]
    assert _publish.provenance_entries([first]) == {
        "reg.example/ns/keystone": {"digest": sha("a"), "signed": True}}
    fake.calls.clear()
    again = _publish.publish_image(fake, "keystone", "src", labels("f1", "m1"), "latest")
    assert (again["action"], again["signed"]) == ("unchanged", True)
    assert not [c for c in fake.calls if c[0] in ("push", "retag", "sign")]


def test_unchanged_unsigned_revision_is_signed_in_place_and_floating_tag_too():
    entry = {"digest": sha("a"), "labels": labels("f1", "m1")}
    fake = FakeRegistry(images={"keystone": {"latest-1": dict(entry), "latest": dict(entry)}},
                        local={"src": (sha("a"), labels("f1", "m1"))}, sign_key=KEY)
    result = _publish.publish_image(fake, "keystone", "src", labels("f1", "m1"), "latest")
    assert (result["action"], result["signed"]) == ("signed", True)
    # nothing pushed; the floating tag is moved again so that it gets its own signature (Registry.retag signs)
    assert [c for c in fake.calls if c[0] in ("push", "sign", "retag")] == [
        ("sign", "keystone", sha("a"), "latest-1"), ("retag", "keystone", "latest-1", "latest")]


def test_without_a_key_nothing_is_signed():
    fake = FakeRegistry(local={"src": (sha("a"), labels("f1", "m1"))})
    result = _publish.publish_image(fake, "keystone", "src", labels("f1", "m1"), "latest")
    assert (result["action"], result["signed"]) == ("pushed", False)


def test_lock_file_provenance_section_is_kept_out_of_images(tmp_path):
    base = str(tmp_path / "images.lock")
    entries = {"reg/ns/a": "reg/ns/a:latest-1@" + sha("a")}
    _publish.merge_lock_files(entries, base, {"reg/ns/a": {"digest": sha("a"), "signed": True}})
    assert _publish.read_lock_file(base + ".yaml") == entries
    assert _publish.read_lock_file(base + ".json") == entries
    assert _publish.read_provenance(base + ".json") == {"reg/ns/a": {"digest": sha("a"), "signed": True}}
    with open(base + ".yaml", encoding="utf-8") as handle:
        assert 'provenance:\n  "reg/ns/a": {"digest": "%s", "signed": true}\n' % sha("a") in handle.read()
    # a later partial publish keeps the other repositories' provenance
    _publish.merge_lock_files({"reg/ns/b": "reg/ns/b:latest-1@" + sha("b")}, base,
                              {"reg/ns/b": {"digest": sha("b"), "signed": False}})
    assert sorted(_publish.read_provenance(base + ".json")) == ["reg/ns/a", "reg/ns/b"]


def test_cull_deletes_the_signatures_of_deleted_digests_only():
    registry = cull_registry()
    # latest-1 goes, latest-3 (and latest) stay; each attachment is an image of its own digest
    for digest, attachment in ((sha("1"), sha("8")), (sha("3"), sha("9"))):
        registry.tags("keystone")[Registry.signature_tag(digest)] = {"digest": attachment, "labels": {},
                                                                     "created": NOW.isoformat()}
    [keystone, _glance] = _publish.cull(registry, ["keystone", "glance"], "latest", 30, set(), now=NOW)
    assert keystone["signatures_deleted"] == [Registry.signature_tag(sha("1"))]
    assert Registry.signature_tag(sha("3")) in registry.tags("keystone")
    assert Registry.signature_tag(sha("1")) not in registry.tags("keystone")


def test_cull_deletes_the_sbom_artifacts_of_deleted_digests_only_before_the_image():
    registry = cull_registry()
    registry.artifacts = {("keystone", sha("1")): [sha("6"), sha("7")], ("keystone", sha("3")): [sha("8")]}
    [keystone, glance] = _publish.cull(registry, ["keystone", "glance"], "latest", 30, set(), now=NOW)
    assert keystone["artifacts_deleted"] == [sha("6"), sha("7")] and glance["artifacts_deleted"] == []
    assert registry.artifacts == {("keystone", sha("3")): [sha("8")]}  # a kept digest keeps its SBOMs
    # each doomed digest's artifacts go before its manifest
    assert [c for c in registry.calls if c[0] in ("detach", "delete")] == [
        ("detach", "keystone", sha("1")), ("delete", "keystone", "latest-1"),
        ("detach", "keystone", sha("2")), ("delete", "keystone", "latest-2")]


def test_cull_in_check_mode_detaches_nothing():
    registry = cull_registry()
    registry.artifacts = {("keystone", sha("1")): [sha("6")]}
    _publish.cull(registry, ["keystone"], "latest", 30, set(), check_mode=True, now=NOW)
    assert "detach" not in registry.kinds()


@pytest.mark.parametrize("reference,expected", [
    ("localhost:5471/ns/keystone:latest", ("localhost:5471", "ns", "keystone", ":latest")),
    ("reg.example/a/b/nova-api@" + sha("a"), ("reg.example", "a/b", "nova-api", "@" + sha("a"))),
    # a lock file entry: checked (and pulled) by its digest
    ("reg.example:5000/ns/keystone:latest-3@" + sha("b"), ("reg.example:5000", "ns", "keystone", "@" + sha("b"))),
])
def test_split_reference(reference, expected):
    assert _publish.split_reference(reference) == expected


@pytest.mark.parametrize("reference", ["", "keystone", "reg.example/ns/keystone", "reg/ns/k@sha256:12",
                                       "reg/ns/k:bad tag"])
def test_split_reference_refuses(reference):
    with pytest.raises(PublishError) as info:
        _publish.split_reference(reference)
    assert str(info.value) == ("%r is not HOST[:PORT]/NAMESPACE/NAME:TAG or HOST[:PORT]/NAMESPACE/NAME@sha256:DIGEST"
                               % reference)


def test_cull_never_inspects_attachment_tags_as_images():
    """An index of artifacts (the referrers fallback tag) cannot be inspected as an image; a .sig is no revision."""
    registry = cull_registry()
    for tag in ("sha256-" + HEX_A, "sha256-%s.sig" % HEX_A):
        registry.tags("keystone")[tag] = {"digest": sha("e"), "labels": {}, "created": OLD}
    [keystone] = _publish.cull(registry, ["keystone"], "latest", 30, set(), now=NOW)
    assert keystone["deleted"] == ["latest-1", "latest-2"]
    assert not [c for c in registry.calls if c[0] == "inspect" and c[2].startswith("sha256-")]


def test_a_replaced_signature_attachment_is_deleted_by_its_digest(tmp_path, monkeypatch):
    """Adding a signature replaces the sha256-<hex>.sig manifest: the old one (untagged now) is deleted, or garbage
    collection would keep its blobs."""
    from ansible_collections.containergen.images.plugins.module_utils import _signing
    keys = _signing.ensure_key_pair(str(tmp_path / "keys"))
    work = tmp_path / "sig"
    monkeypatch.setattr(_publish.tempfile, "mkdtemp", lambda **kwargs: str(work))
    attachment = "docker://%s:sha256-%s.sig" % (REPO, "d" * 64)
    signer = _signing.Signer(keys["private_key"], keys["passphrase_file"])
    old = _signing.add_signature([], signer, "%s:latest-1" % REPO, sha("d"))
    manifests = {}

    def skopeo(argv, **kwargs):
        if argv[-1].startswith("dir:") and argv[-1].endswith("/old"):  # the registry serves the attachment
            _signing.write_attachment(argv[-1][4:], old)
            with open(argv[-1][4:] + "/manifest.json", "rb") as handle:
                manifests["old"] = "sha256:" + hashlib.sha256(handle.read()).hexdigest()
        return fake(argv, **kwargs)

    fake = FakeRun()
    registry = client(skopeo, sign_key=keys["private_key"], sign_passphrase_file=keys["passphrase_file"])
    assert registry.sign("keystone", sha("d"), "latest") is True
    assert fake.argvs == [
        ["skopeo", "--insecure-policy", "copy", "--retry-times", "2", "--authfile", AUTH, attachment,
         "dir:%s/old" % work],
        ["skopeo", "copy", "--retry-times", "2", "--authfile", AUTH, "dir:%s/new" % work, attachment],
        ["skopeo", "delete", "--authfile", AUTH, "docker://%s@%s" % (REPO, manifests["old"])],
    ]


class AttachRecorder(object):
    """Registry.attach's seam: which artifacts would be pushed (the HTTP side is tested in test_referrers)."""

    def __init__(self, existing=()):
        self.calls, self.existing = [], set(existing)

    def attach(self, name, digest, media_type, document, annotations, check_mode=False):
        self.calls.append((name, digest, media_type, document, annotations, check_mode))
        if media_type in self.existing:
            return {"digest": "sha256:" + media_type[-4:] * 16, "bytes_sent": 0, "attached": False}
        if check_mode:
            return {"digest": None, "bytes_sent": 0, "attached": True}
        return {"digest": "sha256:" + media_type[-4:] * 16, "bytes_sent": len(document) + 300, "attached": True}


def test_attach_sboms_pushes_both_documents_with_the_image_id_and_counts_their_bytes():
    documents = {"spdx": (b"S" * 10, "2026-12-02T08:00:00Z"), "cyclonedx": (b"C" * 20, "")}
    registry = AttachRecorder()
    result = _publish.attach_sboms(registry, {"name": "keystone", "digest": sha("a"), "bytes_sent": 5}, documents,
                                   HEX_B)
    assert registry.calls == [
        ("keystone", sha("a"), "application/spdx+json", b"S" * 10,
         {"dev.containergen.sbom.image-id": sha("b"), "org.opencontainers.image.created": "2026-12-02T08:00:00Z"},
         False),
        ("keystone", sha("a"), "application/vnd.cyclonedx+json", b"C" * 20,
         {"dev.containergen.sbom.image-id": sha("b")}, False)]
    assert (result["sbom_bytes_sent"], result["bytes_sent"], result["sbom_attached"]) == (630, 635, True)
    assert result["sbom"] == {"spdx": "sha256:" + "json" * 16, "cyclonedx": "sha256:" + "json" * 16}


def test_attach_sboms_sends_nothing_for_a_digest_that_has_them():
    registry = AttachRecorder(existing=("application/spdx+json", "application/vnd.cyclonedx+json"))
    documents = {"spdx": (b"S", ""), "cyclonedx": (b"C", "")}
    result = _publish.attach_sboms(registry, {"name": "k", "digest": sha("a"), "bytes_sent": 0}, documents, HEX_B)
    assert (result["sbom_bytes_sent"], result["bytes_sent"], result["sbom_attached"]) == (0, 0, False)


def test_attach_sboms_in_check_mode_reads_only_and_needs_no_document():
    registry = AttachRecorder()
    result = _publish.attach_sboms(registry, {"name": "k", "digest": sha("a"), "bytes_sent": 0}, None, HEX_B,
                                   check_mode=True)
    assert [call[-1] for call in registry.calls] == [True, True] and [call[3] for call in registry.calls] == [b"", b""]
    assert result["sbom_attached"] is True and result["sbom"] == {"spdx": None, "cyclonedx": None}
    # a revision still to be pushed (check mode): no digest yet, its SBOMs would go with it
    pending = _publish.attach_sboms(AttachRecorder(), {"name": "k", "digest": "", "bytes_sent": 0}, None, HEX_B,
                                    check_mode=True)
    assert pending["sbom_attached"] is True


def test_sbom_documents_only_of_the_image_they_describe(tmp_path):
    spdx = {"creationInfo": {"created": "T"}, "annotations": [{"comment": "containergen:image-id=" + sha("b")}]}
    cdx = {"metadata": {"properties": [{"name": "containergen:image-id", "value": sha("b")}]}}
    (tmp_path / "k.spdx.json").write_text(json.dumps(spdx))
    assert _publish.sbom_documents(str(tmp_path), "k", HEX_B) is None  # one missing
    (tmp_path / "k.cdx.json").write_text(json.dumps(cdx))
    found = _publish.sbom_documents(str(tmp_path), "k", HEX_B)
    assert {kind: created for kind, (_data, created) in found.items()} == {"spdx": "T", "cyclonedx": ""}
    assert _publish.sbom_documents(str(tmp_path), "k", "sha256:" + HEX_C) is None  # made from another image
