#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_htpasswd
short_description: Manage a bcrypt-only htpasswd file for a container registry
version_added: 0.1.0
description:
  - Writes the htpasswd file of a CNCF distribution registry with exactly the given users, each hashed with bcrypt
    at the given cost (the registry accepts nothing else and checks the hash on every request, so the cost is
    a trade-off between brute-force resistance and request latency).
  - Idempotent although bcrypt salts are random; an entry is kept when it still verifies its password at the
    wanted cost. Users not listed are removed.
  - Passwords are never returned or logged.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
attributes:
  check_mode:
    support: full
    details:
      - Reports what would change without writing.
  diff_mode:
    support: partial
    details:
      - The diff lists user names only, never hashes or passwords.
  idempotent:
    support: full
    details:
      - A second run with the same users changes nothing.
options:
  path:
    description: Path of the htpasswd file.
    type: path
    required: true
  users:
    description: The registry users.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: User name.
        type: str
        required: true
      password:
        description: Password; must not be empty.
        type: str
        required: true
  cost:
    description: bcrypt cost (work factor, 4 to 31).
    type: int
    default: 10
  mode:
    description: File mode.
    type: str
    default: "0640"
requirements:
  - bcrypt (Python)
"""

EXAMPLES = r"""
- name: Registry users
  containergen.images.registry_htpasswd:
    path: /etc/containergen/registry/htpasswd
    users:
      - name: publisher
        password: "{{ vault_publisher_password }}"
    cost: 10
"""

RETURN = r"""
users:
  description: Names of the users in the file.
  returned: always
  type: list
  elements: str
rehashed:
  description: Users whose entry was written anew (new user, new password or new cost).
  returned: always
  type: list
  elements: str
removed:
  description: Users removed from the file.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils._htpasswd import (
    HtpasswdError, desired_entries, read_entries, write_entries,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "users": {"type": "list", "elements": "dict", "required": True, "no_log": False, "options": {
                "name": {"type": "str", "required": True},
                "password": {"type": "str", "required": True, "no_log": True},
            }},
            "cost": {"type": "int", "default": 10},
            "mode": {"type": "str", "default": "0640"},
        },
        supports_check_mode=True,
    )
    path, mode = module.params["path"], int(module.params["mode"], 8)
    try:
        entries, rehashed, removed = desired_entries(path, module.params["users"], module.params["cost"])
    except HtpasswdError as exc:
        module.fail_json(msg="%s: %s" % (path, exc))
    exists = os.path.exists(path)
    wrong_mode = exists and (os.stat(path).st_mode & 0o777) != mode
    changed = bool(rehashed or removed or wrong_mode or not exists)
    before = sorted(read_entries(path))
    if changed and not module.check_mode:
        write_entries(path, entries, mode)
    module.exit_json(changed=changed, users=sorted(entries), rehashed=rehashed, removed=removed,
                     diff={"before": {"users": before}, "after": {"users": sorted(entries)}})


if __name__ == "__main__":
    main()
