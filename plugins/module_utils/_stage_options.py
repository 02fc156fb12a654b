# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""One typed options object per stage (plan, build, publish; registry for promote/cull/report).

The defaults live here and nowhere else in the code: the modules' argument specs (_spec) and the
command line read them. An object is built once from validated parameters (from_params runs the
checks of _options), so the stages never see an unchecked or defaulted-elsewhere value.
"""

from __future__ import annotations

import dataclasses
import os
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import _engines, _options

# The defaults (the modules' DOCUMENTATION repeats them as text, as validate-modules requires).
PROFILE = "debian13"
LOCAL_NAMESPACE = "localhost/containergen"
REGISTRY_NAMESPACE = "containergen"
TAG = "latest"
ENGINE = _engines.DEFAULT_ENGINE
ENGINES = tuple(_engines.ENGINES)  # the names of the engines that exist
ISOLATION = "chroot"
ISOLATIONS = ("chroot", "oci")
REFRESH = "none"
REFRESHES = ("none", "updates")  # updates: check for package updates, rebuild the images they touch
HOIST = True  # apply the profile's hoist file (its shared layers); False: every image on its own parent
THREADS = 2
TIMEOUT = 1800
RETRIES = 1
WORK_DIR = "/var/tmp/containergen"
LOCK_DIR = "/run/lock"

Params = t.Mapping[str, t.Any]
T = t.TypeVar("T", bound="_Stage")


def collection_path(*parts: str) -> str:
    """A path inside this collection (vars/ is not a content type: it is loaded by explicit path)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(os.path.dirname(here)), *parts)


class _Stage(object):
    """from_params for the dataclasses below: unknown keys are ignored, None means the default."""

    CHECKS: t.ClassVar[t.Mapping[str, _options.Check]] = {}

    @classmethod
    def from_params(cls: t.Type[T], params: Params) -> T:
        """Check params (raises _options.OptionError for the first bad one), then build the object."""
        _options.validate(params, cls.CHECKS)
        names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in params.items() if k in names and v is not None})

    def replace(self: T, **changes: t.Any) -> T:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclasses.dataclass(frozen=True)
class PlanOptions(_Stage):
    """What selects and names the images: the image_plan module, and the first half of image_build."""

    CHECKS: t.ClassVar[t.Mapping[str, _options.Check]] = _options.DEFINITION_PARAMS

    definitions_path: str = ""  # empty: the collection's vars/images
    profiles_path: str = ""  # empty: the collection's vars/profiles
    profile: str = PROFILE
    include: t.Sequence[str] = ()
    exclude: t.Sequence[str] = ()
    namespace: str = LOCAL_NAMESPACE
    prefix: str = ""
    tag: str = TAG
    labels: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    extra_config: t.Optional[str] = None
    template_vars: t.Mapping[str, t.Any] = dataclasses.field(default_factory=dict)
    base_image: t.Optional[str] = None
    extra_roots: t.Sequence[str] = ()
    engine: str = ENGINE
    docker_host: t.Optional[str] = None
    isolation: str = ISOLATION
    refresh: str = REFRESH
    hoist: bool = HOIST  # apply the profile's hoist file (vars/hoist/PROFILE.yml) when it has one

    def __post_init__(self) -> None:
        # frozen: the derived paths are set through object.__setattr__, once
        if not self.definitions_path:
            object.__setattr__(self, "definitions_path", collection_path("vars", "images"))
        if not self.profiles_path:
            object.__setattr__(self, "profiles_path", collection_path("vars", "profiles"))


@dataclasses.dataclass(frozen=True)
class BuildOptions(PlanOptions):
    """The image_build module: the plan's options and how the build runs."""

    threads: int = THREADS
    timeout: int = TIMEOUT  # seconds per image, 0: no limit
    retries: int = RETRIES
    work_dir: str = WORK_DIR
    log_dir: t.Optional[str] = None  # None: WORK_DIR/logs
    summary_file: t.Optional[str] = None  # None: WORK_DIR/summary.json
    progress_file: t.Optional[str] = None
    force: bool = False
    keep_failed: bool = False  # keep a failed image's working container (buildah) to debug it
    sbom: bool = False  # SPDX and CycloneDX SBOMs of every image, in sbom/ next to the summary
    sizes: bool = False  # each built image's new layers measured for the size report (WORK_DIR/sizes)
    refresh_base: bool = False
    build_env: t.Mapping[str, str] = dataclasses.field(default_factory=dict)
    volumes: t.Sequence[str] = ()
    source_revision: str = ""
    source_url: str = ""

    @property
    def logs(self) -> str:
        return self.log_dir or os.path.join(self.work_dir, "logs")

    @property
    def summary_path(self) -> str:
        return self.summary_file or os.path.join(self.work_dir, "summary.json")

    @property
    def events_path(self) -> str:
        """The build's progress events (_progress), in the work dir."""
        return os.path.join(self.work_dir, "events.jsonl")


@dataclasses.dataclass(frozen=True)
class RegistryOptions(_Stage):
    """A registry and a namespace in it: image_promote, image_cull, image_report."""

    CHECKS: t.ClassVar[t.Mapping[str, _options.Check]] = _options.REGISTRY_PARAMS

    registry: str  # HOST[:PORT]
    namespace: str = REGISTRY_NAMESPACE
    authfile: t.Optional[str] = None
    cert_dir: t.Optional[str] = None
    tls_verify: bool = True
    sign_key: t.Optional[str] = None  # cosign-format private key: pushed revisions and moved tags are signed
    sign_passphrase_file: t.Optional[str] = None
    registries_d: t.Optional[str] = None  # skopeo --registries.d (use-sigstore-attachments for the registry)


@dataclasses.dataclass(frozen=True)
class PublishOptions(RegistryOptions):
    """image_publish: which local images go to the registry, under which tag, and the lock file."""

    CHECKS: t.ClassVar[t.Mapping[str, _options.Check]] = _options.PUBLISH_PARAMS

    tag: str = TAG
    images: t.Sequence[str] = ()  # empty: every containergen image under local_namespace:local_tag
    local_namespace: str = LOCAL_NAMESPACE
    local_prefix: str = ""
    local_tag: str = TAG
    lock_dir: str = LOCK_DIR
    lock_file: t.Optional[str] = None  # path without extension; None: no lock file
    events_file: t.Optional[str] = None  # progress events of the pushes (_progress); None: none
    sbom_dir: t.Optional[str] = None  # SBOMs pushed as OCI artifacts (made there when missing); None: none
    engine: str = ENGINE
    docker_host: t.Optional[str] = None
    isolation: str = ISOLATION
