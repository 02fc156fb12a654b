# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Argument spec shared by the image modules (documented by the containergen.images._definitions fragment)."""

from __future__ import annotations

import contextlib

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError


def definitions_argument_spec(**extra):
    spec = {
        "definitions_path": {"type": "path", "required": True},
        "profiles_path": {"type": "path", "required": True},
        "profile": {"type": "str", "default": "debian13"},
        "include": {"type": "list", "elements": "str", "default": []},
        "exclude": {"type": "list", "elements": "str", "default": []},
        "namespace": {"type": "str", "default": "localhost/containergen"},
        "prefix": {"type": "str", "default": ""},
        "tag": {"type": "str", "default": "latest"},
        "labels": {"type": "dict", "default": {}},
        "extra_config": {"type": "path"},
        "template_vars": {"type": "dict", "default": {}},
        "base_image": {"type": "str"},
        "extra_roots": {"type": "list", "elements": "path", "default": []},
    }
    spec.update(extra)
    return spec


ENGINES = ("buildah", "docker")


def engine_argument_spec(**extra):
    """The local image store's engine (documented by the containergen.images._engine fragment)."""
    spec = {
        "engine": {"type": "str", "default": "buildah", "choices": list(ENGINES)},
        "docker_host": {"type": "str"},
    }
    spec.update(extra)
    return spec


def registry_argument_spec(**extra):
    """Options of every module that talks to a registry (documented by containergen.images._registry)."""
    spec = {
        "registry": {"type": "str", "required": True},
        "namespace": {"type": "str", "default": "containergen"},
        "authfile": {"type": "path"},
        "cert_dir": {"type": "path"},
        "tls_verify": {"type": "bool", "default": True},
    }
    spec.update(extra)
    return spec


@contextlib.contextmanager
def failing_on(module, *errors):
    """Turn the given errors into module failures with their message (and a failed command's argv)."""
    try:
        yield
    except CommandError as exc:
        module.fail_json(msg=str(exc), command=exc.argv)
    except errors as exc:
        module.fail_json(msg=str(exc))
