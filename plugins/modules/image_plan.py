#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_plan
short_description: Validate image definitions and compute the build plan
version_added: 0.1.0
description:
  - Loads TCIB-style image definitions and a distro profile, validates them strictly (unknown key, wrong type,
    unknown parent, cycle, duplicate image name, missing package list, broken YAML), selects images, orders them
    parents first and computes a content fingerprint per image.
  - Nothing is built. With O(inspect_local=true) the local image store is read to say which images are up to date.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
  - containergen.images._attributes.info_module
  - containergen.images._definitions
  - containergen.images._engine
options:
  inspect_local:
    description:
      - Read the local image store (with C(podman images)) to report which images are up to date.
    type: bool
    default: true
notes:
  - Errors name the file, the image and the key; the module fails before any build.
"""

EXAMPLES = r"""
- name: Show the plan of the nova images on Debian 12
  containergen.images.image_plan:
    definitions_path: /srv/containergen/images
    profiles_path: /srv/containergen/profiles
    include:
      - "nova-.*"
  register: plan

- name: Print it
  ansible.builtin.debug:
    msg: "{{ plan.table.split('\n') }}"

- name: Check that TripleO's own definitions render for CentOS Stream 9
  containergen.images.image_plan:
    definitions_path: /usr/share/tripleo-common/container-images/tcib
    profiles_path: /srv/containergen/profiles
    profile: centos9
    inspect_local: false
"""

RETURN = r"""
profile:
  description: The profile planned for.
  returned: success
  type: str
  sample: debian13
order:
  description: Image names in build order, parents first.
  returned: success
  type: list
  elements: str
  sample: [base, os, keystone]
images:
  description: One entry per selected image.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: Image name (its directory name).
      type: str
    parent:
      description: Parent image name, or null for an image built on the profile's base image.
      type: str
    ref:
      description: Local image reference.
      type: str
    from:
      description: Reference the image is built from.
      type: str
    fingerprint:
      description: sha256 of everything that determines the image.
      type: str
    packages:
      description: Packages resolved for the profile.
      type: list
      elements: str
    steps:
      description: Rendered build steps as C([verb, argument]) pairs.
      type: list
      elements: list
    status:
      description:
        - V(up to date), V(build) or V(build (new base)); empty when O(inspect_local=false).
        - "With O(refresh=updates) also V(stale (N packages: name old → new, ...)), V(stale (parent)), or
          V(build (base has N updates))."
      type: str
    refresh:
      description: The package updates (C(NAME=VERSION)) the image is built for; only when there are some.
      type: list
      elements: str
      returned: when the image has a refresh salt
    omitted:
      description:
        - The packages the image's C(tcib_omit_packages) takes out of it, each mapped to its reason (a last RUN
          step replaces each by a stub package C(containergen-omitted-NAME) and purges it).
      type: dict
      returned: when the image omits packages
table:
  description:
    - The plan as a plain text table, followed by one line per shared layer of the profile's hoist file and one
      per image that omits packages (C(omitted from IMAGE), then each package with its reason).
  returned: success
  type: str
hoist:
  description:
    - The shared layers of the profile's hoist file (C(vars/hoist/PROFILE.yml)), one entry per synthetic image
      C(PARENT-shared) - C(name), C(parent), C(children) re-parented onto it, C(packages) installed once in it,
      C(saved_bytes) and C(grown_bytes) as priced when generated, C(reason), and C(status) (V(applied), or why not).
    - Empty with O(hoist=false).
  returned: success
  type: list
  elements: dict
  sample: [{name: base-shared, parent: base, children: [mariadb, memcached], packages: [perl], status: applied}]
updates:
  description:
    - The update check (O(refresh=updates)); C(images) maps each image to its C(status) (V(up to date), V(stale),
      V(stale (parent)), V(changed definition), V(absent)), C(updates) (each package mapped to
      C([installed, candidate])) and C(salt); C(salts) lists the images with updates of their own; C(base) the
      base image's updates; C(containers) the number of throwaway containers the check ran (a few per run,
      whatever the number of images); C(seconds) the time of the check.
  returned: when O(refresh=updates) and O(inspect_local=true)
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner
from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError
from ansible_collections.containergen.images.plugins.module_utils._pipeline import plan_images
from ansible_collections.containergen.images.plugins.module_utils._spec import (
    definitions_argument_spec, engine_argument_spec,
)
from ansible_collections.containergen.images.plugins.module_utils._stage_options import PlanOptions


def main():
    module = AnsibleModule(
        argument_spec=definitions_argument_spec(**engine_argument_spec(
            inspect_local={"type": "bool", "default": True})),
        supports_check_mode=True,
    )
    try:
        result = plan_images(PlanOptions.from_params(module.params),
                             runner=Runner() if module.params["inspect_local"] else None)
    except OptionError as exc:
        module.fail_json(msg=str(exc))
    except DefinitionError as exc:
        module.fail_json(msg="invalid image definitions:\n" + str(exc), problems=exc.problems)
    except CommandError as exc:
        module.fail_json(msg=str(exc), command=exc.argv)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
