#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_verify
short_description: Check the signatures (and SBOMs) of published images before pulling them
version_added: 0.1.0
description:
  - For each reference, reads the digest it points at and the digest's sigstore signature attachment
    (C(sha256-<digest>.sig), cosign's format) from the registry, and accepts it only when a signature by one of
    O(trusted_keys) binds that digest to that reference, as a C(policy.json) C(sigstoreSigned) requirement with the
    default C(signedIdentity) does (a reference by digest accepts a signature for any tag of its repository).
  - The check runs here because Debian 12's podman and skopeo are built without sigstore support; pull the returned
    digests (RV(images[].digest)) so that what is pulled is what was checked.
  - Fails at the first reference refused, naming it; nothing is pulled.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
attributes:
  check_mode:
    support: full
    details:
      - It only reads; check mode runs the same checks.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - It changes nothing.
options:
  references:
    description:
      - Images to check, C(HOST[:PORT]/NAMESPACE/NAME:TAG), C(HOST[:PORT]/NAMESPACE/NAME@sha256:DIGEST), or a lock file
        entry C(HOST[:PORT]/NAMESPACE/NAME:TAG@sha256:DIGEST) (checked by its digest).
    type: list
    elements: str
    required: true
  trusted_keys:
    description:
      - Files of PEM public keys (C(cosign.pub)); a file may hold several keys. While rotating, trust the old and the new
        key; revisions signed by the old key stay valid until they are culled.
    type: list
    elements: path
    required: true
  require_sbom:
    description: Also require SPDX and CycloneDX SBOM artifacts referring to each digest (as image_publish pushes them).
    type: bool
    default: false
  authfile:
    description: Registry credentials file (containers-auth.json format). Credentials are never put on a command line.
    type: path
  cert_dir:
    description: Directory with the registry's C(ca.crt). By default C(/etc/containers/certs.d/HOST:PORT) and the system trust.
    type: path
  tls_verify:
    description: Verify the registry's TLS certificate. Turning this off is insecure and warned about.
    type: bool
    default: true
  registries_d:
    description: Directory of C(registries.d) files for skopeo (C(--registries.d)).
    type: path
requirements:
  - skopeo
  - cryptography (Python)
"""

EXAMPLES = r"""
- name: Check the images of a lock file before pulling them
  containergen.images.image_verify:
    references: "{{ (lookup('ansible.builtin.file', '/var/tmp/containergen/images.lock.json') | from_json).images.values() | list }}"
    trusted_keys: [/etc/containergen/signing/cosign.pub]
    authfile: /root/.config/containergen/auth.json
  register: verified

- name: While rotating keys, trust both
  containergen.images.image_verify:
    references: [registry.example.org:5000/openstack/keystone:latest]
    trusted_keys: [/etc/containergen/signing/cosign.pub, /etc/containergen/signing-old/cosign.pub]
    require_sbom: true
"""

RETURN = r"""
images:
  description: One entry per reference, in order.
  returned: success
  type: list
  elements: dict
  contains:
    reference:
      description: The reference as given.
      type: str
    digest:
      description: The manifest digest that was verified (pull this).
      type: str
    sbom:
      description: With O(require_sbom), the digests of the SBOM artifacts (C(spdx), C(cyclonedx)).
      type: dict
    seconds:
      description: Time the check of this reference took.
      type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils import _publish, _signing
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError
from ansible_collections.containergen.images.plugins.module_utils._options import OptionError
from ansible_collections.containergen.images.plugins.module_utils._pipeline import registry_client
from ansible_collections.containergen.images.plugins.module_utils._stage_options import RegistryOptions


def main():
    module = AnsibleModule(
        argument_spec={
            "references": {"type": "list", "elements": "str", "required": True},
            "trusted_keys": {"type": "list", "elements": "path", "required": True, "no_log": False},
            "require_sbom": {"type": "bool", "default": False},
            "authfile": {"type": "path"},
            "cert_dir": {"type": "path"},
            "tls_verify": {"type": "bool", "default": True},
            "registries_d": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params["tls_verify"]:
        module.warn("TLS verification is OFF (tls_verify: false): anyone on the path can answer for the registry")
    common = {k: params[k] for k in ("authfile", "cert_dir", "tls_verify", "registries_d")}

    def make_registry(host, namespace):
        return registry_client(RegistryOptions.from_params(dict(common, registry=host, namespace=namespace)))

    try:
        keys = _signing.read_public_keys(params["trusted_keys"])
        images = _publish.verify_references(make_registry, params["references"], keys, params["require_sbom"])
    except (_signing.SigningError, _publish.PublishError, OptionError) as exc:
        module.fail_json(msg="image_verify: %s" % exc)
    except CommandError as exc:
        module.fail_json(msg="image_verify: %s" % exc, command=exc.argv)
    module.exit_json(changed=False, images=images)


if __name__ == "__main__":
    main()
