# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""OCI 1.1 artifacts that refer to an image (SBOMs), over the registry's HTTP API.

An artifact is a manifest with ``artifactType``, the empty config and one layer (the document),
whose ``subject`` is the image manifest. Registries with the referrers API list it under
``/v2/NAME/referrers/DIGEST`` (they answer the push with an ``OCI-Subject`` header); on the others
(CNCF distribution 2.8 has no such API) the spec's tag-schema fallback applies: an image index
tagged ``sha256-<hex>`` lists the referrers of that digest. Both are read and written here.

skopeo 1.9 cannot push an artifact with a subject nor an index of artifacts, so this talks HTTPS
itself: TLS verified with the registry's CA, credentials read from the containers-auth.json file
(sent as an Authorization header, never on a command line, never logged).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import ssl
import typing as t
import urllib.parse

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
ACCEPT = ", ".join([MANIFEST, INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])
SPDX = "application/spdx+json"
CYCLONEDX = "application/vnd.cyclonedx+json"
CREATOR_ANNOTATION = "dev.containergen.sbom.image-id"

# (method, url, headers, body) -> (status, headers with lower-case names, body)
Response = t.Tuple[int, t.Dict[str, str], bytes]
Transport = t.Callable[[str, str, t.Dict[str, str], t.Optional[bytes]], Response]


class OciError(Exception):
    pass


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fallback_tag(digest: str) -> str:
    """The referrers tag of the OCI 1.1 tag schema: sha256:<hex> -> sha256-<hex>."""
    return digest.replace(":", "-")


def ssl_context(registry: str, cert_dir: t.Optional[str] = None, tls_verify: bool = True) -> ssl.SSLContext:
    """Verified TLS: the CA in cert_dir, else /etc/containers/certs.d/REGISTRY/ca.crt, else the system's."""
    if not tls_verify:  # the documented, warned-about opt-out of the publishing modules
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    for directory in (cert_dir, os.path.join("/etc/containers/certs.d", registry)):
        if directory and os.path.exists(os.path.join(directory, "ca.crt")):
            return ssl.create_default_context(cafile=os.path.join(directory, "ca.crt"))
    return ssl.create_default_context()


def https_transport(context: ssl.SSLContext, timeout: float = 120.0) -> Transport:
    """A Transport over http.client; one connection per request (the calls are few)."""

    def send(method: str, url: str, headers: t.Dict[str, str], body: t.Optional[bytes]) -> Response:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context)
        try:
            path = parts.path + ("?" + parts.query if parts.query else "")
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise OciError("%s %s: %s" % (method, url, exc)) from exc
        finally:
            connection.close()

    return send


def credentials(authfile: t.Optional[str], registry: str) -> t.Optional[t.Tuple[str, str]]:
    """(user, password) for registry from a containers-auth.json file, or None."""
    if not authfile or not os.path.exists(authfile):
        return None
    try:
        with open(authfile, encoding="utf-8") as handle:
            auths = json.load(handle).get("auths") or {}
    except ValueError as exc:
        raise OciError("%s: not JSON (%s)" % (authfile, exc.__class__.__name__)) from exc
    entry = auths.get(registry) or auths.get("https://" + registry) or {}
    if entry.get("auth"):
        user, _sep, password = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
        return user, password
    return None


class Client(object):
    """The distribution API of one registry: manifests, blobs, referrers (API or tag-schema fallback)."""

    def __init__(self, registry: str, send: Transport, creds: t.Optional[t.Tuple[str, str]] = None) -> None:
        self.registry = registry
        self.send = send
        self._basic = ("Basic " + base64.b64encode(("%s:%s" % creds).encode()).decode()) if creds else None
        self._creds = creds
        self._tokens: t.Dict[str, str] = {}

    # ---- requests ----

    def _auth(self, repository: str) -> t.Dict[str, str]:
        if repository in self._tokens:
            return {"Authorization": "Bearer " + self._tokens[repository]}
        return {"Authorization": self._basic} if self._basic else {}

    def request(self, method: str, repository: str, path: str, headers: t.Optional[t.Dict[str, str]] = None,
                body: t.Optional[bytes] = None, ok: t.Sequence[int] = (200,), url: t.Optional[str] = None) -> Response:
        """One API call; a Bearer challenge is answered once. Raises OciError unless the status is in ok."""
        url = url or "https://%s/v2/%s/%s" % (self.registry, repository, path)
        for attempt in (1, 2):
            status, head, data = self.send(method, url, dict(self._auth(repository), **(headers or {})), body)
            if status == 401 and attempt == 1 and head.get("www-authenticate", "").lower().startswith("bearer"):
                self._token(repository, head["www-authenticate"])
                continue
            break
        if status not in ok:
            raise OciError("%s %s/%s: HTTP %d %s"
                           % (method, repository, path.split("?")[0], status, _error_text(data)))
        return status, head, data

    def _token(self, repository: str, challenge: str) -> None:
        """A Bearer token from the challenge's realm (pull and push on the repository)."""
        fields = dict((k.lower(), v) for k, v in _challenge_fields(challenge[len("bearer"):]))
        query = {"service": fields.get("service", ""), "scope": "repository:%s:pull,push,delete" % repository}
        url = fields.get("realm", "") + "?" + urllib.parse.urlencode(query)
        status, _head, data = self.send("GET", url, {"Authorization": self._basic} if self._basic else {}, None)
        if status != 200:
            raise OciError("token for %s from %s: HTTP %d" % (repository, fields.get("realm"), status))
        answer = json.loads(data)
        self._tokens[repository] = answer.get("token") or answer.get("access_token") or ""

    # ---- manifests and blobs ----

    def manifest(self, repository: str, reference: str) -> t.Optional[t.Tuple[t.Dict[str, t.Any], bytes]]:
        """(descriptor, raw manifest) of repository:reference (a tag or a digest), or None when unknown."""
        status, head, data = self.request("GET", repository, "manifests/" + reference, {"Accept": ACCEPT},
                                          ok=(200, 404))
        if status == 404:
            return None
        media_type = head.get("content-type", "").split(";")[0] or json.loads(data).get("mediaType", "")
        return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}, data

    def put_manifest(self, repository: str, reference: str, data: bytes, media_type: str) -> t.Dict[str, str]:
        """PUT a manifest; returns the response headers (OCI-Subject says the registry indexed its subject)."""
        return self.request("PUT", repository, "manifests/" + reference, {"Content-Type": media_type}, data,
                            ok=(201,))[1]

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest (distribution removes every tag of it). False when it was gone."""
        return self.request("DELETE", repository, "manifests/" + digest, ok=(202, 404))[0] == 202

    def push_blob(self, repository: str, data: bytes) -> int:
        """Upload data unless the registry has it. Returns the bytes sent (0 when it was there)."""
        digest = digest_of(data)
        if self.request("HEAD", repository, "blobs/" + digest, ok=(200, 404))[0] == 200:
            return 0
        head = self.request("POST", repository, "blobs/uploads/", {"Content-Length": "0"}, b"", ok=(202,))[1]
        location = urllib.parse.urljoin("https://%s/" % self.registry, head.get("location", ""))
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        self.request("PUT", repository, "blobs/uploads", {"Content-Type": "application/octet-stream",
                                                          "Content-Length": str(len(data))},
                     data, ok=(201,), url=location)
        return len(data)

    # ---- referrers ----

    def referrers(self, repository: str, digest: str,
                  artifact_type: t.Optional[str] = None) -> t.List[t.Dict[str, t.Any]]:
        """Descriptors of the manifests whose subject is digest: the referrers API, else the fallback tag."""
        status, _head, data = self.request("GET", repository, "referrers/" + digest, {"Accept": INDEX}, ok=(200, 404))
        if status != 200:
            found = self.manifest(repository, fallback_tag(digest))
            data = found[1] if found else b"{}"
        manifests = json.loads(data).get("manifests") or []
        return [m for m in manifests if artifact_type is None or m.get("artifactType") == artifact_type]

    def attach(self, repository: str, subject: t.Mapping[str, t.Any], artifact_type: str, document: bytes,
               annotations: t.Optional[t.Mapping[str, str]] = None) -> t.Dict[str, t.Any]:
        """Push document as an artifact referring to subject, unless one of artifact_type refers to it already.

        Returns {"digest", "bytes_sent", "attached"}: attached is False (and nothing was sent) when the
        subject had such an artifact: the subject's digest names its content, so that one describes it.
        """
        existing = self.referrers(repository, subject["digest"], artifact_type)
        if existing:
            return {"digest": existing[0]["digest"], "bytes_sent": 0, "attached": False}
        sent = self.push_blob(repository, EMPTY_DATA) + self.push_blob(repository, document)
        manifest = {
            "schemaVersion": 2, "mediaType": MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": EMPTY, "digest": digest_of(EMPTY_DATA), "size": len(EMPTY_DATA)},
            "layers": [{"mediaType": artifact_type, "digest": digest_of(document), "size": len(document)}],
            "subject": {"mediaType": subject["mediaType"], "digest": subject["digest"], "size": subject["size"]},
        }
        if annotations:
            manifest["annotations"] = dict(annotations)
        data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        digest = digest_of(data)
        head = self.put_manifest(repository, digest, data, MANIFEST)
        sent += len(data)
        if "oci-subject" not in head:  # no referrers API: add it to the sha256-<hex> index
            sent += self._add_to_fallback(repository, subject["digest"], {
                "mediaType": MANIFEST, "digest": digest, "size": len(data), "artifactType": artifact_type,
                "annotations": dict(annotations or {})})
        return {"digest": digest, "bytes_sent": sent, "attached": True}

    def _add_to_fallback(self, repository: str, subject: str, descriptor: t.Dict[str, t.Any]) -> int:
        old = self.manifest(repository, fallback_tag(subject))
        manifests = (json.loads(old[1]).get("manifests") or []) if old else []
        if not descriptor["annotations"]:
            del descriptor["annotations"]
        manifests = [m for m in manifests if m.get("digest") != descriptor["digest"]] + [descriptor]
        data = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests},
                          separators=(",", ":"), sort_keys=True).encode()
        self.put_manifest(repository, fallback_tag(subject), data, INDEX)
        if old and old[0]["digest"] != digest_of(data):
            # the replaced index is untagged now: gone, so that garbage collection can drop what only it held
            self.delete_manifest(repository, old[0]["digest"])
        return len(data)

    def detach_all(self, repository: str, subject: str) -> t.List[str]:
        """Delete every artifact referring to subject and its fallback index. Returns the digests deleted."""
        deleted = [m["digest"] for m in self.referrers(repository, subject)
                   if self.delete_manifest(repository, m["digest"])]
        index = self.manifest(repository, fallback_tag(subject))
        if index and self.delete_manifest(repository, index[0]["digest"]):
            deleted.append(index[0]["digest"])
        return deleted


def _challenge_fields(text: str) -> t.List[t.Tuple[str, str]]:
    fields = []
    for part in text.strip().split(","):
        key, _sep, value = part.strip().partition("=")
        if key:
            fields.append((key.strip(), value.strip().strip('"')))
    return fields


def _error_text(data: bytes) -> str:
    """The registry's error codes, never the request (which may carry credentials)."""
    try:
        errors = json.loads(data).get("errors") or []
        return "; ".join("%s %s" % (e.get("code", ""), e.get("message", "")) for e in errors)[:300]
    except (ValueError, AttributeError):
        return data[:200].decode("utf-8", "replace").strip()


def client(registry: str, authfile: t.Optional[str] = None, cert_dir: t.Optional[str] = None,
           tls_verify: bool = True) -> Client:
    return Client(registry, https_transport(ssl_context(registry, cert_dir, tls_verify)),
                  credentials(authfile, registry))
