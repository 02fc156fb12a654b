#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_promote
short_description: Move the deployed and previous tags of images, from a lock file or back
version_added: 0.1.0
description:
  - V(promote) points each image's C(deployed) tag at the revision the lock file names (after checking that the
    revision still has the locked digest) and keeps the former C(deployed) as C(previous).
  - Only the lock file entries in O(registry) and O(namespace) are promoted; entries of other namespaces in a shared
    lock file are left alone. Lock files keyed by image name (older versions) are read too.
  - V(rollback) swaps C(deployed) and C(previous), so a second rollback rolls forward again.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
  - containergen.images._registry
attributes:
  check_mode:
    support: full
    details:
      - Reports what would move; nothing moves.
  diff_mode:
    support: none
    details:
      - Results name the digests before and after.
  idempotent:
    support: partial
    details:
      - Promoting the same lock file twice moves nothing the second time.
      - A rollback is a swap, so it changes the tags every time it runs.
options:
  action:
    description: What to do.
    type: str
    choices: [promote, rollback]
    default: promote
  lock_file:
    description: Lock file (C(.yaml) or C(.json)) written by M(containergen.images.image_publish). Required to promote.
    type: path
  images:
    description: Images to roll back. Empty means every image of O(lock_file).
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Promote what was just published
  containergen.images.image_promote:
    registry: localhost:5000
    authfile: /root/.config/containergen/auth.json
    lock_file: /var/tmp/containergen/images.lock.yaml

- name: Roll keystone back
  containergen.images.image_promote:
    registry: localhost:5000
    authfile: /root/.config/containergen/auth.json
    action: rollback
    images: [keystone]
"""

RETURN = r"""
images:
  description: One result per image, with V(promoted), V(rolled back) or V(unchanged) as action.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils import _publish
from ansible_collections.containergen.images.plugins.module_utils._pipeline import registry_client
from ansible_collections.containergen.images.plugins.module_utils._spec import failing_on, registry_argument_spec
from ansible_collections.containergen.images.plugins.module_utils._stage_options import RegistryOptions


def main():
    module = AnsibleModule(
        argument_spec=registry_argument_spec(
            action={"type": "str", "choices": ["promote", "rollback"], "default": "promote"},
            lock_file={"type": "path"},
            images={"type": "list", "elements": "str", "default": []},
        ),
        required_if=[("action", "promote", ["lock_file"])],
        supports_check_mode=True,
    )
    params = module.params
    with failing_on(module, _publish.PublishError, OSError, ValueError):
        registry = registry_client(RegistryOptions.from_params(params))
        entries = _publish.read_lock_file(params["lock_file"]) if params["lock_file"] else {}
        if params["action"] == "promote":
            results = _publish.promote(registry, entries, check_mode=module.check_mode)
        else:
            names = params["images"] or sorted(_publish.entries_of(registry, entries))
            if not names:
                module.fail_json(msg="rollback needs images or a lock_file naming them")
            results = _publish.rollback(registry, names, check_mode=module.check_mode)
    module.exit_json(changed=any(r["action"] != "unchanged" for r in results), images=results)


if __name__ == "__main__":
    main()
