# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The Docker engine: the same definitions built through the Docker SDK from a rendered Containerfile.

Each image takes two builds on the daemon:

1. The image's steps on its parent, with consecutive RUN steps joined into one RUN and the
   profile's cleanup plus the version manifest query appended to the last one. When the daemon
   allows ``--squash`` (experimental features on), the image's own steps become one layer; without
   it, each RUN group and each COPY/ADD is a layer. The manifest is read from the build output.
2. ``FROM`` that result with the labels (fingerprint, manifest and its digest, OCI labels): labels
   are configuration only, so no layer is added. Only this build tags the image, so a failure never
   leaves an image at the reference carrying a fingerprint it does not match.

Build-time settings (proxies) are build arguments: the predefined proxy arguments are not recorded
in the image. The daemon removes the build containers itself (forcerm), also when a build is
cancelled at its deadline or by an interrupt by closing the connection. The images the steps
commit are recorded in the build journal as they appear, so that a later build removes them when
this process is killed before it could.
"""

from __future__ import annotations

import io
import os
import re
import socket
import tarfile
import tempfile
import threading
import time
import traceback
import typing as t
import uuid

from ansible_collections.containergen.images.plugins.module_utils._command import (
    Cancelled, CommandError, CommandTimeout,
)
from ansible_collections.containergen.images.plugins.module_utils._containerfile import (
    label_containerfile, render_containerfile,
)
from ansible_collections.containergen.images.plugins.module_utils._contract import image_labels, parse_manifest
from ansible_collections.containergen.images.plugins.module_utils._engine import Engine, LocalStore

try:
    import docker
    import docker.errors
    import requests.exceptions
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:  # reported when the engine is created
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

CONTAINERFILE = "Containerfile"
_STEP_ID_RE = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$", re.M)


class EngineError(CommandError):
    """The daemon or the SDK failed (as a CommandError, so that callers handle both engines alike)."""

    def __init__(self, message, argv=("docker",)):
        CommandError.__init__(self, list(argv), 1, message)
        self.args = (message,)


def _context(containerfile, files=None):
    """An uncompressed tar build context in memory (the context holds only the copied sources)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = containerfile.encode("utf-8")
        info = tarfile.TarInfo(CONTAINERFILE)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))
        for name, path in sorted((files or {}).items()):
            tar.add(path, arcname=name)
    buffer.seek(0)
    return buffer


# terminal control sequences a RUN step leaves in the build output (colour resets before the
# next line would otherwise hide the marker's line start)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def extract_manifest(output, marker):
    start, end = "\n%s\n" % marker, "\n%s-end\n" % marker
    text = "\n" + _ANSI.sub("", output)
    if start not in text or end not in text:
        raise EngineError("the build printed no version manifest (marker %s missing)" % marker)
    return parse_manifest(text.split(start, 1)[1].split(end, 1)[0])


if HAS_DOCKER:
    class _Client(docker.APIClient):
        """Keeps the last streaming response so that a watchdog can cut it at the deadline."""

        streaming = None

        def _stream_helper(self, response, decode=False):
            self.streaming = response
            return super(_Client, self)._stream_helper(response, decode)

        def cut(self):
            """Shut the streaming connection down: the daemon then cancels the build (kills and
            removes its container), and the reading thread sees the stream end."""
            if self.streaming is not None:
                sock = self._get_raw_response_socket(self.streaming)
                try:
                    getattr(sock, "_sock", sock).shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class DockerEngine(Engine):
    name = "docker"
    transport = "docker-daemon:"
    donor_engine = "buildah"  # podman's store: a base bootstrapped for buildah is copied, not made again

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], donor: t.Optional[Engine] = None) -> "DockerEngine":
        return cls(base_url=params.get("docker_host"), donor=donor)

    def __init__(self, base_url: t.Optional[str] = None, network: str = "host", squash: t.Any = "auto",
                 client: t.Any = None, donor: t.Optional[Engine] = None,
                 connect: t.Optional[t.Callable[[], t.Any]] = None) -> None:
        """squash: True, False or "auto" (when the daemon runs with experimental features).
        donor: an engine whose store may already hold the bootstrapped base (podman's).
        client, connect: the SDK client, and a callable giving a fresh one per build (test seams)."""
        self.base_url = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        self.network = network
        self.squash_mode = squash
        self._client = client
        self._squash = None
        self.donor = donor
        self._connect = connect

    def client(self):
        if self._client is None:
            if not HAS_DOCKER:
                raise EngineError("engine docker needs the Python package 'docker' (Docker SDK for Python): %s"
                                  % DOCKER_IMPORT_ERROR.strip().splitlines()[-1])
            try:
                self._client = _Client(base_url=self.base_url, version="auto")
            except docker.errors.DockerException as exc:
                raise EngineError("cannot reach the Docker daemon at %s: %s" % (self.base_url, exc))
        return self._client

    def api(self, action, method, *args, **kwargs):
        """Call the SDK; a daemon or connection failure becomes an EngineError naming the action."""
        client = self.client()
        try:
            return getattr(client, method)(*args, **kwargs)
        except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise EngineError("docker %s failed: %s" % (action, exc), ["docker", action])

    def squash(self):
        if self._squash is None:
            self._squash = self.squash_mode if self.squash_mode != "auto" else \
                bool(self.api("info", "info").get("ExperimentalBuild"))
        return self._squash

    # ---- inspection -------------------------------------------------------------------------
    def list_images(self, run: t.Any) -> t.Dict[str, t.Dict[str, t.Any]]:
        images = {}
        for item in self.api("images", "images"):
            info = {"id": item["Id"].split(":", 1)[-1], "labels": item.get("Labels") or {},
                    "size": item.get("Size") or 0}
            for ref in item.get("RepoTags") or []:
                if ref != "<none>:<none>":
                    images[ref] = info
        return images

    def tag(self, run: t.Any, image_id: str, ref: str) -> None:
        repository, tag = split_ref(ref)
        _log(run, "# docker tag %s %s\n" % (image_id, ref))
        self.api("tag", "tag", image_id, repository, tag)

    def remove_image(self, run: t.Any, ref: str) -> None:
        try:
            self.api("rmi", "remove_image", ref)
        except EngineError:
            pass

    def dangling_images(self, run: t.Any) -> t.List[t.Dict[str, t.Any]]:
        """Top-level images no tag names: [{"id", "labels", "created" (epoch seconds)}]."""
        return [{"id": item["Id"].split(":", 1)[-1], "labels": item.get("Labels") or {},
                 "created": int(item.get("Created") or 0)}
                for item in self.api("images", "images", filters={"dangling": True})]

    # leftover_containers, stop_leftover, remove_container: the Engine defaults (nothing): the daemon
    # removes build containers itself, also when a build is cancelled.

    # ---- base images ------------------------------------------------------------------------
    def import_rootfs(self, run: t.Any, tarball: str, ref: str, changes: t.List[str]) -> str:
        repository, tag = split_ref(ref)
        self.api("import", "import_image_from_file", tarball, repository=repository, tag=tag,
                 changes=[c for c in changes if c != "--change"])
        return self.api("inspect", "inspect_image", ref)["Id"].split(":", 1)[-1]

    def pull(self, run: t.Any, source: str, ref: str) -> None:
        repository, tag = split_ref(source)
        self.api("pull", "pull", repository, tag=tag)
        if source != ref:
            self.tag(run, source, ref)

    def adopt_base(self, run: t.Any, ref: str, labels: t.Mapping[str, str], work_dir: str) -> t.Optional[str]:
        """Copy ref from the donor engine's store when it holds it with these labels (podman save |
        docker load, through a file). Returns the image ID, or None."""
        if self.donor is None or LocalStore.read(self.donor, run).labelled(ref, labels) is None:
            return None
        os.makedirs(work_dir, exist_ok=True)
        handle, archive = tempfile.mkstemp(prefix="base-", suffix=".tar", dir=work_dir)
        os.close(handle)
        try:
            os.unlink(archive)  # podman save refuses to overwrite
            self.donor.export_archive(run, ref, archive)
            with open(archive, "rb") as data:
                self.api("load", "load_image", data)
        finally:
            if os.path.exists(archive):
                os.unlink(archive)
        return self.api("inspect", "inspect_image", ref)["Id"].split(":", 1)[-1]

    # ---- building ---------------------------------------------------------------------------
    def build_image(self, run: t.Any, planned: t.Any, profile: t.Mapping[str, t.Any], definitions_dir: str,
                    options: t.Any) -> t.Dict[str, t.Any]:
        """Build one planned image; returns {image_id, manifest, timings} like the buildah engine."""
        timings = {"from": 0.0, "run": 0.0, "config": 0.0, "copy": 0.0, "commit": 0.0}
        marker = "containergen-manifest-%s" % uuid.uuid4().hex[:12]
        try:
            containerfile, files, labels = render_containerfile(planned, profile, definitions_dir, marker,
                                                                options.build_env)
        except ValueError as exc:
            raise EngineError(str(exc), ["docker", "build", planned.name])
        _log(run, "# Containerfile (squash: %s)\n%s" % (self.squash(), containerfile))
        start = time.monotonic()
        journal = getattr(options, "journal", None)

        def record(image_id):
            if journal is not None:
                journal.add(planned.name, "images", image_id)

        staged, output = self._build(run, planned.name, _context(containerfile, files), squash=self.squash(),
                                     buildargs=dict(options.build_env), nocache=True, record=record)
        record(staged)
        timings["run"] = time.monotonic() - start
        try:
            manifest = extract_manifest(output, marker)
            labels.update(image_labels(planned, profile, manifest, options))
            start = time.monotonic()
            image_id = self._build(run, planned.name, _context(label_containerfile(staged, labels)),
                                   tag=planned.ref)[0]
            timings["config"] = time.monotonic() - start
        except Exception:
            self.remove_image(run, staged)
            raise
        return {"image_id": image_id, "manifest": manifest, "timings": timings}

    def _build(self, run, name, context, record=None, **kwargs):
        """One build on the daemon; returns (image ID, output). Cancelled at the runner's deadline
        or when the runner's build is interrupted; record(image ID) is called for each step image.

        Each build has its own connection, so that cancelling one never cuts a parallel build."""
        argv = ["docker", "build", name]
        interrupt = run.cancel
        if interrupt is not None and interrupt.is_set():
            raise Cancelled(argv, interrupt.reason)
        if self._connect:
            client = self._connect()
        else:
            client = _Client(base_url=self.base_url, version=self.client().api_version)
        left = None
        if run.deadline is not None:
            left = run.deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(argv, 0)
        cut, finished = threading.Event(), threading.Event()

        def watch():
            deadline = None if left is None else time.monotonic() + left
            while not finished.wait(0.2):
                if (deadline is not None and time.monotonic() >= deadline) or \
                        (interrupt is not None and interrupt.is_set()):
                    cut.set()
                    client.cut()
                    return

        watchdog = threading.Thread(target=watch, daemon=True) if left is not None or interrupt is not None else None
        chunks, image_id, error, seen = [], None, None, []
        try:
            if watchdog:
                watchdog.start()
            for item in client.build(fileobj=context, custom_context=True, dockerfile=CONTAINERFILE, rm=True,
                                     forcerm=True, network_mode=self.network, decode=True, pull=False, **kwargs):
                if "stream" in item:
                    chunks.append(item["stream"])
                    _log(run, item["stream"])
                    for step in _STEP_ID_RE.findall(item["stream"]):
                        seen.append(step)
                        if record is not None and len(seen) > 1:  # the first is the FROM image
                            record(step)
                elif "error" in item:
                    error = item["error"]
                    _log(run, "ERROR: %s\n" % error)
                elif "aux" in item and "ID" in item["aux"]:
                    image_id = item["aux"]["ID"]
        except Exception as exc:  # the cut connection, or the daemon went away
            if not cut.is_set():
                raise CommandError(argv, 1, "".join(chunks[-20:]) + "\n%s: %s" % (type(exc).__name__, exc))
        finally:
            finished.set()
            if watchdog:
                watchdog.join()
            client.close()
        output = "".join(chunks)
        steps = _STEP_ID_RE.findall(output)[1:]  # the first is the FROM image
        if cut.is_set():
            interrupted = interrupt is not None and interrupt.is_set()
            # the daemon still tears the cancelled build down; what stays is swept from the journal
            self._discard(run, steps, wait=10 if interrupted else 30)
            if interrupted:
                raise Cancelled(argv, interrupt.reason)
            raise CommandTimeout(argv, left)
        if error or not image_id:
            self._discard(run, steps)
            raise CommandError(argv, 1, "".join(chunks[-20:]) + (error or "no image ID in the build output"))
        image_id = image_id.split(":", 1)[-1]
        if kwargs.get("squash") and steps and not image_id.startswith(steps[-1]):
            self._discard(run, steps)  # squash keeps the unsquashed chain as dangling images: drop it
        return image_id, output

    def _discard(self, run, steps, wait=0):
        """Remove the untagged images a build left behind (removing the last prunes its parents).
        wait: seconds to keep trying while the image is still in use (a cancelled build's container)."""
        if not steps:
            return
        _log(run, "# removing intermediate image %s\n" % steps[-1])
        deadline = time.monotonic() + wait
        while True:
            try:
                self.api("rmi", "remove_image", steps[-1])
                return
            except EngineError as exc:
                if "No such image" in str(exc) or time.monotonic() >= deadline:
                    return
            time.sleep(0.5)


def split_ref(ref):
    """'host:5000/ns/name:tag' -> ('host:5000/ns/name', 'tag')."""
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


def _log(run, text):
    if run.log is not None:
        run.log.write(text.encode("utf-8", "replace"))
        run.log.flush()
