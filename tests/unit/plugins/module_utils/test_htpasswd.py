# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _htpasswd: user validation, idempotent bcrypt entries, the written file. Cost 4 for speed."""

import os
import re

import bcrypt
import pytest

from ansible_collections.containergen.images.plugins.module_utils._htpasswd import (
    USER_RE, HtpasswdError, desired_entries, entry_is_current, read_entries, validate_users, write_entries,
)

COST = 4
USERS = [{"name": "alice", "password": "correct horse"}, {"name": "bob", "password": "s3cr3t:with colon"}]
LINE_RE = re.compile(r"^(?P<name>[A-Za-z0-9._@-]+):(?P<hash>\$2b\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53})$")


def verifies(password, hashed):
    return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "auth" / "htpasswd")


# ---- validate_users -------------------------------------------------------------------------------

def test_validate_users_accepts_good_users():
    assert validate_users(USERS + [{"name": "ci.bot@example-1_x", "password": "p"}]) is None
    assert validate_users([]) is None


@pytest.mark.parametrize("user", [{"name": "bob", "password": ""}, {"name": "bob", "password": None}, {"name": "bob"}])
def test_validate_users_empty_password(user):
    with pytest.raises(HtpasswdError) as info:
        validate_users([{"name": "alice", "password": "correct horse"}, user])
    assert str(info.value) == "registry user 'bob': empty password"
    assert "correct horse" not in str(info.value)


@pytest.mark.parametrize("name", ["al ice", "a:b", "", None, "bob/x", "é", "a\tb"])
def test_validate_users_bad_name(name):
    with pytest.raises(HtpasswdError) as info:
        validate_users([{"name": "alice", "password": "pw-one"}, {"name": name, "password": "hunter2-secret"}])
    assert str(info.value) == "registry user 1: name %r must match %s" % (name or "", USER_RE.pattern)
    assert "hunter2-secret" not in str(info.value)


def test_validate_users_rejects_trailing_newline():
    with pytest.raises(HtpasswdError):
        validate_users([{"name": "alice\n", "password": "pw"}])


def test_validate_users_duplicate():
    with pytest.raises(HtpasswdError) as info:
        validate_users([{"name": "alice", "password": "first-pw"}, {"name": "bob", "password": "x"},
                        {"name": "alice", "password": "second-pw"}])
    assert str(info.value) == "registry user 'alice': duplicate or invalid name"
    assert "first-pw" not in str(info.value) and "second-pw" not in str(info.value)


# ---- desired_entries ------------------------------------------------------------------------------

def test_missing_file_hashes_everyone(path):
    entries, changed, removed = desired_entries(path, USERS, COST)
    assert sorted(entries) == ["alice", "bob"]
    assert changed == ["alice", "bob"]
    assert removed == []
    for user in USERS:
        assert entries[user["name"]].startswith("$2b$04$")
        assert verifies(user["password"], entries[user["name"]])
    assert not os.path.exists(path)  # computing entries writes nothing


def test_same_password_and_cost_keeps_hashes(path):
    entries, dummy, dummy = desired_entries(path, USERS, COST)
    write_entries(path, entries)
    with open(path, "rb") as handle:
        before = handle.read()
    again, changed, removed = desired_entries(path, USERS, COST)
    assert (changed, removed) == ([], [])
    assert again == entries
    write_entries(path, again)
    with open(path, "rb") as handle:
        assert handle.read() == before


def test_changed_password_rehashed(path):
    entries, dummy, dummy = desired_entries(path, USERS, COST)
    write_entries(path, entries)
    users = [USERS[0], {"name": "bob", "password": "new password"}]
    again, changed, removed = desired_entries(path, users, COST)
    assert (changed, removed) == (["bob"], [])
    assert again["alice"] == entries["alice"]
    assert again["bob"] != entries["bob"]
    assert verifies("new password", again["bob"])
    assert not verifies(USERS[1]["password"], again["bob"])


def test_changed_cost_rehashed(path):
    entries, dummy, dummy = desired_entries(path, USERS, COST)
    write_entries(path, entries)
    again, changed, removed = desired_entries(path, USERS, COST + 1)
    assert (changed, removed) == (["alice", "bob"], [])
    for user in USERS:
        assert again[user["name"]].startswith("$2b$05$")
        assert verifies(user["password"], again[user["name"]])


def test_removed_users_reported(path):
    entries, dummy, dummy = desired_entries(path, USERS + [{"name": "carol", "password": "c"}], COST)
    write_entries(path, entries)
    again, changed, removed = desired_entries(path, [USERS[1]], COST)
    assert again == {"bob": entries["bob"]}
    assert (changed, removed) == ([], ["alice", "carol"])


def test_foreign_hash_is_replaced(path):
    os.makedirs(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("alice:$apr1$abcdefgh$0123456789abcdefghijkl\nbob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n")
    entries, changed, removed = desired_entries(path, USERS, COST)
    assert (changed, removed) == (["alice", "bob"], [])
    assert all(verifies(u["password"], entries[u["name"]]) for u in USERS)


@pytest.mark.parametrize("cost", [3, 32, 0, -1])
def test_cost_out_of_range(path, cost):
    with pytest.raises(HtpasswdError) as info:
        desired_entries(path, USERS, cost)
    assert str(info.value) == "bcrypt cost must be between 4 and 31, got %d" % cost


def test_invalid_users_rejected_before_anything(path):
    with pytest.raises(HtpasswdError, match="empty password"):
        desired_entries(path, [{"name": "alice", "password": ""}], COST)


def test_entry_is_current():
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=COST)).decode("ascii")
    assert entry_is_current(hashed, "pw", COST) is True
    assert entry_is_current(hashed, "other", COST) is False
    assert entry_is_current(hashed, "pw", COST + 1) is False
    assert entry_is_current("$2b$04$garbage", "pw", COST) is False


# ---- write_entries / read_entries -----------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o640, 0o600])
def test_write_entries_mode_and_lines(path, mode):
    entries, dummy, dummy = desired_entries(path, list(reversed(USERS)), COST)
    write_entries(path, entries, mode)
    assert os.stat(path).st_mode & 0o7777 == mode
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    assert lines[-1] == ""  # newline-terminated
    matches = [LINE_RE.match(line) for line in lines[:-1]]
    assert all(matches), lines
    assert [m.group("name") for m in matches] == ["alice", "bob"]  # sorted
    assert [m.group("cost") for m in matches] == ["04", "04"]
    for match, user in zip(matches, USERS):
        assert verifies(user["password"], match.group("hash"))
    assert os.listdir(os.path.dirname(path)) == ["htpasswd"]  # no temporary file left behind
    assert read_entries(path) == entries


def test_write_entries_default_mode_and_mode_fixed_on_rewrite(path):
    entries, dummy, dummy = desired_entries(path, USERS, COST)
    write_entries(path, entries)
    assert os.stat(path).st_mode & 0o7777 == 0o640
    os.chmod(path, 0o644)
    write_entries(path, entries, 0o600)
    assert os.stat(path).st_mode & 0o7777 == 0o600


def test_read_entries_missing_file_and_junk(tmp_path):
    assert read_entries(str(tmp_path / "nope")) == {}
    junk = tmp_path / "htpasswd"
    junk.write_text("\nno-colon-line\nalice:$2b$04$x:y\n  \n")
    assert read_entries(str(junk)) == {"alice": "$2b$04$x:y"}
