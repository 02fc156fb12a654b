#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_report
short_description: Report the package changes between two revisions of an image
version_added: 0.1.0
description:
  - Reads the version-manifest labels of two tags of an image in the registry (without pulling) and returns the
    packages added, removed and updated, with a one-line summary such as C(nova-api +3 -1 ~12 packages).
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
  - containergen.images._attributes.info_module
  - containergen.images._registry
options:
  name:
    description: Image name.
    type: str
    required: true
  tag:
    description: Floating tag whose revisions are compared when O(old) and O(new) are not given.
    type: str
    default: latest
  old:
    description: Older tag. Defaults to the second latest revision of O(tag).
    type: str
  new:
    description: Newer tag. Defaults to the latest revision of O(tag).
    type: str
"""

EXAMPLES = r"""
- name: What changed in nova-api since the previous revision
  containergen.images.image_report:
    registry: localhost:5000
    authfile: /root/.config/containergen/auth.json
    name: nova-api
  register: report
"""

RETURN = r"""
summary:
  description: "One line: C(NAME: +ADDED -REMOVED ~UPDATED packages (OLD -> NEW))."
  returned: success
  type: str
added:
  description: Packages only in the newer image, with their versions.
  returned: success
  type: dict
removed:
  description: Packages only in the older image, with their versions.
  returned: success
  type: dict
updated:
  description: Packages in both with different versions, as C([old, new]).
  returned: success
  type: dict
refresh:
  description:
    - The package updates the newer revision was rebuilt for, as C(NAME=VERSION) (its C(containergen.refresh)
      label, set by a build with O(containergen.images.image_build#module:refresh=updates)); empty when it was
      built for another reason.
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils import _publish
from ansible_collections.containergen.images.plugins.module_utils._pipeline import registry_client
from ansible_collections.containergen.images.plugins.module_utils._spec import failing_on, registry_argument_spec
from ansible_collections.containergen.images.plugins.module_utils._stage_options import TAG, RegistryOptions


def main():
    module = AnsibleModule(
        argument_spec=registry_argument_spec(
            name={"type": "str", "required": True},
            tag={"type": "str", "default": TAG},
            old={"type": "str"},
            new={"type": "str"},
        ),
        supports_check_mode=True,
    )
    params = module.params
    with failing_on(module, _publish.PublishError, ValueError):
        result = _publish.report(registry_client(RegistryOptions.from_params(params)), params["name"], params["old"], params["new"], params["tag"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
