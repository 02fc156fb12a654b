# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options objects of the stages: built once from checked parameters, defaults in one place."""

from __future__ import annotations

import dataclasses
import os

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _spec, _stage_options as so
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError


def spec_defaults(spec):
    return {name: entry["default"] for name, entry in spec.items() if "default" in entry}


@pytest.mark.parametrize("cls,spec", [
    (so.PlanOptions, _spec.definitions_argument_spec(**_spec.engine_argument_spec())),
    (so.BuildOptions, _spec.build_argument_spec()),
    (so.PublishOptions, _spec.publish_argument_spec()),
    (so.RegistryOptions, _spec.registry_argument_spec()),
])
def test_argument_spec_defaults_are_the_objects_defaults(cls, spec):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = spec_defaults(spec)
    compared = [name for name in defaults if name in fields]
    assert len(compared) >= 2
    for name in compared:
        field = fields[name]
        value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        # lists in a spec are tuples in an object (read-only)
        assert (list(value) if isinstance(value, tuple) else value) == defaults[name], name


def test_spec_engine_choices_are_the_engines():
    assert _spec.engine_argument_spec()["engine"]["choices"] == ["buildah", "docker"]
    assert so.ENGINE == "buildah"


def test_from_params_checks_and_names_the_parameter():
    with pytest.raises(OptionError, match=r"^tag a:b: "):
        so.PlanOptions.from_params({"tag": "a:b"})
    with pytest.raises(OptionError, match=r"^threads 0: "):
        so.BuildOptions.from_params({"threads": 0})
    with pytest.raises(OptionError, match=r"^registry http://x: "):
        so.RegistryOptions.from_params({"registry": "http://x"})
    with pytest.raises(OptionError, match=r"^local_namespace "):
        so.PublishOptions.from_params({"registry": "r:5000", "local_namespace": "Has Space"})


def test_from_params_ignores_other_keys_and_none_means_the_default():
    options = so.BuildOptions.from_params({"tag": None, "threads": 4, "inspect_local": True, "work_dir": "/w"})
    assert (options.tag, options.threads, options.timeout, options.namespace) == (
        "latest", 4, 1800, "localhost/containergen")
    assert (options.logs, options.summary_path) == ("/w/logs", "/w/summary.json")
    assert options.replace(log_dir="/l").logs == "/l"
    assert options.definitions_path.endswith(os.path.join("images", "vars", "images"))
    assert os.path.isdir(options.profiles_path)


def test_objects_are_read_only():
    options = so.PlanOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.tag = "x"  # type: ignore[misc]
