# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Checks of the options of the modules and of the command line, before anything runs.

The grammars come from _validate; this file adds the few that only options have (registry address,
bind mounts, template variable names, regular expressions) and the tables that say which check
applies to which module parameter. The command line uses the same checks with its option names.
"""

from __future__ import annotations

import os
import re
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import _validate
from ansible_collections.containergen.images.plugins.module_utils._definitions import TCIB_KEYS

Check = t.Callable[[t.Any], t.Optional[str]]

MAX_THREADS = 64
MAX_TIMEOUT = 7 * 86400

_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])"
_REGISTRY_RE = re.compile(r"(%s)(?::([0-9]{1,5}))?\Z" % _HOST)
_TEMPLATE_VAR_RE = re.compile(r"tcib_[a-z0-9_]+\Z")
# Bind mount options podman and buildah accept for RUN mounts.
VOLUME_OPTIONS = frozenset(("ro", "rw", "z", "Z", "U", "O", "shared", "rshared", "slave", "rslave", "private",
                            "rprivate", "unbindable", "runbindable", "nosuid", "suid", "nodev", "dev", "noexec",
                            "exec", "bind", "rbind", "copy", "nocopy"))


class OptionError(ValueError):
    """A parameter or option value that fails its check; the message names it and says why."""

    def __init__(self, option: str, value: t.Any, reason: str) -> None:
        self.option, self.value, self.reason = option, value, reason
        # a list or mapping is not shown whole: the reason names the element that failed
        shown = "" if isinstance(value, (list, tuple, dict)) else " " + show(value)
        super().__init__("%s%s: %s" % (option, shown, reason))


def show(value: t.Any) -> str:
    """A value as one line: quoted when empty or holding spaces, escaped when not printable."""
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():
        return repr(text)
    if not text or re.search(r"[\s'\"\\]", text):
        return "'%s'" % text.replace("'", "'\\''")
    return text


def registry_address(value: t.Any) -> t.Optional[str]:
    """HOST[:PORT] of a registry, without a scheme or a path."""
    found = _REGISTRY_RE.match(value) if isinstance(value, str) else None
    if not found or (found.group(2) and not 1 <= int(found.group(2)) <= 65535):
        return "must be HOST[:PORT] without scheme or path, such as registry.example.com:5000"
    return None


def repository_path(value: t.Any) -> t.Optional[str]:
    """A namespace inside a registry: empty, or lower case path components separated by /."""
    if not isinstance(value, str):
        return "must be a text value"
    parts = value.strip("/").split("/") if value.strip("/") else []
    if any(_validate.image_name(part) for part in parts):
        return "must be lower case path components (letters, digits, . _ -) separated by /, such as openstack"
    return None


def threads(value: t.Any) -> t.Optional[str]:
    return _validate.positive_int(value, MAX_THREADS)


def timeout(value: t.Any) -> t.Optional[str]:
    """Seconds one image may take, 1 to 7 days."""
    return _validate.positive_int(value, MAX_TIMEOUT)


def timeout_or_zero(value: t.Any) -> t.Optional[str]:
    """The modules' and role's timeout, where 0 means no limit."""
    if value == 0 and not isinstance(value, bool):
        return None
    reason = timeout(value)
    return reason and "must be 0 (no limit) or a whole number of seconds from 1 to %d" % MAX_TIMEOUT


def template_var(value: t.Any) -> t.Optional[str]:
    """A name of --tcib-extras/template_vars: tcib_ and lower case letters, digits, _; not an image key."""
    if not isinstance(value, str) or not _TEMPLATE_VAR_RE.match(value):
        return "must be tcib_NAME with lower case letters, digits and _, such as tcib_python_version"
    if value in TCIB_KEYS:
        return "%s is an image key: set it in the definitions or with --extra-config" % value
    return None


def regular_expression(value: t.Any) -> t.Optional[str]:
    if not isinstance(value, str) or not value:
        return "must be an image name or a regular expression"
    try:
        re.compile(value)
    except re.error as exc:
        return "is not a valid regular expression: %s" % exc
    return None


def volume(value: t.Any) -> t.Optional[str]:
    """HOST:CONTAINER[:OPTIONS] with absolute paths and known mount options."""
    usage = "must be HOST:CONTAINER[:OPTIONS] with absolute paths, such as /srv/wheels:/wheels:ro"
    if not isinstance(value, str) or "\0" in value or "\n" in value:
        return usage
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(p.startswith("/") for p in parts[:2]):
        return usage
    unknown = [o for o in (parts[2].split(",") if len(parts) == 3 else []) if o not in VOLUME_OPTIONS]
    if unknown:
        return "unknown mount option %s (known: %s)" % (
            ", ".join(repr(o) for o in unknown), ", ".join(sorted(VOLUME_OPTIONS)))
    return None


def local_namespace(value: t.Any) -> t.Optional[str]:
    return _validate.namespace(value) if value != "" else "must not be empty, such as localhost/containergen"


def writable_dir(value: t.Any) -> t.Optional[str]:
    """A directory that is writable, or can be created (its nearest existing parent is writable)."""
    if not isinstance(value, str) or not value:
        return "must be a directory path"
    path = os.path.abspath(value)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        return "%s is not a directory" % path
    if not os.access(path, os.W_OK | os.X_OK):
        return "%s is not writable" % path
    return None


def existing_dir(value: t.Any) -> t.Optional[str]:
    return None if isinstance(value, str) and os.path.isdir(value) else "no such directory"


def existing_file(value: t.Any) -> t.Optional[str]:
    if not isinstance(value, str) or not os.path.exists(value):
        return "no such file"
    return None if os.path.isfile(value) else "is not a regular file"


def each(check: Check) -> Check:
    """A check applied to every element of a list (the first failing element is reported)."""
    def run(values: t.Any) -> t.Optional[str]:
        for item in values or []:
            reason = check(item)
            if reason:
                return "%s: %s" % (show(item), reason)
        return None
    return run


def keys(check: Check) -> Check:
    """A check applied to every key of a mapping."""
    def run(values: t.Any) -> t.Optional[str]:
        for key in (values or {}):
            reason = check(key)
            if reason:
                return "key %s: %s" % (show(key), reason)
        return None
    return run


def optional(check: Check) -> Check:
    return lambda value: None if value in (None, "") else check(value)


# Module parameters -> check. Keys absent from params (or None) are not checked.
DEFINITION_PARAMS: t.Dict[str, Check] = {
    "namespace": local_namespace,
    "prefix": _validate.prefix,
    "tag": _validate.tag,
    "base_image": optional(_validate.reference),
    "labels": keys(_validate.label_key),
    "template_vars": keys(template_var),
    "include": each(regular_expression),
    "exclude": each(regular_expression),
    "threads": threads,
    "timeout": timeout_or_zero,
    "retries": _validate.non_negative_int,
    "volumes": each(volume),
    "refresh": lambda value: None if value in ("none", "updates") else "must be none or updates",
    "hoist": lambda value: None if isinstance(value, bool) else "must be true or false",
}

PUBLISH_PARAMS: t.Dict[str, Check] = {
    "registry": registry_address,
    "namespace": repository_path,
    "tag": _validate.tag,
    "images": each(_validate.image_name),
    "local_namespace": local_namespace,
    "local_prefix": _validate.prefix,
    "local_tag": _validate.tag,
}

REGISTRY_PARAMS: t.Dict[str, Check] = {
    "registry": registry_address,
    "namespace": repository_path,
    "tag": _validate.tag,
    "images": each(_validate.image_name),
}


def validate(params: t.Mapping[str, t.Any], table: t.Mapping[str, Check]) -> None:
    """Raise OptionError for the first parameter of table that fails its check."""
    for name, check in table.items():
        value = params.get(name)
        if value is None:
            continue
        reason = check(value)
        if reason:
            raise OptionError(name, value, reason)
