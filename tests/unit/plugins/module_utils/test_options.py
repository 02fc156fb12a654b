# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The option checks shared by the modules and the command line."""

import os

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _options
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError


@pytest.mark.parametrize("value", ["localhost:5000", "registry.example.com", "reg-1.example:443", "[::1]:5000",
                                   "127.0.0.1:5110"])
def test_registry_address_good(value):
    assert _options.registry_address(value) is None


@pytest.mark.parametrize("value", ["", "http://localhost:5000", "localhost:5000/ns", "localhost:0", "localhost:65536",
                                   "a b", "-x.example", "localhost:", None, 5000])
def test_registry_address_bad(value):
    assert _options.registry_address(value) == "must be HOST[:PORT] without scheme or path, such as registry.example.com:5000"


@pytest.mark.parametrize("value,good", [("", True), ("containergen", True), ("a/b-c/d_e", True), ("/ns/", True),
                                        ("UPPER", False), ("a b", False), ("a//b", False), ("a:5000/b", False),
                                        ("-a", False), (None, False)])
def test_repository_path(value, good):
    assert (_options.repository_path(value) is None) is good


@pytest.mark.parametrize("value,reason", [
    (1, None), (64, None), (0, "must be a whole number from 1 to 64"), (-1, "must be a whole number from 1 to 64"),
    (65, "must be a whole number from 1 to 64"), (True, "must be a whole number from 1 to 64"),
    ("2", "must be a whole number from 1 to 64"),
])
def test_threads(value, reason):
    assert _options.threads(value) == reason


def test_timeouts():
    assert _options.timeout(1) is None and _options.timeout(604800) is None
    assert _options.timeout(0) == "must be a whole number from 1 to 604800"
    assert _options.timeout(-5) == "must be a whole number from 1 to 604800"
    assert _options.timeout_or_zero(0) is None and _options.timeout_or_zero(1800) is None
    assert _options.timeout_or_zero(-5) == "must be 0 (no limit) or a whole number of seconds from 1 to 604800"
    assert _options.timeout_or_zero(False) is not None


@pytest.mark.parametrize("value,reason", [
    ("tcib_python_version", None),
    ("tcib_Python", "must be tcib_NAME with lower case letters, digits and _, such as tcib_python_version"),
    ("python", "must be tcib_NAME with lower case letters, digits and _, such as tcib_python_version"),
    ("tcib_", "must be tcib_NAME with lower case letters, digits and _, such as tcib_python_version"),
    ("tcib_packages", "tcib_packages is an image key: set it in the definitions or with --extra-config"),
])
def test_template_var(value, reason):
    assert _options.template_var(value) == reason


@pytest.mark.parametrize("value,reason", [
    ("/a:/b", None), ("/a:/b:ro", None), ("/a:/b:ro,Z", None),
    ("a:/b", "must be HOST:CONTAINER[:OPTIONS] with absolute paths, such as /srv/wheels:/wheels:ro"),
    ("/a", "must be HOST:CONTAINER[:OPTIONS] with absolute paths, such as /srv/wheels:/wheels:ro"),
    ("/a:/b:ro:x", "must be HOST:CONTAINER[:OPTIONS] with absolute paths, such as /srv/wheels:/wheels:ro"),
    ("/a:b", "must be HOST:CONTAINER[:OPTIONS] with absolute paths, such as /srv/wheels:/wheels:ro"),
    ("/a:/b\n", "must be HOST:CONTAINER[:OPTIONS] with absolute paths, such as /srv/wheels:/wheels:ro"),
])
def test_volume(value, reason):
    assert _options.volume(value) == reason


def test_volume_unknown_option_is_named():
    assert _options.volume("/a:/b:rw,bogus").startswith("unknown mount option 'bogus' (known: O, U, Z, bind,")


def test_regular_expression():
    assert _options.regular_expression("nova-.*") is None
    assert _options.regular_expression("(") == (
        "is not a valid regular expression: missing ), unterminated subpattern at position 0")
    assert _options.regular_expression("") == "must be an image name or a regular expression"


def test_paths(tmp_path):
    afile = tmp_path / "f"
    afile.write_text("x")
    assert _options.existing_file(str(afile)) is None
    assert _options.existing_file(str(tmp_path)) == "is not a regular file"
    assert _options.existing_file(str(tmp_path / "nope")) == "no such file"
    assert _options.existing_dir(str(tmp_path)) is None
    assert _options.existing_dir(str(afile)) == "no such directory"
    assert _options.writable_dir(str(tmp_path / "new" / "deeper")) is None
    assert _options.writable_dir(str(afile / "x")) == "%s is not a directory" % afile
    assert not os.path.exists(str(tmp_path / "new"))  # checking creates nothing


@pytest.mark.parametrize("value,shown", [("a", "a"), ("", "''"), ("has space", "'has space'"), ("it's", "'it'\\''s'"),
                                         ("a\nb", "'a\\nb'"), (3, "3")])
def test_show_is_one_line(value, shown):
    assert _options.show(value) == shown


def test_validate_names_the_parameter():
    with pytest.raises(OptionError) as info:
        _options.validate({"tag": "a:b", "namespace": "localhost/ok"}, _options.DEFINITION_PARAMS)
    assert str(info.value) == ("tag a:b: must be 1-128 characters of letters, digits, _ . - not starting with . or -, "
                               "such as 2025.1")
    assert (info.value.option, info.value.value) == ("tag", "a:b")
    with pytest.raises(OptionError) as info:
        _options.validate({"labels": {"ok": "1", "": "x"}}, _options.DEFINITION_PARAMS)
    assert str(info.value) == "labels: key '': must be a non-empty key of letters, digits, . _ / - such as org.example.team"
    with pytest.raises(OptionError) as info:
        _options.validate({"volumes": ["/a:/b", "rel:/b"]}, _options.DEFINITION_PARAMS)
    assert str(info.value).startswith("volumes: rel:/b: must be HOST:CONTAINER")
    with pytest.raises(OptionError, match=r"^namespace 'has space': must be lower case path components"):
        _options.validate({"registry": "localhost:5000", "namespace": "has space"}, _options.PUBLISH_PARAMS)
    with pytest.raises(OptionError, match=r"^local_namespace '': must not be empty"):
        _options.validate({"registry": "localhost:5000", "local_namespace": ""}, _options.PUBLISH_PARAMS)


def test_validate_accepts_defaults_and_skips_absent():
    _options.validate({"namespace": "localhost/containergen", "prefix": "", "tag": "latest", "base_image": None,
                       "labels": {"a.b/c": "x"}, "template_vars": {"tcib_x": "1"}, "include": ["nova-.*"],
                       "exclude": [], "threads": 2, "timeout": 0, "retries": 1, "volumes": ["/a:/b:ro"]},
                      _options.DEFINITION_PARAMS)
    _options.validate({"registry": "localhost:5000", "namespace": "containergen", "tag": "4.0.0", "images": ["nova-api"],
                       "local_namespace": "localhost/containergen", "local_prefix": "", "local_tag": "latest"},
                      _options.PUBLISH_PARAMS)
    _options.validate({}, _options.PUBLISH_PARAMS)
