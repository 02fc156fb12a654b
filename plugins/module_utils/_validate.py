# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Grammars of every value that reaches an engine or a registry.

Each check takes the value and returns ``None`` when it is valid, or a short reason ("must be ...")
that the caller prefixes with where the value came from (file, image and key, or the option). They
are pure, linear in the length of their input, and shared by the definitions, the plan, the
modules and the command line, so that a value is judged the same way wherever it enters.
"""

from __future__ import annotations

import re
import signal as _signal
import typing as t

# OCI distribution: one path component of a repository name.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_COMPONENT_RE = re.compile(_COMPONENT + r"\Z")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = r"(?:%s(?:\.%s)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?" % (_DOMAIN_COMPONENT, _DOMAIN_COMPONENT)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(r"(?:(%s)/)?(%s(?:/%s)*)(?::(%s))?(?:@(%s))?\Z" % (_DOMAIN, _COMPONENT, _COMPONENT, _TAG, _DIGEST))
_TAG_RE = re.compile(_TAG + r"\Z", re.ASCII)
_PREFIX_RE = re.compile(r"(?:[a-z0-9][a-z0-9._-]*)?\Z")
_NAMESPACE_RE = re.compile(r"(?:%s/)?%s(?:/%s)*\Z" % (_DOMAIN, _COMPONENT, _COMPONENT))
_USER_NAME = r"(?:[a-z_][a-z0-9_-]*\$?|[0-9]+)"
_USER_RE = re.compile(r"%s(?::%s)?\Z" % (_USER_NAME, _USER_NAME))
_PORT_RE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?(?:/(tcp|udp|sctp))?\Z")
# Debian policy 5.6.7: lower case letters, digits, + - . ; at least two characters, starting alphanumeric.
_DEB_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+\Z")
# RPM names as Fedora/RHEL spell them (upper case allowed, e.g. python3-PyMySQL); no spaces, no options.
_RPM_PACKAGE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")
_LABEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*\Z")
_ENV_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

SIGNAL_NAMES = frozenset(s.name for s in _signal.Signals if s.name.startswith("SIG") and not s.name.startswith("SIG_"))


def _text(value: t.Any) -> t.Optional[str]:
    return value if isinstance(value, str) else None


def image_name(value: t.Any) -> t.Optional[str]:
    """An image name (a definitions directory name): one lower-case repository path component."""
    text = _text(value)
    if text is None or not _COMPONENT_RE.match(text):
        return "must be lower case letters, digits and single separators (. _ -) between them, such as nova-api"
    return None


def reference(value: t.Any) -> t.Optional[str]:
    """An image reference: [host[:port]/]path[:tag][@digest]."""
    text = _text(value)
    if text is None or not text or not _REFERENCE_RE.match(text):
        return "must be an image reference such as registry.example.com:5000/ns/name:tag"
    return None


def tag(value: t.Any) -> t.Optional[str]:
    """An image tag: a word character, then up to 127 letters, digits, _ . -."""
    text = _text(value)
    if text is None or not _TAG_RE.match(text):
        return "must be 1-128 characters of letters, digits, _ . - not starting with . or -, such as 2025.1"
    return None


def namespace(value: t.Any) -> t.Optional[str]:
    """A namespace: [host[:port]/]path, the part of a reference before the image name."""
    text = _text(value)
    if text is None or not _NAMESPACE_RE.match(text.rstrip("/")):
        return "must be [host[:port]/]path in lower case, such as localhost/containergen"
    return None


def prefix(value: t.Any) -> t.Optional[str]:
    """An image name prefix: empty, or lower case letters, digits and . _ - starting with a letter or digit."""
    text = _text(value)
    if text is None or not _PREFIX_RE.match(text):
        return "must be empty or lower case letters, digits, . _ - starting with a letter or digit, such as openstack-"
    return None


def port(value: t.Any) -> t.Optional[str]:
    """An exposed port: PORT, PORT/PROTO or a range START-END[/PROTO], ports 1-65535."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _text(value)
    found = _PORT_RE.match(text or "")
    if not found:
        return "must be a port number 1-65535, optionally with /tcp, /udp or /sctp, such as 8080/tcp"
    numbers = [int(n) for n in found.group(1, 2) if n]
    if not all(1 <= n <= 65535 for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
        return "must be a port number 1-65535, optionally with /tcp, /udp or /sctp, such as 8080/tcp"
    return None


def stop_signal(value: t.Any) -> t.Optional[str]:
    """A stop signal: a signal name (SIGTERM, TERM) or number 1-64."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _text(value)
    if text is None:
        return "must be a signal name such as SIGTERM or a number 1-64"
    if text.isdigit():
        return None if 1 <= int(text) <= 64 else "must be a signal name such as SIGTERM or a number 1-64"
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name in SIGNAL_NAMES or re.match(r"SIGRTM(?:IN|AX)(?:[+-][0-9]{1,2})?\Z", name):
        return None
    return "must be a signal name such as SIGTERM or a number 1-64"


def absolute_path(value: t.Any) -> t.Optional[str]:
    """A path inside the image: absolute, no NUL or newline."""
    text = _text(value)
    if text is None or not text.startswith("/") or "\0" in text or "\n" in text:
        return "must be an absolute path such as /var/lib/mysql"
    return None


def user_spec(value: t.Any) -> t.Optional[str]:
    """USER: a user name or id, optionally :group name or id."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _text(value)
    if text is None or not _USER_RE.match(text):
        return "must be USER or USER:GROUP (names or numeric ids), such as nova or 42436:42436"
    return None


def label_key(value: t.Any) -> t.Optional[str]:
    """A label key: starts with a letter or digit; letters, digits, . _ / - after that."""
    text = _text(value)
    if text is None or not _LABEL_KEY_RE.match(text):
        return "must be a non-empty key of letters, digits, . _ / - such as org.example.team"
    return None


def env_name(value: t.Any) -> t.Optional[str]:
    """An environment variable or build argument name."""
    text = _text(value)
    if text is None or not _ENV_KEY_RE.match(text):
        return "must be a variable name: letters, digits and _ not starting with a digit"
    return None


def package_name(value: t.Any, family: str) -> t.Optional[str]:
    """One package name in the distro family's grammar: never an option, never shell text."""
    text = _text(value)
    if family == "debian":
        if text is None or not _DEB_PACKAGE_RE.match(text):
            return "must be a Debian package name (lower case letters, digits, + - . ; starting with a letter or digit)"
        return None
    if text is None or not _RPM_PACKAGE_RE.match(text):
        return "must be a package name (letters, digits, _ + - . ; no spaces or options)"
    return None


def positive_int(value: t.Any, maximum: t.Optional[int] = None) -> t.Optional[str]:
    """A whole number >= 1 (and <= maximum when given)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum is not None and value > maximum):
        return "must be a whole number from 1%s" % (" to %d" % maximum if maximum is not None else " up")
    return None


def non_negative_int(value: t.Any) -> t.Optional[str]:
    """A whole number >= 0 (0 meaning no limit where the option says so)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be a whole number from 0 up"
    return None
