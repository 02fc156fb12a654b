#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_cull
short_description: Delete old tag revisions that nothing references any more
version_added: 0.1.0
description:
  - Deletes the revisions C(TAG-N) of each image that are older than O(max_age_days) (by their creation time),
    except the latest revision and any revision whose digest a kept tag shares.
  - CNCF distribution deletes by manifest digest, which removes every tag of that digest; so a revision is kept
    when it has the digest of the floating tag, a static tag, C(deployed), C(previous), or an entry of a given
    lock file.
  - With a revision go the artifacts that refer to its digest (the SBOMs the publishing pushed, found through the
    referrers API or the C(sha256-<hex>) index of the tag-schema fallback, and that index) and its signature
    attachment; those of a kept digest are never touched.
  - Storage is only freed by a garbage collection afterwards (the C(containergen.images.registry) role's C(gc) entry
    point).
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
      - Lists what would be deleted; nothing is deleted.
  diff_mode:
    support: none
    details:
      - The results list deleted and kept revisions.
  idempotent:
    support: full
    details:
      - A second run finds nothing more to delete.
options:
  images:
    description: Image names to cull.
    type: list
    elements: str
    required: true
  tag:
    description: Floating tag whose revisions are culled.
    type: str
    default: latest
  max_age_days:
    description: Revisions older than this many days may go.
    type: int
    default: 30
  lock_files:
    description: Lock files whose entries must be kept.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Cull nightly revisions older than 30 days
  containergen.images.image_cull:
    registry: localhost:5000
    authfile: /root/.config/containergen/auth.json
    images: [keystone, nova-api]
    tag: nightly
    lock_files: [/srv/deploy/images.lock.yaml]
"""

RETURN = r"""
images:
  description:
    - Per image, the revisions deleted and kept, and the signature attachments (C(sha256-<digest>.sig)) deleted with
      the digests they signed (C(signatures_deleted)); a kept digest keeps its signatures.
    - C(artifacts_deleted) lists the OCI artifacts (SBOMs) whose subject was a deleted digest, and the C(sha256-<hex>)
      referrers index that listed them; those of a kept digest stay.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils import _publish
from ansible_collections.containergen.images.plugins.module_utils._pipeline import registry_client
from ansible_collections.containergen.images.plugins.module_utils._spec import failing_on, registry_argument_spec
from ansible_collections.containergen.images.plugins.module_utils._stage_options import TAG, RegistryOptions


def main():
    module = AnsibleModule(
        argument_spec=registry_argument_spec(
            images={"type": "list", "elements": "str", "required": True},
            tag={"type": "str", "default": TAG},
            max_age_days={"type": "int", "default": 30},
            lock_files={"type": "list", "elements": "path", "default": []},
        ),
        supports_check_mode=True,
    )
    params = module.params
    with failing_on(module, _publish.PublishError, OSError, ValueError):
        keep = set()
        for path in params["lock_files"]:
            keep |= {_publish.parse_lock_ref(ref)[2] for ref in _publish.read_lock_file(path).values()}
        registry = registry_client(RegistryOptions.from_params(params))
        results = _publish.cull(registry, params["images"], params["tag"], params["max_age_days"], keep,
                                check_mode=module.check_mode)
    module.exit_json(changed=any(r["deleted"] for r in results), images=results)


if __name__ == "__main__":
    main()
