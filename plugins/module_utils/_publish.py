# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Publish images with tag revisions (the kolla-registry design, made real).

For each image: read the local image's labels and the registry's latest revision of the tag, without
pulling. When the content differs (fingerprint or version-manifest digest) or there is no revision,
push TAG-(N+1), verify it, and only then move the floating TAG; otherwise push nothing. Static tags
(release tags such as 4.0.0) are pushed once and never overwritten. Publishers of one registry take
an exclusive lock, so two of them never mint the same revision; each push is also verified after
the fact (the digest under TAG-(N+1) must be ours).
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, MANIFEST_DIGEST_LABEL, MANIFEST_LABEL, REFRESH_LABEL,
)
from ansible_collections.containergen.images.plugins.module_utils import _referrers, _signing
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError

STATIC_TAG_RE = re.compile(r"^v?\d+(\.\d+){1,3}$")
ATTACHMENT_TAG_RE = re.compile(r"^sha256-[0-9a-f]{64}(\.[a-z]+)?$")


class PublishError(Exception):
    pass


def is_static(tag):
    return bool(STATIC_TAG_RE.match(tag))


def revisions(tags, tag):
    """Revisions of tag among a registry's tags, as numbers, ascending (so -10 comes after -2)."""
    pattern = re.compile(r"^%s-(\d+)$" % re.escape(tag))
    return sorted(int(m.group(1)) for m in (pattern.match(t) for t in tags) if m)


class Registry(object):
    """skopeo, against one registry: TLS verified by default, credentials from an authfile."""

    def __init__(self, run, registry, namespace, authfile=None, cert_dir=None, tls_verify=True, skopeo="skopeo",
                 source_transport="containers-storage:", sign_key=None, sign_passphrase_file=None, registries_d=None):
        self.run = run
        self.source_transport = source_transport  # where local images live: buildah's or docker's store
        self.registry = registry.rstrip("/")
        self.namespace = namespace.strip("/")
        self.authfile = authfile
        self.cert_dir = cert_dir
        self.tls_verify = tls_verify
        self.skopeo = skopeo
        # sigstore signing: a cosign-format private key and the 0600 file holding its passphrase (paths
        # only: the passphrase is never on a command line); registries.d says to read signatures as
        # OCI attachments (sha256-<digest>.sig) for this registry
        self.sign_key = sign_key
        self._signer = None
        self.sign_passphrase_file = sign_passphrase_file
        self.registries_d = registries_d
        self._oci = None
        if bool(sign_key) != bool(sign_passphrase_file):
            raise PublishError("%s: sign_key and sign_passphrase_file go together" % self.registry)

    def repo(self, name):
        return "%s/%s/%s" % (self.registry, self.namespace, name) if self.namespace else "%s/%s" % (self.registry, name)

    def repository(self, name):
        """name's repository path in the registry API (no host)."""
        return "%s/%s" % (self.namespace, name) if self.namespace else name

    def oci(self):
        """The registry's HTTP API (OCI artifacts and referrers, which skopeo 1.9 cannot push)."""
        if self._oci is None:
            try:
                self._oci = _referrers.client(self.registry, self.authfile, self.cert_dir, self.tls_verify)
            except _referrers.OciError as exc:
                raise PublishError("%s: %s" % (self.registry, exc)) from exc
        return self._oci

    def _flags(self, directions=("",)):
        """--authfile for both ends; cert dir and TLS verification per direction (src-/dest-/plain)."""
        flags = ["--authfile", self.authfile] if self.authfile else []
        for prefix in directions:
            if self.cert_dir:
                flags += ["--%scert-dir" % prefix, self.cert_dir]
            if not self.tls_verify:  # an explicit, documented opt-in (publish_tls_verify: false)
                flags += ["--%stls-verify=false" % prefix]
        return flags

    def _global(self):
        return ["--registries.d", self.registries_d] if self.registries_d else []

    def signer(self):
        if self._signer is None:  # the key is opened (scrypt) once per run
            try:
                self._signer = _signing.Signer(self.sign_key, self.sign_passphrase_file)
            except _signing.SigningError as exc:
                raise PublishError("%s: signing key: %s" % (self.registry, exc)) from exc
        return self._signer

    def signatures(self, name, digest):
        """[(payload, layer)] of the digest's sha256-<hex>.sig attachment; [] when it has none."""
        work = tempfile.mkdtemp(prefix="containergen-sig-")
        try:
            return self._read_signatures(name, digest, os.path.join(work, "old"))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _read_signatures(self, name, digest, directory):
        attachment = "docker://%s:%s" % (self.repo(name), self.signature_tag(digest))
        # the attachment is not itself signed: read it past the policy (its signatures are what is checked)
        argv = [self.skopeo, "--insecure-policy"] + self._global() + ["copy", "--retry-times", "2"] \
            + self._flags(("src-",)) + [attachment, "dir:" + directory]
        rc, out, err = self.run(argv, check=False)
        if rc == 0:
            return _signing.read_attachment(directory)
        if re.search(r"manifest unknown|MANIFEST_UNKNOWN|not found", out + err):
            return []
        raise CommandError(argv, rc, out + err)

    def verify(self, name, reference, public_keys):
        """The digest name:TAG (or name@DIGEST) points at, when a signature by public_keys accepts it; else
        PublishError (what a sigstoreSigned policy with the default signedIdentity decides)."""
        digest = reference[1:] if reference.startswith("@") else (self.inspect(name, reference) or {}).get("digest")
        full = self.repo(name) + (reference if reference.startswith("@") else ":" + reference)
        if not digest:
            raise PublishError("%s: %s does not exist" % (name, full))
        if not _signing.verify_signatures(self.signatures(name, digest), public_keys, full, digest):
            raise PublishError("%s: %s (%s) has no signature by a trusted key for that reference" % (name, full, digest))
        return digest

    def sign(self, name, digest, tag):
        """Add our signature for name:tag at digest to the digest's sha256-<hex>.sig attachment.

        skopeo verifies sigstore signatures but Debian builds it without signing, so the signature is
        made here (cosign's format) and skopeo copies the attachment (a dir: image) to the registry;
        the signatures already there are kept. Returns False when ours was there already.
        """
        reference = "%s:%s" % (self.repo(name), tag)
        attachment = "docker://%s:%s" % (self.repo(name), self.signature_tag(digest))
        work = tempfile.mkdtemp(prefix="containergen-sig-")
        try:
            new = os.path.join(work, "new")
            signatures = self._read_signatures(name, digest, os.path.join(work, "old"))
            signatures = _signing.add_signature(signatures, self.signer(), reference, digest)
            if signatures is None:
                return False
            _signing.write_attachment(new, signatures)
            self.run([self.skopeo] + self._global() + ["copy", "--retry-times", "2"] + self._flags(("dest-",))
                     + ["dir:" + new, attachment])
            self._drop_replaced(name, os.path.join(work, "old", "manifest.json"))
            return True
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _drop_replaced(self, name, manifest_path):
        """Delete the attachment manifest the new one replaced (now untagged). distribution 2.8's garbage
        collection keeps an untagged manifest's blobs unless run with --delete-untagged, which would also
        take the SBOM artifacts that only a referrers index lists: so nothing is left untagged here."""
        if not os.path.exists(manifest_path):  # there was none
            return
        with open(manifest_path, "rb") as handle:  # skopeo's dir: keeps the manifest bytes as served
            digest = "sha256:" + hashlib.sha256(handle.read()).hexdigest()
        argv = [self.skopeo, "delete"] + self._flags() + ["docker://%s@%s" % (self.repo(name), digest)]
        rc, out, err = self.run(argv, check=False)
        if rc != 0 and not re.search(r"manifest unknown|MANIFEST_UNKNOWN|not found", out + err):
            raise CommandError(argv, rc, out + err)

    def list_tags(self, name):
        rc, out, err = self.run([self.skopeo, "list-tags"] + self._flags() + ["docker://" + self.repo(name)],
                                check=False)
        if rc != 0:
            # distribution answers 404 on the tags list of a repository it does not have
            if re.search(r"name unknown|repository name not known|NAME_UNKNOWN|status code from registry 404",
                         out + err):
                return []
            raise CommandError([self.skopeo, "list-tags", self.repo(name)], rc, out + err)
        return json.loads(out).get("Tags") or []

    def inspect(self, name, tag):
        """Labels, digest and creation time of name:tag, or None when the tag does not exist."""
        rc, out, err = self.run([self.skopeo, "inspect"] + self._flags() + ["docker://%s:%s" % (self.repo(name), tag)],
                                check=False)
        if rc != 0:
            if re.search(r"manifest unknown|MANIFEST_UNKNOWN|name unknown|NAME_UNKNOWN|not found", out + err):
                return None
            raise CommandError([self.skopeo, "inspect", "%s:%s" % (self.repo(name), tag)], rc, out + err)
        data = json.loads(out)
        return {"digest": data.get("Digest"), "labels": data.get("Labels") or {}, "created": data.get("Created"),
                "layers": data.get("Layers") or []}

    def layer_sizes(self, name, tag):
        """[(uncompressed diff ID, compressed size)] of name:tag, in layer order."""
        ref = "docker://%s:%s" % (self.repo(name), tag)
        manifest = json.loads(self.run([self.skopeo, "inspect", "--raw"] + self._flags() + [ref])[1])
        config = json.loads(self.run([self.skopeo, "inspect", "--config"] + self._flags() + [ref])[1])
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        sizes = [layer.get("size", 0) for layer in manifest.get("layers") or []]
        return list(zip(diff_ids, sizes))

    def config_digest(self, name, tag):
        """The config digest of name:tag, read from its manifest: an engine's image ID, so that a
        local image and a pushed one are compared without pulling (the manifest digest differs:
        the registry holds compressed layers)."""
        ref = "docker://%s:%s" % (self.repo(name), tag)
        manifest = json.loads(self.run([self.skopeo, "inspect", "--raw"] + self._flags() + [ref])[1])
        return (manifest.get("config") or {}).get("digest")

    def push(self, source, name, tag):
        """Copy a local image (a reference in the engine's store) to name:tag. Returns the blobs sent.

        --debug is what makes skopeo name the blobs it skips; its debug lines are parsed here and
        never surfaced (only non-debug lines go into an error). --remove-signatures: an image pulled
        by digest from a signing registry keeps those signatures in the local store, and skopeo then
        refuses to compress its layers ("Would invalidate signatures"); the publish signs what it pushed.
        """
        argv = [self.skopeo, "--debug"] + self._global() + ["copy", "--retry-times", "2", "--remove-signatures"] \
            + self._flags(("dest-",)) \
            + [self.source_transport + source, "docker://%s:%s" % (self.repo(name), tag)]
        rc, out, err = self.run(argv, check=False)
        if rc != 0:
            plain = [line for line in (out + err).splitlines() if "level=debug" not in line]
            raise CommandError(argv, rc, "\n".join(plain))
        return sent_blobs(out + "\n" + err)

    def retag(self, name, from_tag, to_tag):
        """Point to_tag at the manifest of from_tag (registry to registry: no blob moves).

        When signing, the digest gets a signature for to_tag too: a pull of NAME:TAG is accepted only
        with a signature naming that tag (policy.json's default signedIdentity).
        """
        source = self.repo(name) + (from_tag if from_tag.startswith("@") else ":" + from_tag)
        # --remove-signatures: the digest's attachment is already there; skopeo would rewrite it in a layout of its
        # own, leaving the replaced manifest untagged (and its blobs kept by every garbage collection)
        self.run([self.skopeo] + self._global() + ["copy", "--retry-times", "2", "--remove-signatures"]
                 + self._flags(("src-", "dest-")) + ["docker://" + source, "docker://%s:%s" % (self.repo(name), to_tag)])
        if self.sign_key:
            digest = from_tag[1:] if from_tag.startswith("@") else (self.inspect(name, to_tag) or {}).get("digest")
            if not digest:
                raise PublishError("%s: %s:%s is gone right after it was tagged" % (name, self.repo(name), to_tag))
            self.sign(name, digest, to_tag)

    def attach(self, name, digest, media_type, document, annotations, check_mode=False):
        """document as an OCI artifact whose subject is name@digest; nothing is sent when one of media_type
        refers to it already. Returns {"digest", "bytes_sent", "attached"} ("digest" None in check mode when
        it would be pushed)."""
        client, repository = self.oci(), self.repository(name)
        try:
            if check_mode:
                found = client.referrers(repository, digest, media_type)
                return {"digest": found[0]["digest"] if found else None, "bytes_sent": 0, "attached": not found}
            subject = client.manifest(repository, digest)
            if subject is None:
                raise PublishError("%s: %s@%s does not exist" % (name, self.repo(name), digest))
            return client.attach(repository, subject[0], media_type, document, annotations)
        except _referrers.OciError as exc:
            raise PublishError("%s: SBOM artifact for %s@%s: %s" % (name, self.repo(name), digest, exc)) from exc

    def detach(self, name, digest):
        """Delete every artifact that refers to name@digest (SBOMs) and its sha256-<hex> index."""
        try:
            return self.oci().detach_all(self.repository(name), digest)
        except _referrers.OciError as exc:
            raise PublishError("%s: artifacts of %s@%s: %s" % (name, self.repo(name), digest, exc)) from exc

    @staticmethod
    def signature_tag(digest):
        """The cosign-compatible attachment tag that holds the signatures of digest."""
        return "%s.sig" % digest.replace(":", "-")

    def delete(self, name, tag):
        self.run([self.skopeo, "delete"] + self._flags() + ["docker://%s:%s" % (self.repo(name), tag)])


def sent_blobs(skopeo_output):
    """Digests (uncompressed, as skopeo names them) of the blobs skopeo uploaded: every
    'Copying blob' that is not also a 'Skipping blob ... (already present)'."""
    copied = re.findall(r"^Copying blob (?:sha256:)?([0-9a-f]{12,64})", skopeo_output, re.M)
    skipped = set(re.findall(r"Skipping blob (?:sha256:)?([0-9a-f]{12,64})", skopeo_output))
    return [digest for digest in dict.fromkeys(copied) if digest not in skipped]


def same_content(local_labels, remote_labels):
    """Equal when both the content fingerprint and the version manifest agree."""
    return (local_labels.get(FINGERPRINT_LABEL) == remote_labels.get(FINGERPRINT_LABEL)
            and local_labels.get(MANIFEST_DIGEST_LABEL) == remote_labels.get(MANIFEST_DIGEST_LABEL)
            and bool(local_labels.get(MANIFEST_DIGEST_LABEL)))


class PublishLock(object):
    """An exclusive lock per registry: publishers of the same registry run one at a time."""

    def __init__(self, lock_dir, registry):
        os.makedirs(lock_dir, exist_ok=True)
        self.path = os.path.join(lock_dir, "containergen-publish-%s.lock" % re.sub(r"[^A-Za-z0-9.-]", "_", registry))
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a", encoding="utf-8")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _unchanged_by(registry, result, name, tag, local_id):
    """An unchanged image: say whether the registry holds this very image ("digest": the local image
    ID is the pushed config digest, as a reproducible rebuild gives) or only the same content by
    fingerprint and version manifest ("fingerprint"). Only when the caller knows the local ID."""
    if local_id:
        remote = registry.config_digest(name, tag)
        result["unchanged_by"] = "digest" if remote == "sha256:" + local_id.split(":")[-1] else "fingerprint"


def publish_image(registry, name, source, local_labels, tag, check_mode=False, move_floating=True, local_id=None):
    """Publish one image. Returns a result dict; raises CommandError/PublishError on failure.

    local_id: the local image's ID; given, an unchanged result says by what it is unchanged
    ("unchanged_by": "digest" or "fingerprint").

    With move_floating=False the floating tag is left where it is and the result says where it must
    go ("floating": the revision tag, or None): publish_images moves every floating tag of a run only
    once every revision of the run is pushed and verified.
    """
    result = {"name": name, "source": source, "tag": tag, "action": "", "revision": None, "ref": "",
              "digest": "", "blobs_sent": 0, "bytes_sent": 0, "signed": False}
    floating = None
    if not local_labels.get(MANIFEST_DIGEST_LABEL):
        raise PublishError("%s: local image %s has no %s label: was it built by containergen?"
                           % (name, source, MANIFEST_DIGEST_LABEL))
    tags = registry.list_tags(name)
    if is_static(tag):
        target, current = tag, (registry.inspect(name, tag) if tag in tags else None)
        if current is not None:
            if not same_content(local_labels, current["labels"]):
                raise PublishError("%s: static tag %s already exists in %s with other content; static tags are "
                                   "never overwritten (use a new release tag)" % (name, tag, registry.repo(name)))
            result.update(action="unchanged", ref="%s:%s" % (registry.repo(name), tag), digest=current["digest"])
            _unchanged_by(registry, result, name, tag, local_id)
            _ensure_signed(registry, result, source, tag, tags, check_mode)
            return _floating(result, None, move_floating, registry)
    else:
        numbers = revisions(tags, tag)
        latest = numbers[-1] if numbers else 0
        current = registry.inspect(name, "%s-%d" % (tag, latest)) if latest else None
        if current is not None and same_content(local_labels, current["labels"]):
            result.update(action="unchanged", revision=latest, digest=current["digest"],
                          ref="%s:%s-%d" % (registry.repo(name), tag, latest))
            _unchanged_by(registry, result, name, "%s-%d" % (tag, latest), local_id)
            _ensure_signed(registry, result, source, "%s-%d" % (tag, latest), tags, check_mode)
            info = registry.inspect(name, tag) if tag in tags else None
            if not info or info["digest"] != current["digest"]:
                result["action"] = "retagged"
                floating = "%s-%d" % (tag, latest)
            elif result["action"] == "signed":  # the floating tag needs its own signature too
                floating = "%s-%d" % (tag, latest)
            return _floating(result, None if check_mode else floating, move_floating, registry)
        result["revision"] = latest + 1
        target = "%s-%d" % (tag, latest + 1)
    result.update(action="pushed", ref="%s:%s" % (registry.repo(name), target))
    if check_mode:
        return _floating(result, None, move_floating, registry)
    sent = registry.push(source, name, target)
    pushed = registry.inspect(name, target)
    if pushed is None or not same_content(local_labels, pushed["labels"]):
        raise PublishError("%s: %s does not hold the pushed image after the push: another publisher raced "
                           "this one, or the registry lost it" % (name, result["ref"]))
    # skopeo names blobs by their uncompressed digest (diff ID), the manifest by the compressed one.
    if registry.sign_key:  # the verified digest, before any tag points a client at it
        registry.sign(name, pushed["digest"], target)
    layers = registry.layer_sizes(name, target)
    result.update(digest=pushed["digest"], blobs_sent=len(sent), signed=bool(registry.sign_key),
                  bytes_sent=sum(size for diff_id, size in layers
                                 if any(diff_id.split(":")[-1].startswith(short) for short in sent)))
    # the floating tag moves only after the revision is verified
    return _floating(result, None if is_static(tag) else target, move_floating, registry)


def _ensure_signed(registry, result, source, target, tags, check_mode):
    """An unchanged revision without a signature (published before signing was on) gets one.

    Nothing is pushed but the signature. A signed revision is left alone: an unchanged republish
    makes no new signature.
    """
    result["signed"] = registry.signature_tag(result["digest"]) in tags
    if result["signed"] or not registry.sign_key or check_mode:
        return
    registry.sign(result["name"], result["digest"], target)
    result.update(action="signed", signed=True)


# ---- SBOMs as OCI artifacts (subject: the image manifest) -------------------------------------------

SBOM_KINDS = (("spdx", ".spdx.json", _referrers.SPDX), ("cyclonedx", ".cdx.json", _referrers.CYCLONEDX))


def sbom_paths(sbom_dir, name):
    return {kind: os.path.join(sbom_dir, name + ext) for kind, ext, _type in SBOM_KINDS}


def _image_id_of(kind, document):
    """The image ID _sbom wrote into a document (SPDX annotation, CycloneDX property), or None."""
    if kind == "spdx":
        for note in document.get("annotations") or []:
            key, _sep, value = (note.get("comment") or "").partition("=")
            if key == "containergen:image-id":
                return value
        return None
    for prop in (document.get("metadata") or {}).get("properties") or []:
        if prop.get("name") == "containergen:image-id":
            return prop.get("value")
    return None


def sbom_documents(sbom_dir, name, image_id):
    """{kind: (bytes, created)} of name's SBOMs in sbom_dir when both exist and describe the local image
    image_id; None when one is missing or describes another image (then it is made again)."""
    wanted = "sha256:" + image_id.split(":")[-1]
    result = {}
    for kind, path in sbom_paths(sbom_dir, name).items():
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            document = json.loads(data)
        except (OSError, ValueError):
            return None
        if _image_id_of(kind, document) != wanted:
            return None
        created = (document.get("creationInfo") or {}).get("created") or (document.get("metadata") or {}).get(
            "timestamp") or ""
        result[kind] = (data, created)
    return result


def attach_sboms(registry, result, documents, image_id, check_mode=False):
    """Push the image's SBOMs (documents: sbom_documents) as OCI artifacts referring to its manifest.

    An SBOM of a digest that has one already is not sent again (the digest names the content).
    result gains "sbom" ({kind: artifact digest}) and "sbom_bytes_sent", also counted in bytes_sent.
    """
    result.update(sbom={}, sbom_bytes_sent=0, sbom_attached=False)
    if not result.get("digest"):  # check mode, to be pushed: its SBOMs would be pushed with it
        result["sbom_attached"] = True
        return result
    for kind, _ext, media_type in SBOM_KINDS:
        data, created = (documents or {}).get(kind, (b"", ""))  # none in check mode when not made yet
        annotations = {_referrers.CREATOR_ANNOTATION: "sha256:" + image_id.split(":")[-1]}
        if created:
            annotations["org.opencontainers.image.created"] = created
        attached = registry.attach(result["name"], result["digest"], media_type, data, annotations,
                                   check_mode=check_mode)
        result["sbom"][kind] = attached["digest"]
        result["sbom_bytes_sent"] += attached["bytes_sent"]
        result["sbom_attached"] = result["sbom_attached"] or attached["attached"]
    result["bytes_sent"] += result["sbom_bytes_sent"]
    return result


def _floating(result, target, move_now, registry):
    """Move the floating tag to target now (move_now) or leave the move to the caller (result["floating"])."""
    if not move_now:
        result["floating"] = target
    elif target:
        registry.retag(result["name"], target, result["tag"])
    return result


def move_floating_tags(registry, results):
    """Point each result's floating tag at its verified revision. Raises PublishError naming which moved."""
    moved = []
    pending = [r for r in results if r.get("floating")]
    for index, item in enumerate(pending):
        try:
            registry.retag(item["name"], item["floating"], item["tag"])
        except (CommandError, PublishError) as exc:
            raise PublishError(
                "moving the floating tags failed at %s (%s -> %s): %s; moved: %s; not moved: %s (their revisions "
                "are pushed and verified; a rerun moves them and writes the lock file, which is unchanged)"
                % (item["name"], item["tag"], item["floating"], _one_line(exc),
                   _names(moved) or "none", _names(pending[index:])))
        moved.append(item)
    return [r["name"] for r in moved]


def _names(results):
    return ", ".join("%s (%s)" % (r["name"], r["floating"]) for r in results)


def _one_line(exc):
    return " ".join(str(exc).split())


def pushed_summary(results):
    """What a failed run left in the registry: revisions pushed and verified, but no floating tag moved."""
    pushed = ["%s:%s" % (r["name"], r["floating"]) for r in results if r.get("floating") and r["action"] == "pushed"]
    if not pushed:
        return "no new revision was pushed"
    return "pushed and verified (now in the registry, harmless, reused by a rerun): %s" % ", ".join(pushed)


# ---- lock files -------------------------------------------------------------------------------------
# Entries are keyed by repository (registry/namespace/name), so that sets of several namespaces or
# registries share one lock file; files written before that were keyed by the image name alone and
# are migrated when read (the repository is the part of the entry before :tag@digest).

def lock_entries(results, registry=None):  # pylint: disable=unused-argument
    return {r["ref"].rsplit(":", 1)[0]: "%s@%s" % (r["ref"], r["digest"]) for r in results if r.get("digest")}


def provenance_entries(results):
    """repository -> {digest, signed[, sbom: {spdx, cyclonedx}]}: what a deploy can check before it pulls."""
    entries = {}
    for r in results:
        if r.get("digest"):
            entries[r["ref"].rsplit(":", 1)[0]] = dict({"digest": r["digest"], "signed": bool(r.get("signed"))},
                                                       **({"sbom": r["sbom"]} if r.get("sbom") else {}))
    return entries


def _lock_texts(entries, provenance=None):
    yaml_text = "---\n# containergen.images lock file: repository -> registry/namespace/name:tag-revision@digest\n"
    yaml_text += "images:\n" + "".join("  %s: %s\n" % (json.dumps(key), json.dumps(ref))
                                       for key, ref in sorted(entries.items()))
    data = {"images": entries}
    if provenance:
        # after images: readers of the images section stop at this key
        yaml_text += "provenance:\n" + "".join("  %s: %s\n" % (json.dumps(key), json.dumps(value, sort_keys=True))
                                               for key, value in sorted(provenance.items()))
        data["provenance"] = provenance
    return ((".yaml", yaml_text), (".json", json.dumps(data, indent=2, sort_keys=True) + "\n"))


def write_lock_files(entries, path_base, provenance=None):
    """Write PATH.yaml and PATH.json atomically: repository -> registry/ns/name:tag-N@sha256:digest.

    Each file goes through a temporary file of its own in the same directory (never a fixed name that
    two writers would share), then os.replace; identical content is not rewritten.
    """
    directory = os.path.dirname(path_base) or "."
    os.makedirs(directory, exist_ok=True)
    for ext, text in _lock_texts(entries, provenance):
        path = path_base + ext
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                if handle.read() == text:
                    continue
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)  # deploy tools read it; it holds no secret
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    return [path_base + ".yaml", path_base + ".json"]


def merge_lock_files(entries, path_base, provenance=None):
    """Add entries to the lock file at path_base, keeping the other repositories' entries.

    The read-merge-write runs under an exclusive lock on the lock file's directory, so that two
    publishers (of any registry) writing one lock file never lose an entry. Returns the merged entries.
    """
    directory = os.path.dirname(path_base) or "."
    os.makedirs(directory, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        existing = path_base + ".json"
        merged = read_lock_file(existing) if os.path.exists(existing) else {}
        merged.update(entries)
        known = read_provenance(existing) if os.path.exists(existing) else {}
        known.update(provenance or {})
        write_lock_files(merged, path_base, {k: v for k, v in known.items() if k in merged})
        return merged
    finally:
        os.close(fd)  # closing releases the lock


def read_lock_file(path):
    """repository -> ref; entries keyed by image name (older files) are migrated to their repository."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".json"):
        raw = json.loads(text)["images"]
    else:
        raw = {}
        for line in text.splitlines():
            if line and not line.startswith((" ", "#", "-", "images:")):
                break  # the next top-level section (provenance)
            match = re.match(r'^  ("(?:[^"\\]|\\.)*"|[^:#\s"]+): (.+)$', line)
            if match:
                key = match.group(1)
                raw[json.loads(key) if key.startswith('"') else key] = json.loads(match.group(2))
    entries = {}
    for key, ref in raw.items():
        if "/" not in key:
            key = parse_lock_ref(ref)[0]
        entries[key] = ref
    return entries


def read_provenance(path):
    """repository -> {digest, signed} from a lock file's JSON (empty for files written before signing)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle).get("provenance") or {}


def manifest_diff(old_labels, new_labels):
    """Packages added, removed and updated between two images' version manifests."""
    old = json.loads(old_labels.get(MANIFEST_LABEL) or "{}")
    new = json.loads(new_labels.get(MANIFEST_LABEL) or "{}")
    return {
        "added": {p: new[p] for p in sorted(set(new) - set(old))},
        "removed": {p: old[p] for p in sorted(set(old) - set(new))},
        "updated": {p: [old[p], new[p]] for p in sorted(set(old) & set(new)) if old[p] != new[p]},
    }


def parse_created(text):
    text = re.sub(r"\.(\d{6})\d*", r".\1", text or "").replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text)


# ---- verification before a pull ---------------------------------------------------------------------

REFERENCE_RE = re.compile(r"^(?P<host>[^/@]+)/(?P<path>[^:@]+)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


def split_reference(reference):
    """'HOST[:PORT]/NS/NAME:TAG', '...NAME@sha256:D' or a lock file's '...NAME:TAG@sha256:D' ->
    (host, namespace, name, ':TAG' or '@sha256:D'); a digest wins over a tag (what is pulled)."""
    match = REFERENCE_RE.match(reference or "")
    if not match or not (match.group("tag") or match.group("digest")):
        raise PublishError("%r is not HOST[:PORT]/NAMESPACE/NAME:TAG or HOST[:PORT]/NAMESPACE/NAME@sha256:DIGEST"
                           % reference)
    namespace, _sep, name = match.group("path").rpartition("/")
    return (match.group("host"), namespace, name,
            "@" + match.group("digest") if match.group("digest") else ":" + match.group("tag"))


def verify_references(make_registry, references, public_keys, require_sbom=False, clock=None):
    """Check each reference as a sigstoreSigned policy would (and, with require_sbom, that SBOM artifacts refer
    to its digest) before it is pulled. make_registry(host, namespace) -> Registry. Raises PublishError naming
    the first reference refused; returns [{reference, digest, seconds[, sbom]}]."""
    import time  # pylint: disable=import-outside-toplevel

    clock = clock or time.monotonic
    results = []
    for reference in references:
        host, namespace, name, ref = split_reference(reference)
        registry = make_registry(host, namespace)
        start = clock()
        digest = registry.verify(name, ref.lstrip(":"), public_keys)
        result = {"reference": reference, "digest": digest}
        if require_sbom:
            result["sbom"] = {}
            for kind, _ext, media_type in SBOM_KINDS:
                try:
                    found = registry.oci().referrers(registry.repository(name), digest, media_type)
                except _referrers.OciError as exc:
                    raise PublishError("%s: referrers of %s: %s" % (reference, digest, exc)) from exc
                if not found:
                    raise PublishError("%s: no %s SBOM artifact refers to %s (publish with sbom_dir)"
                                       % (reference, kind, digest))
                result["sbom"][kind] = found[0]["digest"]
        result["seconds"] = round(clock() - start, 3)
        results.append(result)
    return results


def cull_candidates(registry, name, tag, max_age_days, keep_digests, now=None):
    """Revisions of name:tag older than max_age_days whose digest no kept tag shares.

    distribution deletes by digest, removing every tag of that digest: a revision is kept when any
    tag that stays (another floating tag, a static, deployed or previous tag, a kept revision) or a
    locked digest shares its digest. The newest revision always stays.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    # attachment tags (cosign's sha256-<hex>.sig, the referrers index sha256-<hex>) are no images: they
    # go with the digest they name, and an index of artifacts cannot even be inspected as an image
    tags = [t for t in registry.list_tags(name) if not ATTACHMENT_TAG_RE.match(t)]
    numbers = revisions(tags, tag)
    info = {t: registry.inspect(name, t) for t in tags}
    candidates = set()
    for number in numbers[:-1]:
        current = info.get("%s-%d" % (tag, number))
        if current and (now - parse_created(current["created"])).total_seconds() / 86400.0 > max_age_days:
            candidates.add("%s-%d" % (tag, number))
    protected = set(keep_digests) | {i["digest"] for t, i in info.items() if i and t not in candidates}
    doomed = sorted((t for t in candidates if info[t]["digest"] not in protected),
                    key=lambda t: int(t.rsplit("-", 1)[1]))
    kept = ["%s-%d" % (tag, n) for n in numbers if "%s-%d" % (tag, n) not in doomed and info.get("%s-%d" % (tag, n))]
    return doomed, kept


def parse_lock_ref(ref):
    """'registry/ns/name:tag-N@sha256:d' -> (repository, tag, digest)."""
    match = re.match(r"^(?P<repo>[^@]+):(?P<tag>[^:@/]+)@(?P<digest>sha256:[0-9a-f]{64})$", ref)
    if not match:
        raise PublishError("lock file entry %r is not REGISTRY/NAMESPACE/NAME:TAG@sha256:DIGEST" % ref)
    return match.group("repo"), match.group("tag"), match.group("digest")


def entries_of(registry, entries):
    """image name -> ref, for the lock entries in registry's registry and namespace (other entries of
    a shared lock file belong to other sets). Raises PublishError when there is none."""
    prefix = registry.repo("")
    mine, others = {}, set()
    for ref in entries.values():
        repo = parse_lock_ref(ref)[0]
        name = repo[len(prefix):]
        if repo.startswith(prefix) and "/" not in name:
            mine[name] = ref
        else:
            others.add(repo.rsplit("/", 1)[0])
    if not mine:
        where = " (its entries are in %s)" % ", ".join(sorted(others)) if others else ""
        raise PublishError("lock file has no entry in %s%s" % (prefix.rstrip("/"), where))
    return mine


def promote(registry, entries, check_mode=False):
    """Move 'deployed' to each image of a lock file in registry's namespace, keeping the former one as
    'previous'. entries: lock file entries (any keys); those of other registries or namespaces are left."""
    results = []
    for image, ref in sorted(entries_of(registry, entries).items()):
        repo, tag, digest = parse_lock_ref(ref)
        name = image
        locked = registry.inspect(name, tag)
        if locked is None or locked["digest"] != digest:
            raise PublishError("%s: %s:%s is no longer %s in the registry (stale lock file?)" % (image, repo, tag, digest))
        deployed = registry.inspect(name, "deployed")
        if deployed and deployed["digest"] == digest:
            results.append({"name": image, "action": "unchanged", "deployed": ref})
            continue
        if not check_mode:
            if deployed:
                registry.retag(name, "deployed", "previous")
            registry.retag(name, tag, "deployed")
        results.append({"name": image, "action": "promoted", "deployed": ref,
                        "previous": deployed["digest"] if deployed else None})
    return results


def rollback(registry, names, check_mode=False):
    """Swap 'deployed' and 'previous' of each image (a second rollback rolls forward again)."""
    results = []
    for name in names:
        previous = registry.inspect(name, "previous")
        deployed = registry.inspect(name, "deployed")
        if previous is None:
            raise PublishError("%s: no 'previous' tag in %s: nothing to roll back to" % (name, registry.repo(name)))
        if deployed and deployed["digest"] == previous["digest"]:
            results.append({"name": name, "action": "unchanged", "deployed": previous["digest"]})
            continue
        if not check_mode:
            registry.retag(name, "previous", "deployed")
            if deployed:
                registry.retag(name, "@" + deployed["digest"], "previous")
        results.append({"name": name, "action": "rolled back", "deployed": previous["digest"],
                        "previous": deployed["digest"] if deployed else None})
    return results


def cull(registry, names, tag, max_age_days, keep_digests, check_mode=False, now=None):
    """Delete revisions older than max_age_days that nothing references. Returns per image results."""
    results = []
    for name in names:
        doomed, kept = cull_candidates(registry, name, tag, max_age_days, keep_digests, now=now)
        signatures, artifacts = [], []
        if not check_mode and doomed:
            tags = set(registry.list_tags(name))
            for revision in doomed:
                digest = (registry.inspect(name, revision) or {}).get("digest")
                if digest:  # its SBOM artifacts first: while the image is there, they are never orphans
                    artifacts += registry.detach(name, digest)
                registry.delete(name, revision)
                # the digest is gone (and no kept tag shared it): so goes its signature attachment
                if digest and registry.signature_tag(digest) in tags:
                    registry.delete(name, registry.signature_tag(digest))
                    signatures.append(registry.signature_tag(digest))
        results.append({"name": name, "deleted": doomed, "kept": kept, "signatures_deleted": signatures,
                        "artifacts_deleted": artifacts})
    return results


def report(registry, name, old_tag=None, new_tag=None, tag="latest"):
    """Packages added, removed and updated from name:old_tag to name:new_tag, and a one-line summary.
    Without old_tag/new_tag, the two latest revisions of tag are compared."""
    if not (old_tag and new_tag):
        numbers = revisions(registry.list_tags(name), tag)
        if len(numbers) < (1 if (old_tag or new_tag) else 2):
            raise PublishError("%s: fewer than two revisions of %s to compare" % (name, tag))
        new_tag = new_tag or "%s-%d" % (tag, numbers[-1])
        old_tag = old_tag or "%s-%d" % (tag, numbers[-2])
    old, new = registry.inspect(name, old_tag), registry.inspect(name, new_tag)
    for tag, info in ((old_tag, old), (new_tag, new)):
        if info is None:
            raise PublishError("%s: %s:%s does not exist" % (name, registry.repo(name), tag))
    diff = manifest_diff(old["labels"], new["labels"])
    diff["summary"] = "%s: +%d -%d ~%d packages (%s -> %s)" % (
        name, len(diff["added"]), len(diff["removed"]), len(diff["updated"]), old_tag, new_tag)
    # why the new revision was built, when it was for package updates (refresh: updates)
    try:
        diff["refresh"] = list(json.loads(new["labels"].get(REFRESH_LABEL) or "{}").get(name) or [])
    except (ValueError, AttributeError, TypeError):
        diff["refresh"] = []
    return diff
