# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The buildah engine: native from/run/config/commit, one new layer per image on its parent.

A StepEngine (see _engine): the step loop is the base class's build_image; this module gives its
primitives and formats the step forms of _contract as buildah flags.

Every method takes a Runner (see _command) so that unit tests can assert the exact argv.
Image inspection uses podman, which reads the same containers/storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import tempfile
import time
import typing as t
import uuid

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, kill_leftover_groups
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    Healthcheck, epoch_from_environment, exec_words, parse_healthcheck,
)
from ansible_collections.containergen.images.plugins.module_utils._engine import StepEngine

# Steps that only change the image configuration, mapped to their `buildah config` flag.
CONFIG_FLAGS = {
    "user": "--user", "workdir": "--workingdir", "env": "--env", "entrypoint": "--entrypoint",
    "cmd": "--cmd", "expose": "--port", "volume": "--volume", "stopsignal": "--stop-signal",
    "onbuild": "--onbuild", "shell": "--shell",
}


# A failed image's working container kept with keep_failed (see keep_container).
KEPT_PREFIX = "containergen-failed-"


class BuildahEngine(StepEngine):
    name = "buildah"
    transport = "containers-storage:"

    def __init__(self, buildah: str = "buildah", podman: str = "podman", isolation: str = "chroot",
                 network: str = "host", skopeo: str = "skopeo") -> None:
        self.buildah = buildah
        self.podman = podman
        self.skopeo = skopeo
        self.isolation = isolation
        self.network = network

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], donor: t.Optional[StepEngine] = None) -> "BuildahEngine":
        return cls(isolation=params.get("isolation") or "chroot")

    # ---- inspection -------------------------------------------------------------------------
    def list_images(self, run: t.Any, attempts: int = 6) -> t.Dict[str, t.Dict[str, t.Any]]:
        """All local images: {reference: {"id", "labels", "size"}}.

        podman fails ("image not known") when another process removes an image while it lists:
        that race is retried."""
        for attempt in range(attempts):
            rc, out, err = run([self.podman, "images", "--format", "json"], check=False)
            if rc == 0:
                break
            if "image not known" not in err or attempt == attempts - 1:
                raise CommandError([self.podman, "images"], rc, err)
            time.sleep(1)
        images = {}
        for item in json.loads(out or "[]"):
            info = {"id": item.get("Id"), "labels": item.get("Labels") or {}, "size": item.get("Size") or 0}
            for name in item.get("Names") or []:
                images[name] = info
        return images

    def dangling_images(self, run: t.Any) -> t.List[t.Dict[str, t.Any]]:
        """Images no reference names: [{"id", "labels", "created" (epoch seconds)}]."""
        out = run([self.podman, "images", "--filter", "dangling=true", "--format", "json"], check=False)[1]
        try:
            items = json.loads(out or "[]")
        except ValueError:
            return []
        return [{"id": item.get("Id") or "", "labels": item.get("Labels") or {}, "created": int(item.get("Created") or 0)}
                for item in items or [] if item.get("Id")]

    def tag(self, run: t.Any, image_id: str, ref: str) -> None:
        run([self.buildah, "tag", image_id, ref])

    def remove_image(self, run: t.Any, ref: str) -> None:
        run([self.buildah, "rmi", ref], check=False)

    # ---- base images ------------------------------------------------------------------------
    def import_rootfs(self, run: t.Any, tarball: str, ref: str, changes: t.List[str]) -> str:
        """Import a root filesystem tarball as ref; changes are --change arguments. Returns the ID."""
        out = run([self.podman, "import", "--quiet"] + list(changes) + [tarball, ref])[1]
        return out.strip().splitlines()[-1].replace("sha256:", "")

    def pull(self, run: t.Any, source: str, ref: str) -> None:
        run([self.podman, "pull", "--quiet", source])
        if source != ref:
            run([self.podman, "tag", source, ref])

    def export_archive(self, run: t.Any, ref: str, path: str) -> None:
        run([self.podman, "save", "--quiet", "--format", "docker-archive", "-o", path, ref])

    # ---- building ---------------------------------------------------------------------------
    def from_image(self, run: t.Any, from_ref: str, name: str) -> str:
        """Create the working container; its name is unique so that parallel builds never clash."""
        container = "cg-%s-%s" % (name, uuid.uuid4().hex[:8])
        run([self.buildah, "from", "--pull=never", "--quiet", "--name", container, from_ref])
        return container

    def run_step(self, run: t.Any, container: str, command: t.Union[str, t.List[str]],
                 shell: t.Optional[t.List[str]] = None, env: t.Optional[t.Mapping[str, str]] = None,
                 volumes: t.Optional[t.List[str]] = None) -> t.Any:
        """One RUN: a string goes through the shell (/bin/sh -c unless SHELL was set); a list is argv.
        Volumes are bind mounts for this step only: nothing of them lands in the image."""
        argv = [self.buildah, "run", "--isolation", self.isolation, "--network", self.network]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", "%s=%s" % (key, value)]
        for volume in volumes or []:
            argv += ["--volume", volume]
        argv += [container, "--"]
        if isinstance(command, list):
            argv += command
        else:
            argv += (shell or ["/bin/sh", "-c"]) + [command]
        return run(argv, capture=False)

    def capture(self, run: t.Any, container: str, argv: t.List[str], user: str = "root") -> str:
        """Run argv in the working container as user and return its standard output."""
        return run([self.buildah, "run", "--isolation", self.isolation, "--network", self.network, "--user", user,
                    container, "--"] + list(argv))[1]

    def configure(self, run: t.Any, container: str, options: t.List[t.Tuple[str, t.Any]]) -> None:
        """Apply a batch of config steps [(verb, form)] in one `buildah config` call (a plain
        argument is taken as well: its form is parsed here)."""
        argv = [self.buildah, "config"]
        for verb, arg in options:
            if verb == "label":
                for key, value in sorted(arg.items()):  # None removes an inherited label
                    argv += ["--label", "%s-" % key if value is None else "%s=%s" % (key, value)]
            elif verb == "healthcheck":
                argv += healthcheck_flags(arg)
            elif verb in ("entrypoint", "cmd"):
                argv += [CONFIG_FLAGS[verb], json.dumps(exec_words(arg))]
            elif verb == "shell":
                argv += [CONFIG_FLAGS[verb], arg if isinstance(arg, str) else " ".join(arg)]
            else:
                argv += [CONFIG_FLAGS[verb], arg]
        argv.append(container)
        run(argv)

    def transfer(self, run: t.Any, container: str, verb: str, sources: t.List[str], dest: str,
                 chown: t.Optional[str] = None) -> None:
        argv = [self.buildah, verb]
        if chown:
            argv += ["--chown", chown]
        run(argv + [container] + list(sources) + [dest])

    def source_date_epoch(self, run: t.Any, from_ref: str) -> t.Optional[int]:
        """SOURCE_DATE_EPOCH from the builder's environment, else the created time of the image
        built on: a bootstrapped or pulled base gives its own, and every image of the chain above
        it inherits that time (its parent was committed with it), so the time is fixed by the
        plan's base image, never by the clock of the build."""
        epoch = epoch_from_environment()
        if epoch is not None:
            return epoch
        argv = [self.podman, "image", "inspect", "--format", "{{.Created.Unix}}", from_ref]
        words = run(argv)[1].split()
        if not words or not words[-1].isdigit():
            raise CommandError(argv, 0, "no created time of %s in podman's answer" % from_ref)
        return int(words[-1])

    def commit(self, run: t.Any, container: str, ref: str, epoch: t.Optional[int] = None) -> str:
        """Commit the working container as ref (docker format: keeps HEALTHCHECK). Returns the image ID.

        epoch: a reproducible commit. buildah's --timestamp sets the created time, the history
        entry's time and every file time of the new layer; no io.buildah.version label (the
        builder's version is not content). buildah 1.28 still writes the working container's
        random ID into the docker config: normalize_config drops it."""
        argv = [self.buildah, "commit", "--quiet", "--format", "docker"]
        if epoch is not None:
            argv += ["--timestamp", str(epoch), "--identity-label=false"]
        out = run(argv + ["--rm", container, ref])[1]
        image_id = out.strip().splitlines()[-1] if out.strip() else ""
        if epoch is None or not image_id:
            return image_id
        return self.normalize_config(run, ref, image_id)

    def normalize_config(self, run: t.Any, ref: str, image_id: str) -> str:
        """Store ref again without the "container" key of its docker config; returns the new ID.

        Only the manifest and the config are written (a dir: layout without layers): the store
        already holds every layer, so skopeo reuses them by digest and copies no file. The
        image it replaces (the same layers) is removed."""
        source = "containers-storage:" + ref
        config = run([self.skopeo, "inspect", "--config", "--raw", source])[1].encode("utf-8")
        if hashlib.sha256(config).hexdigest() != image_id.replace("sha256:", ""):
            return image_id  # not the bytes the ID was made from (not UTF-8?): left as committed
        # Go writes the config's top level keys in a fixed order; "container" is one of them.
        plain, count = re.subn(rb',"container":"[0-9a-f]{64}"', b"", config, count=1)
        if not count:
            return image_id
        manifest = json.loads(run([self.skopeo, "inspect", "--raw", source])[1])
        digest = hashlib.sha256(plain).hexdigest()
        manifest["config"].update(digest="sha256:" + digest, size=len(plain))
        layout = tempfile.mkdtemp(prefix="cg-normalize-")
        try:
            with open(os.path.join(layout, "version"), "w", encoding="utf-8") as handle:
                handle.write("Directory Transport Version: 1.1\n")
            with open(os.path.join(layout, "manifest.json"), "w", encoding="utf-8") as handle:
                json.dump(manifest, handle, separators=(",", ":"))
            with open(os.path.join(layout, digest), "wb") as handle:
                handle.write(plain)
            run([self.skopeo, "copy", "--quiet", "dir:" + layout, source])
        finally:
            shutil.rmtree(layout, ignore_errors=True)
        run([self.buildah, "rmi", image_id], check=False)
        return digest

    def remove_container(self, run: t.Any, container: str) -> None:
        run([self.buildah, "rm", container], check=False)

    def keep_container(self, run: t.Any, container: str, name: str) -> str:
        """Rename a failed image's working container out of the cg- prefix that the next build's
        cleanup of leftovers removes; on a failed rename it stays as it is (and the next build removes it)."""
        kept = KEPT_PREFIX + container[len("cg-"):] if container.startswith("cg-") else KEPT_PREFIX + container
        returncode = run([self.buildah, "rename", container, kept], check=False)[0]
        return kept if returncode == 0 else container

    def stop_leftover(self, container: str) -> t.List[int]:
        """Kill the buildah processes a killed build left working on container (a RUN step goes on
        when only the build process is killed; a commit would still name its image)."""
        def match(argv):
            return os.path.basename(argv[0]) == os.path.basename(self.buildah) and len(argv) > 2 \
                and argv[1] in ("run", "commit", "copy", "add", "config") and container in argv[2:]
        return kill_leftover_groups(match)

    def leftover_containers(self, run: t.Any, prefix: str = "cg-") -> t.List[str]:
        out = run([self.buildah, "containers", "--format", "{{.ContainerName}}"], check=False)[1]
        return [name for name in out.split() if name.startswith(prefix)]


_HEALTHCHECK_OPTIONS = {"--interval": "--healthcheck-interval", "--timeout": "--healthcheck-timeout",
                        "--start-period": "--healthcheck-start-period", "--retries": "--healthcheck-retries"}


def healthcheck_flags(spec: t.Any) -> t.List[str]:
    """A HEALTHCHECK (its _contract.Healthcheck form, or the argument) as buildah flags, with
    Containerfile semantics: an exec form runs the command directly, a shell form (CMD-SHELL) runs
    it through the shell."""
    form = spec if isinstance(spec, Healthcheck) else parse_healthcheck(spec)
    if form.kind == "NONE":
        return ["--healthcheck", "NONE"]
    flags = [flag for key, value in form.options for flag in (_HEALTHCHECK_OPTIONS[key], value)]
    if form.kind == "EXEC":
        return ["--healthcheck", "CMD " + " ".join(shlex.quote(w) for w in form.command)] + flags
    # buildah splits the value into words like a shell: quote the command to keep it one string.
    return ["--healthcheck", "CMD-SHELL " + shlex.quote(form.command)] + flags
