# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The engine seam and the inspect stage.

Engine declares what the scheduler (_build), the base bootstrap, the pipeline and publishing ask
of an engine; every engine (_buildah, _docker, a test double) subclasses it. StepEngine is an
engine that builds in a working container step by step (buildah; podman-remote would be one too):
its build_image is that step loop, on a handful of primitives.

LocalStore is the one reading of the local image store: by reference, by fingerprint, by image
name, sizes, and the rule that decides whether an image is up to date, reused by fingerprint or
built. Plan status, the scheduler, the bootstrap and publish discovery all decide through it.
"""

from __future__ import annotations

import abc
import time
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._command import Cancelled
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    CONFIG_VERBS, FINGERPRINT_LABEL, IMAGE_LABEL, image_labels, manifest_script, parse_manifest,
)
from ansible_collections.containergen.images.plugins.module_utils._progress import install_prefix, run_step_label

ImageInfo = t.Dict[str, t.Any]  # {"id", "labels", "size"}


class Engine(abc.ABC):
    """What every engine does. Every method takes the Runner of the step (see _command) first."""

    name: t.ClassVar[str] = ""
    # skopeo's transport for the engine's store (publishing reads images through it)
    transport: t.ClassVar[str] = ""
    # the engine whose store may already hold a bootstrapped base (see adopt_base)
    donor_engine: t.ClassVar[t.Optional[str]] = None

    @classmethod
    def from_params(cls, params: t.Mapping[str, t.Any], donor: t.Optional["Engine"] = None) -> "Engine":
        """The engine the module or command line options ask for."""
        return cls()

    # ---- inspection -------------------------------------------------------------------------
    @abc.abstractmethod
    def list_images(self, run: t.Any) -> t.Dict[str, ImageInfo]:
        """All local images: {reference: {"id", "labels", "size"}}."""

    @abc.abstractmethod
    def dangling_images(self, run: t.Any) -> t.List[t.Dict[str, t.Any]]:
        """Images no reference names: [{"id", "labels", "created" (epoch seconds)}]."""

    @abc.abstractmethod
    def tag(self, run: t.Any, image_id: str, ref: str) -> None:
        """Name image_id ref as well."""

    @abc.abstractmethod
    def remove_image(self, run: t.Any, ref: str) -> None:
        """Remove an image (by reference or ID); no error when it cannot go (still used)."""

    # ---- base images ------------------------------------------------------------------------
    @abc.abstractmethod
    def pull(self, run: t.Any, source: str, ref: str) -> None:
        """Pull source and name it ref."""

    @abc.abstractmethod
    def import_rootfs(self, run: t.Any, tarball: str, ref: str, changes: t.List[str]) -> str:
        """Import a root filesystem tarball as ref (changes: --change arguments). Returns the ID."""

    def adopt_base(self, run: t.Any, ref: str, labels: t.Mapping[str, str], work_dir: str) -> t.Optional[str]:
        """Copy ref from another store of this host when it holds it with these labels (the same
        bootstrap recipe); returns the image ID, or None (then the base is made)."""
        return None

    def export_archive(self, run: t.Any, ref: str, path: str) -> None:
        """Write ref as a docker-archive tarball at path (for an engine that adopts from this one)."""
        raise NotImplementedError("engine %s cannot export images" % self.name)

    # ---- building ---------------------------------------------------------------------------
    @abc.abstractmethod
    def build_image(self, run: t.Any, planned: t.Any, profile: t.Mapping[str, t.Any], definitions_dir: str,
                    options: t.Any) -> t.Dict[str, t.Any]:
        """Build one planned image at planned.ref, labelled with _contract.image_labels.

        Returns {"image_id", "manifest", "timings"}. What a killed build would leave behind is
        recorded in options.journal (_build.Journal) as it appears. Raises CommandError (its
        subclasses Cancelled, CommandTimeout) for a failed, interrupted or timed-out build."""

    def source_date_epoch(self, run: t.Any, from_ref: str) -> t.Optional[int]:
        """The SOURCE_DATE_EPOCH of an image built on from_ref, or None when the engine does not
        build reproducibly (then the clock gives the created time)."""
        return None

    # ---- what a killed build leaves ----------------------------------------------------------
    def leftover_containers(self, run: t.Any, prefix: str = "cg-") -> t.List[str]:
        """Working containers a build left (none for an engine whose daemon removes them)."""
        return []

    def stop_leftover(self, container: str) -> t.List[int]:
        """Kill the processes a killed build left working on container; returns their ids."""
        return []

    def remove_container(self, run: t.Any, container: str) -> None:
        """Remove a working container; no error when it is gone."""


class StepEngine(Engine):
    """An engine that builds in a working container, one step at a time: from_image, run_step,
    configure, transfer, capture and commit; build_image is the loop over the planned steps."""

    @abc.abstractmethod
    def from_image(self, run: t.Any, from_ref: str, name: str) -> str:
        """Create a working container on from_ref; returns its (unique) name."""

    @abc.abstractmethod
    def run_step(self, run: t.Any, container: str, command: t.Union[str, t.List[str]],
                 shell: t.Optional[t.List[str]] = None, env: t.Optional[t.Mapping[str, str]] = None,
                 volumes: t.Optional[t.List[str]] = None) -> t.Any:
        """One RUN: a string through shell (/bin/sh -c by default), a list as argv."""

    @abc.abstractmethod
    def capture(self, run: t.Any, container: str, argv: t.List[str], user: str = "root") -> str:
        """Run argv in the container as user; returns its standard output."""

    @abc.abstractmethod
    def configure(self, run: t.Any, container: str, options: t.List[t.Tuple[str, t.Any]]) -> None:
        """Apply configuration steps [(verb, form)] (forms of _contract.step_form; label: a mapping,
        None removing a label)."""

    @abc.abstractmethod
    def transfer(self, run: t.Any, container: str, verb: str, sources: t.List[str], dest: str,
                 chown: t.Optional[str] = None) -> None:
        """ADD/COPY host paths into the container."""

    @abc.abstractmethod
    def commit(self, run: t.Any, container: str, ref: str, epoch: t.Optional[int] = None) -> str:
        """Commit the container as ref and remove it; returns the image ID. epoch (given only when
        source_date_epoch gave one): the created time and every file time of the new layer."""

    @abc.abstractmethod
    def remove_container(self, run: t.Any, container: str) -> None:
        """Remove a working container; no error when it is gone."""

    def keep_container(self, run: t.Any, container: str, name: str) -> str:
        """Keep a failed image's working container for debugging, out of the reach of the next
        build's cleanup of leftovers; returns the name it has now."""
        return container

    def build_image(self, run: t.Any, planned: t.Any, profile: t.Mapping[str, t.Any], definitions_dir: str,
                    options: t.Any) -> t.Dict[str, t.Any]:
        """Build one planned image in a fresh working container; returns {image_id, manifest, timings}."""
        timings = {"from": 0.0, "run": 0.0, "config": 0.0, "copy": 0.0, "commit": 0.0}

        def timed(kind: str, func: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
            start = time.monotonic()
            try:
                return func(*args, **kwargs)
            finally:
                timings[kind] += time.monotonic() - start

        forms = planned.step_forms()  # a step breaking its grammar fails before any container
        # progress: which step the image is at (options.step, see _build.BuildOptions)
        step = getattr(options, "step", None) or (lambda name, label: None)
        prefix, runs = install_prefix(profile), sum(1 for verb, dummy, dummy in forms if verb == "run")
        number = 0
        # Reproducible builds: one time for the whole image, the same at every rebuild of the plan.
        epoch = self.source_date_epoch(run, planned.from_ref)
        container = timed("from", self.from_image, run, planned.from_ref, planned.name)
        options.journal.add(planned.name, "containers", container)
        failed = True
        try:
            pending: t.List[t.Tuple[str, t.Any]] = []
            build_args: t.Dict[str, str] = {}
            shell = None
            sets_cmd = any(verb == "cmd" for verb, dummy, dummy in forms)
            for verb, arg, form in forms:
                if verb in CONFIG_VERBS:
                    pending.append((verb, form))
                    if verb == "entrypoint" and not sets_cmd:
                        pending.append(("cmd", []))  # as in a Containerfile: ENTRYPOINT resets the inherited CMD
                    if verb == "shell":
                        shell = form
                    continue
                if pending:
                    timed("config", self.configure, run, container, pending)
                    pending = []
                if verb == "arg":
                    key, dummy, value = arg.partition("=")
                    build_args[key] = value
                elif verb == "run":
                    number += 1
                    step(planned.name, run_step_label(arg, prefix, number, runs))
                    env = dict(options.build_env)
                    env.update(build_args)
                    if epoch is not None:  # useradd's dates, Python's hash-based .pyc files, ...
                        env["SOURCE_DATE_EPOCH"] = str(epoch)
                    timed("run", self.run_step, run, container, arg, shell=shell, env=env, volumes=options.volumes)
                elif verb in ("add", "copy"):
                    sources = planned.transfer_sources(arg, definitions_dir)  # only what the plan checked
                    step(planned.name, "copy")
                    timed("copy", self.transfer, run, container, verb, sources, form.dest, form.chown)
            # One exec for the profile's cleanup and the version manifest: cleanup output goes to the
            # log (stderr), the manifest is what the step prints.
            step(planned.name, "cleanup")
            manifest = parse_manifest(timed("run", self.capture, run, container,
                                            ["/bin/sh", "-c", manifest_script(profile)]))
            labels = image_labels(planned, profile, manifest, options, epoch)
            timed("config", self.configure, run, container, pending + [("label", labels)])
            step(planned.name, "commit")
            image_id = timed("commit", self.commit, run, container, planned.ref,
                             *([] if epoch is None else [epoch]))
            options.journal.drop(planned.name, "containers", container)  # commit removed it
            container = None
            failed = False
            return {"image_id": image_id, "manifest": manifest, "timings": timings}
        except Cancelled:
            failed = False  # an interrupted build keeps nothing
            raise
        finally:
            if container:
                # Not bound by the image's deadline nor stopped by an interrupt: a timed-out or
                # interrupted build must still be cleaned up.
                cleanup = run.child(deadline=None, log=run.log, cancel=False)
                interrupted = getattr(run, "cancel", None) is not None and run.cancel.is_set()
                if failed and getattr(options, "keep_failed", False) and not interrupted:
                    options.kept[planned.name] = self.keep_container(cleanup, container, planned.name)
                else:
                    self.remove_container(cleanup, container)
                options.journal.drop(planned.name, "containers", container)


# ---- the inspect stage -------------------------------------------------------------------------------

UP_TO_DATE, REUSE, BUILD = "up to date", "reuse", "build"


class LocalStore(object):
    """One listing of the local image store ({reference: {"id", "labels", "size"}}), read once
    and asked by every stage."""

    def __init__(self, images: t.Optional[t.Mapping[str, ImageInfo]] = None) -> None:
        self.images: t.Dict[str, ImageInfo] = dict(images or {})
        self._by_fingerprint: t.Dict[str, str] = {}
        for info in self.images.values():
            fingerprint = info["labels"].get(FINGERPRINT_LABEL)
            if fingerprint:
                self._by_fingerprint.setdefault(fingerprint, info["id"])

    @classmethod
    def read(cls, engine: Engine, run: t.Any) -> "LocalStore":
        return cls(engine.list_images(run))

    def get(self, ref: str) -> t.Optional[ImageInfo]:
        return self.images.get(ref)

    def __contains__(self, ref: object) -> bool:
        return ref in self.images

    def ids(self) -> t.Dict[str, str]:
        """{reference: image ID}: the identity of external bases in the plan's fingerprints."""
        return {ref: info["id"] for ref, info in self.images.items()}

    def size(self, ref: str) -> int:
        info = self.images.get(ref)
        return info["size"] if info else 0

    def by_fingerprint(self, fingerprint: str) -> t.Optional[str]:
        """The ID of a local image built from the same fingerprint (under any reference)."""
        return self._by_fingerprint.get(fingerprint)

    def labelled(self, ref: str, labels: t.Mapping[str, str]) -> t.Optional[str]:
        """The ID at ref when it carries all these labels (a bootstrapped base's recipe), else None."""
        info = self.images.get(ref)
        if info and all(info["labels"].get(key) == value for key, value in labels.items()):
            return info["id"]
        return None

    def decide(self, ref: str, fingerprint: str, force: bool = False) -> t.Tuple[str, t.Optional[str]]:
        """The build's skip rule: (UP_TO_DATE, id) when ref already holds this fingerprint,
        (REUSE, id) when another local image does (it is tagged, not built), else (BUILD, None)."""
        if force:
            return BUILD, None
        current = self.images.get(ref)
        if current and current["labels"].get(FINGERPRINT_LABEL) == fingerprint:
            return UP_TO_DATE, current["id"]
        if fingerprint in self._by_fingerprint:
            return REUSE, self._by_fingerprint[fingerprint]
        return BUILD, None

    def image_names(self, namespace: str, prefix: str, tag: str) -> t.List[str]:
        """Names of the containergen images under namespace/prefix*:tag (publish discovery)."""
        pattern = "%s/%s" % (namespace, prefix)
        return sorted(info["labels"][IMAGE_LABEL] for ref, info in self.images.items()
                      if ref.startswith(pattern) and ref.endswith(":" + tag) and info["labels"].get(IMAGE_LABEL))
