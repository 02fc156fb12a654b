# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Argument specs of the image modules; their defaults are those of _stage_options."""

from __future__ import annotations

import contextlib
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import _stage_options as defaults
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError

ENGINES = defaults.ENGINES


def definitions_argument_spec(**extra: t.Any) -> t.Dict[str, t.Any]:
    """Options of image_plan and image_build (documented by the containergen.images._definitions fragment)."""
    spec = {
        "definitions_path": {"type": "path", "required": True},
        "profiles_path": {"type": "path", "required": True},
        "profile": {"type": "str", "default": defaults.PROFILE},
        "include": {"type": "list", "elements": "str", "default": []},
        "exclude": {"type": "list", "elements": "str", "default": []},
        "namespace": {"type": "str", "default": defaults.LOCAL_NAMESPACE},
        "prefix": {"type": "str", "default": ""},
        "tag": {"type": "str", "default": defaults.TAG},
        "labels": {"type": "dict", "default": {}},
        "extra_config": {"type": "path"},
        "template_vars": {"type": "dict", "default": {}},
        "base_image": {"type": "str"},
        "extra_roots": {"type": "list", "elements": "path", "default": []},
        "refresh": {"type": "str", "default": defaults.REFRESH, "choices": list(defaults.REFRESHES)},
        "hoist": {"type": "bool", "default": defaults.HOIST},
    }
    spec.update(extra)
    return spec


def engine_argument_spec(**extra: t.Any) -> t.Dict[str, t.Any]:
    """The local image store's engine (documented by the containergen.images._engine fragment)."""
    spec = {
        "engine": {"type": "str", "default": defaults.ENGINE, "choices": list(ENGINES)},
        "docker_host": {"type": "str"},
    }
    spec.update(extra)
    return spec


def registry_argument_spec(**extra: t.Any) -> t.Dict[str, t.Any]:
    """Options of every module that talks to a registry (documented by containergen.images._registry)."""
    spec = {
        "registry": {"type": "str", "required": True},
        "namespace": {"type": "str", "default": defaults.REGISTRY_NAMESPACE},
        "authfile": {"type": "path"},
        "cert_dir": {"type": "path"},
        "tls_verify": {"type": "bool", "default": True},
        "sign_key": {"type": "path"},
        "sign_passphrase_file": {"type": "path"},
        "registries_d": {"type": "path"},
    }
    spec.update(extra)
    return spec


def build_argument_spec() -> t.Dict[str, t.Any]:
    """image_build's options: the plan's and how the build runs."""
    return definitions_argument_spec(**engine_argument_spec(
        threads={"type": "int", "default": defaults.THREADS},
        timeout={"type": "int", "default": defaults.TIMEOUT},
        retries={"type": "int", "default": defaults.RETRIES},
        work_dir={"type": "path", "default": defaults.WORK_DIR},
        log_dir={"type": "path"},
        summary_file={"type": "path"},
        progress_file={"type": "path"},
        force={"type": "bool", "default": False},
        keep_failed={"type": "bool", "default": False},
        sbom={"type": "bool", "default": False},
        sizes={"type": "bool", "default": False},
        refresh_base={"type": "bool", "default": False},
        build_env={"type": "dict", "default": {}, "no_log": True},
        volumes={"type": "list", "elements": "str", "default": []},
        isolation={"type": "str", "default": defaults.ISOLATION, "choices": list(defaults.ISOLATIONS)},
        source_revision={"type": "str", "default": ""},
        source_url={"type": "str", "default": ""},
    ))


def publish_argument_spec() -> t.Dict[str, t.Any]:
    """image_publish's options: the registry's, the local store's and what to publish."""
    return registry_argument_spec(**engine_argument_spec(
        tag={"type": "str", "default": defaults.TAG},
        images={"type": "list", "elements": "str", "default": []},
        local_namespace={"type": "str", "default": defaults.LOCAL_NAMESPACE},
        local_prefix={"type": "str", "default": ""},
        local_tag={"type": "str", "default": defaults.TAG},
        lock_dir={"type": "path", "default": defaults.LOCK_DIR},
        lock_file={"type": "path"},
        events_file={"type": "path"},
        sbom_dir={"type": "path"},
    ))


@contextlib.contextmanager
def failing_on(module: t.Any, *errors: t.Type[Exception]) -> t.Iterator[None]:
    """Turn the given errors into module failures with their message (and a failed command's argv)."""
    try:
        yield
    except CommandError as exc:
        module.fail_json(msg=str(exc), command=exc.argv)
    except errors as exc:
        module.fail_json(msg=str(exc))
