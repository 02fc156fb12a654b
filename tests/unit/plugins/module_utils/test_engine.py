# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for the engine seam (_engine, _engines): the interface, the registry and LocalStore."""

from __future__ import annotations

import argparse
import os
import types

import pytest
import yaml

from ansible_collections.containergen.images.plugins.doc_fragments import _engine as engine_fragment
from ansible_collections.containergen.images.plugins.module_utils import _engines, _spec
from ansible_collections.containergen.images.plugins.module_utils._buildah import BuildahEngine
from ansible_collections.containergen.images.plugins.module_utils._contract import (
    FINGERPRINT_LABEL, IMAGE_LABEL, RECIPE_LABEL,
)
from ansible_collections.containergen.images.plugins.module_utils._docker import DockerEngine
from ansible_collections.containergen.images.plugins.module_utils._engine import (
    BUILD, REUSE, UP_TO_DATE, Engine, LocalStore, StepEngine,
)

from test_build import FakeEngine  # pylint: disable=import-error

from containergen_cli import core  # pylint: disable=import-error


# ---- the registry is the one list of engines ------------------------------------------------------

def _cli_engine_choices():
    found = []
    for add in (core.add_build_arguments, core.add_publish_arguments):
        parser = argparse.ArgumentParser()
        add(parser)
        found.append([action.choices for action in parser._actions if "--engine" in action.option_strings][0])
    return found


def test_engine_choices_are_the_registry_everywhere():
    names = list(_engines.ENGINES)
    assert names == ["buildah", "docker"]
    assert _spec.engine_argument_spec()["engine"]["choices"] == names
    documented = yaml.safe_load(engine_fragment.ModuleDocFragment.DOCUMENTATION)["options"]["engine"]
    assert documented["choices"] == names
    assert documented["default"] == _engines.DEFAULT_ENGINE == _spec.engine_argument_spec()["engine"]["default"]
    for choices in _cli_engine_choices():
        assert list(choices) == names


def test_every_registered_engine_implements_the_interface():
    for name, engine in _engines.ENGINES.items():
        assert issubclass(engine, Engine)
        assert engine.name == name
        assert engine.transport.endswith(":")
        assert not getattr(engine, "__abstractmethods__", None), (name, engine.__abstractmethods__)
        assert engine.donor_engine is None or engine.donor_engine in _engines.ENGINES


def test_the_unit_tests_fake_engine_is_an_engine():
    assert issubclass(FakeEngine, StepEngine) and issubclass(FakeEngine, Engine)
    assert not FakeEngine.__abstractmethods__


def test_an_incomplete_engine_cannot_be_made():
    class Half(Engine):
        name = "half"

        def list_images(self, run):
            return {}

    with pytest.raises(TypeError) as info:
        Half()  # pylint: disable=abstract-class-instantiated
    assert "build_image" in str(info.value)


def test_make_engine_from_a_mapping_or_an_options_object():
    engine = _engines.make_engine({"engine": "buildah", "isolation": "oci"})
    assert isinstance(engine, BuildahEngine) and engine.isolation == "oci"
    assert _engines.make_engine({}).isolation == "chroot"
    docker = _engines.make_engine(types.SimpleNamespace(engine="docker", docker_host="tcp://d:2375", isolation=None))
    assert isinstance(docker, DockerEngine) and docker.base_url == "tcp://d:2375"
    # podman's store is docker's donor: a base bootstrapped for buildah is copied
    assert isinstance(docker.donor, BuildahEngine)
    assert _engines.make_engine({"engine": "buildah"}).adopt_base(None, "r", {}, "/nowhere") is None


def test_make_engine_refuses_an_unknown_name():
    with pytest.raises(ValueError) as info:
        _engines.make_engine({"engine": "kaniko"})
    assert str(info.value) == "engine 'kaniko': must be one of buildah, docker"


# ---- LocalStore: the one reading of the local store -----------------------------------------------

def info(image_id, size=0, **labels):
    return {"id": image_id, "labels": dict(labels), "size": size}


STORE = LocalStore({
    "localhost/cg/a:latest": info("ida", 300, **{FINGERPRINT_LABEL: "fp-a", IMAGE_LABEL: "a"}),
    "localhost/cg/b:latest": info("idb", 200, **{FINGERPRINT_LABEL: "fp-b", IMAGE_LABEL: "b"}),
    "localhost/cg/b:old": info("idb", 200, **{FINGERPRINT_LABEL: "fp-b", IMAGE_LABEL: "b"}),
    "localhost/other/c:latest": info("idc", 100, **{FINGERPRINT_LABEL: "fp-c", IMAGE_LABEL: "c"}),
    "localhost/cg/foreign:latest": info("idf", 50),
    "example.org/base:1": info("idbase", 90, **{RECIPE_LABEL: "r1"}),
})


def test_decide_is_the_build_skip_rule():
    assert STORE.decide("localhost/cg/a:latest", "fp-a") == (UP_TO_DATE, "ida")
    # the fingerprint under another reference: reused (tagged), not built
    assert STORE.decide("localhost/cg/c:latest", "fp-c") == (REUSE, "idc")
    assert STORE.decide("localhost/cg/a:latest", "fp-new") == (BUILD, None)
    assert STORE.decide("localhost/cg/a:latest", "fp-a", force=True) == (BUILD, None)


def test_lookups():
    assert STORE.get("localhost/cg/a:latest")["id"] == "ida" and STORE.get("nope") is None
    assert "example.org/base:1" in STORE and "nope" not in STORE
    assert STORE.ids()["localhost/cg/b:old"] == "idb"
    assert (STORE.size("localhost/cg/a:latest"), STORE.size("nope")) == (300, 0)
    assert STORE.by_fingerprint("fp-b") == "idb" and STORE.by_fingerprint("fp-x") is None
    assert STORE.labelled("example.org/base:1", {RECIPE_LABEL: "r1"}) == "idbase"
    assert STORE.labelled("example.org/base:1", {RECIPE_LABEL: "r2"}) is None
    assert STORE.labelled("nope", {}) is None


def test_image_names_under_a_namespace_and_tag():
    assert STORE.image_names("localhost/cg", "", "latest") == ["a", "b"]  # not foreign: no image label
    assert STORE.image_names("localhost/cg", "", "old") == ["b"]
    assert STORE.image_names("localhost/cg", "a", "latest") == ["a"]
    assert STORE.image_names("localhost/none", "", "latest") == []


def test_read_lists_once():
    engine = FakeEngine(images={"r:1": info("id1")})
    store = LocalStore.read(engine, None)
    assert engine.list_calls == 1 and store.ids() == {"r:1": "id1"}


def test_readme_layout_names_every_module_util():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..")
    with open(os.path.join(root, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    utils = sorted(name for name in os.listdir(os.path.join(root, "plugins", "module_utils"))
                   if name.startswith("_") and name.endswith(".py") and name != "__init__.py")
    missing = [name for name in utils if name[:-3] not in readme]
    assert not missing, "README's layout does not name %s" % ", ".join(missing)
