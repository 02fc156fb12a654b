# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The engines by name: the one list the argument specs, the documentation and the command line
offer (a unit test holds them equal), and the engine an option names."""

from __future__ import annotations

import collections.abc
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._docker import DockerEngine
from ansible_collections.containergen.images.plugins.module_utils._engine import Engine

ENGINES: t.Dict[str, t.Type[Engine]] = {"buildah": BuildahEngine, "docker": DockerEngine}
DEFAULT_ENGINE = "buildah"


class _Attributes(object):
    """An options object read as a mapping (engines read their options with .get)."""

    def __init__(self, options: t.Any) -> None:
        self._options = options

    def get(self, key: str, default: t.Any = None) -> t.Any:
        return getattr(self._options, key, default)


def make_engine(params: t.Any) -> Engine:
    """The engine params name ('engine'; buildah by default), with its donor engine if any.

    params: a mapping, or an options object with attributes (engine, docker_host, isolation)."""
    params = params if isinstance(params, collections.abc.Mapping) else _Attributes(params)
    name = params.get("engine") or DEFAULT_ENGINE
    if name not in ENGINES:
        raise ValueError("engine %r: must be one of %s" % (name, ", ".join(ENGINES)))
    engine = ENGINES[name]
    donor = ENGINES[engine.donor_engine].from_params({}) if engine.donor_engine else None
    return engine.from_params(params, donor=donor)
