# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""htpasswd files with bcrypt entries only (CNCF distribution rejects anything else).

Idempotent although bcrypt salts are random: an existing entry is kept when it still verifies the
password at the wanted cost. The file is replaced atomically with its mode set before the rename.
"""

from __future__ import annotations

import os
import re
import tempfile

try:
    import bcrypt
except ImportError:  # pragma: no cover - reported by the module
    bcrypt = None

USER_RE = re.compile(r"^[A-Za-z0-9._@-]+$")


class HtpasswdError(Exception):
    pass


def validate_users(users):
    """users: [{"name", "password"}]. Raises HtpasswdError naming the user (never the password)."""
    seen = set()
    for index, user in enumerate(users):
        name = user.get("name") or ""
        if not USER_RE.fullmatch(name):
            raise HtpasswdError("registry user %d: name %r must match %s" % (index, name, USER_RE.pattern))
        if not user.get("password"):
            raise HtpasswdError("registry user %r: empty password" % name)
        if ":" in name or name in seen:
            raise HtpasswdError("registry user %r: duplicate or invalid name" % name)
        seen.add(name)


def read_entries(path):
    entries = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if line and ":" in line:
                    name, hashed = line.split(":", 1)
                    entries[name] = hashed
    except FileNotFoundError:
        pass
    return entries


def _cost_of(hashed):
    match = re.match(r"^\$2[aby]\$(\d\d)\$", hashed)
    return int(match.group(1)) if match else None


def entry_is_current(hashed, password, cost):
    if bcrypt is None:
        raise HtpasswdError("the Python bcrypt package is required")
    if _cost_of(hashed) != cost:
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False


def desired_entries(path, users, cost):
    """Returns (entries, changed_names): entries to write, and which users got a new hash."""
    if bcrypt is None:
        raise HtpasswdError("the Python bcrypt package is required")
    if not 4 <= cost <= 31:
        raise HtpasswdError("bcrypt cost must be between 4 and 31, got %d" % cost)
    validate_users(users)
    current = read_entries(path)
    entries, changed = {}, []
    for user in users:
        hashed = current.get(user["name"])
        if hashed and entry_is_current(hashed, user["password"], cost):
            entries[user["name"]] = hashed
        else:
            entries[user["name"]] = bcrypt.hashpw(user["password"].encode("utf-8"),
                                                  bcrypt.gensalt(rounds=cost)).decode("ascii")
            changed.append(user["name"])
    removed = sorted(set(current) - set(entries))
    return entries, changed, removed


def write_entries(path, entries, mode=0o640):
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".htpasswd.", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for name in sorted(entries):
                handle.write("%s:%s\n" % (name, entries[name]))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
