# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The import layering of plugins/module_utils (docs/architecture.md), read from the sources."""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
UTILS = os.path.join(ROOT, "plugins", "module_utils")
PACKAGE = "ansible_collections.containergen.images.plugins.module_utils"

# Floors, bottom first: a module imports only modules of lower floors (docs/architecture.md).
FLOORS = {
    "_progress": 0,  # the build's progress events: nothing of ours
    "_validate": 0, "_command": 0, "_htpasswd": 0, "_signing": 0, "_referrers": 0,
    "_contract": 1, "_definitions": 1,
    "_omit": 1,  # tcib_omit_packages: the stub-and-purge shell text (the build's step, the hoist simulation)
    "_hoist": 2,  # shared layers: the hoist file applied to the definitions, and its generation
    "_sbom": 2, "_plan": 2, "_options": 2, "_engine": 2, "_containerfile": 2, "_sizes": 2, "_layerdiff": 2,
    "_buildah": 3, "_docker": 3,
    "_engines": 4, "_build": 4, "_bootstrap": 4, "_publish": 4, "_freshness": 4,
    "_stage_options": 5,
    "_spec": 6,
    "_pipeline": 7,
}
ENGINES = {"_buildah", "_docker"}
# Only the registry names concrete engines: the scheduler, the bootstrap and publishing see an Engine.
MAY_IMPORT_ENGINES = {"_engines"}
# The contract is the bottom of the pipeline: nothing of ours but the value grammars.
ONLY = {"_contract": {"_validate"}}


def imports_of(name):
    """The module utils a module util imports (module level and inside functions)."""
    with open(os.path.join(UTILS, name + ".py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), name)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found.update(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module[len(PACKAGE) + 1:].split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PACKAGE) + 1:].split(".")[0] for alias in node.names
                         if alias.name.startswith(PACKAGE + "."))
    return found


def module_utils():
    return sorted(name[:-3] for name in os.listdir(UTILS) if name.startswith("_") and name.endswith(".py")
                  and name != "__init__.py")


def test_every_module_util_has_a_floor():
    missing = [name for name in module_utils() if name not in FLOORS]
    assert not missing, "give %s a floor here and in docs/architecture.md" % ", ".join(missing)


@pytest.mark.parametrize("name", module_utils())
def test_imports_only_lower_floors(name):
    floor = FLOORS.get(name)
    if floor is None:
        pytest.fail("%s has no floor (see test_every_module_util_has_a_floor)" % name)
    upward = sorted(other for other in imports_of(name) if FLOORS.get(other, 99) >= floor)
    assert not upward, "%s (floor %d) imports %s" % (name, floor, ", ".join(
        "%s (floor %s)" % (other, FLOORS.get(other, "none")) for other in upward))


@pytest.mark.parametrize("name", module_utils())
def test_only_the_registry_names_concrete_engines(name):
    if name in MAY_IMPORT_ENGINES:
        return
    assert not imports_of(name) & ENGINES, "%s imports %s" % (name, ", ".join(sorted(imports_of(name) & ENGINES)))


def test_the_contract_imports_nothing_of_ours_but_the_value_grammars():
    for name, allowed in ONLY.items():
        assert imports_of(name) <= allowed, (name, imports_of(name))


def test_the_layering_sees_imports():
    # the check must not pass by reading nothing
    assert imports_of("_engines") >= {"_buildah", "_docker", "_engine"}
    assert imports_of("_pipeline") >= {"_build", "_bootstrap", "_engines", "_plan", "_publish"}


def test_architecture_document_names_every_module_util():
    with open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8") as handle:
        text = handle.read()
    missing = [name for name in module_utils() if "`%s`" % name not in text]
    assert not missing, "docs/architecture.md does not name %s" % ", ".join(missing)
