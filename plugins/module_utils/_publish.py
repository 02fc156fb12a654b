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
import json
import os
import re

from ansible_collections.containergen.images.plugins.module_utils._build import (
    FINGERPRINT_LABEL, MANIFEST_DIGEST_LABEL, MANIFEST_LABEL,
)
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError

STATIC_TAG_RE = re.compile(r"^v?\d+(\.\d+){1,3}$")
PROTECTED_TAGS = ("deployed", "previous")


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
                 source_transport="containers-storage:"):
        self.run = run
        self.source_transport = source_transport  # where local images live: buildah's or docker's store
        self.registry = registry.rstrip("/")
        self.namespace = namespace.strip("/")
        self.authfile = authfile
        self.cert_dir = cert_dir
        self.tls_verify = tls_verify
        self.skopeo = skopeo

    def repo(self, name):
        return "%s/%s/%s" % (self.registry, self.namespace, name) if self.namespace else "%s/%s" % (self.registry, name)

    def _flags(self, directions=("",)):
        """--authfile for both ends; cert dir and TLS verification per direction (src-/dest-/plain)."""
        flags = ["--authfile", self.authfile] if self.authfile else []
        for prefix in directions:
            if self.cert_dir:
                flags += ["--%scert-dir" % prefix, self.cert_dir]
            if not self.tls_verify:  # an explicit, documented opt-in (publish_tls_verify: false)
                flags += ["--%stls-verify=false" % prefix]
        return flags

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

    def push(self, source, name, tag):
        """Copy a local image (a reference in the engine's store) to name:tag. Returns the blobs sent.

        --debug is what makes skopeo name the blobs it skips; its debug lines are parsed here and
        never surfaced (only non-debug lines go into an error).
        """
        argv = [self.skopeo, "--debug", "copy", "--retry-times", "2"] + self._flags(("dest-",)) + [
            self.source_transport + source, "docker://%s:%s" % (self.repo(name), tag)]
        rc, out, err = self.run(argv, check=False)
        if rc != 0:
            plain = [line for line in (out + err).splitlines() if "level=debug" not in line]
            raise CommandError(argv, rc, "\n".join(plain))
        return sent_blobs(out + "\n" + err)

    def retag(self, name, from_tag, to_tag):
        """Point to_tag at the manifest of from_tag (registry to registry: no blob moves)."""
        source = self.repo(name) + (from_tag if from_tag.startswith("@") else ":" + from_tag)
        self.run([self.skopeo, "copy", "--retry-times", "2"] + self._flags(("src-", "dest-"))
                 + ["docker://" + source, "docker://%s:%s" % (self.repo(name), to_tag)])

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


def publish_image(registry, name, source, local_labels, tag, check_mode=False):
    """Publish one image. Returns a result dict; raises CommandError/PublishError on failure."""
    result = {"name": name, "source": source, "tag": tag, "action": "", "revision": None, "ref": "",
              "digest": "", "blobs_sent": 0, "bytes_sent": 0}
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
            return result
    else:
        numbers = revisions(tags, tag)
        latest = numbers[-1] if numbers else 0
        current = registry.inspect(name, "%s-%d" % (tag, latest)) if latest else None
        if current is not None and same_content(local_labels, current["labels"]):
            result.update(action="unchanged", revision=latest, digest=current["digest"],
                          ref="%s:%s-%d" % (registry.repo(name), tag, latest))
            floating = registry.inspect(name, tag) if tag in tags else None
            if not floating or floating["digest"] != current["digest"]:
                result["action"] = "retagged"
                if not check_mode:
                    registry.retag(name, "%s-%d" % (tag, latest), tag)
            return result
        result["revision"] = latest + 1
        target = "%s-%d" % (tag, latest + 1)
    result.update(action="pushed", ref="%s:%s" % (registry.repo(name), target))
    if check_mode:
        return result
    sent = registry.push(source, name, target)
    pushed = registry.inspect(name, target)
    if pushed is None or not same_content(local_labels, pushed["labels"]):
        raise PublishError("%s: %s does not hold the pushed image after the push: another publisher raced "
                           "this one, or the registry lost it" % (name, result["ref"]))
    # skopeo names blobs by their uncompressed digest (diff ID), the manifest by the compressed one.
    layers = registry.layer_sizes(name, target)
    result.update(digest=pushed["digest"], blobs_sent=len(sent),
                  bytes_sent=sum(size for diff_id, size in layers
                                 if any(diff_id.split(":")[-1].startswith(short) for short in sent)))
    if not is_static(tag):
        registry.retag(name, target, tag)  # the floating tag moves only after the revision is verified
    return result


def lock_entries(results, registry):
    return {r["name"]: "%s@%s" % (r["ref"], r["digest"]) for r in results if r.get("digest")}


def write_lock_files(entries, path_base):
    """Write PATH.yaml and PATH.json atomically: image -> registry/ns/name:tag-N@sha256:digest."""
    os.makedirs(os.path.dirname(path_base) or ".", exist_ok=True)
    yaml_text = "---\n# containergen.images lock file: image -> registry/namespace/name:tag-revision@digest\n"
    yaml_text += "images:\n" + "".join("  %s: %s\n" % (name, json.dumps(ref)) for name, ref in sorted(entries.items()))
    for path, text in ((path_base + ".yaml", yaml_text),
                       (path_base + ".json", json.dumps({"images": entries}, indent=2, sort_keys=True) + "\n")):
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                if handle.read() == text:
                    continue
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(path + ".tmp", path)
    return [path_base + ".yaml", path_base + ".json"]


def read_lock_file(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".json"):
        return json.loads(text)["images"]
    entries = {}
    for line in text.splitlines():
        match = re.match(r'^  ([^:#\s]+): (.+)$', line)
        if match:
            entries[match.group(1)] = json.loads(match.group(2))
    return entries


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


def cull_candidates(registry, name, tag, max_age_days, keep_digests, now=None):
    """Revisions of name:tag older than max_age_days whose digest no kept tag shares.

    distribution deletes by digest, removing every tag of that digest: a revision is kept when any
    tag that stays (another floating tag, a static, deployed or previous tag, a kept revision) or a
    locked digest shares its digest. The newest revision always stays.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    tags = registry.list_tags(name)
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


def _name_of(registry, repo):
    prefix = registry.repo("")
    if not repo.startswith(prefix):
        raise PublishError("lock file entry %s is not in %s" % (repo, prefix.rstrip("/")))
    return repo[len(prefix):]


def promote(registry, entries, check_mode=False):
    """Move 'deployed' to each image of a lock file, keeping the former one as 'previous'."""
    results = []
    for image, ref in sorted(entries.items()):
        repo, tag, digest = parse_lock_ref(ref)
        name = _name_of(registry, repo)
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
        if not check_mode:
            for revision in doomed:
                registry.delete(name, revision)
        results.append({"name": name, "deleted": doomed, "kept": kept})
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
    return diff
