#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: signing_trust
short_description: Image signing key pair and the client trust that requires its signatures on pull
version_added: 0.1.0
description:
  - Creates a sigstore (cosign-compatible) ECDSA P-256 key pair once, in the format skopeo signs with
    (C(ENCRYPTED COSIGN PRIVATE KEY), scrypt and NaCl secretbox in a JSON envelope). The private key and the file
    holding its random passphrase are mode 0600; the public key is 0644. The passphrase is never a module
    argument, never on a command line and never returned.
  - An existing key is never replaced; its passphrase must open it (bring your own key by pointing
    O(private_key), O(passphrase_file) and O(public_key) at it).
  - With O(registry), adds a C(policy.json) scope for that registry that requires a C(sigstoreSigned) signature by
    the public key (the default and every other scope are kept as they are) and a C(registries.d) file with
    C(use-sigstore-attachments) so that podman, buildah and skopeo read and write the signatures in the registry.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A second run changes nothing.
options:
  key_dir:
    description: Directory of the key pair (C(cosign.key), C(cosign.pub), C(cosign.password)); created 0700.
    type: path
    required: true
  private_key:
    description: Path of the private key; default C(key_dir/cosign.key).
    type: path
  public_key:
    description: Path of the public key; default C(key_dir/cosign.pub). Written from the private key when missing.
    type: path
  passphrase_file:
    description: Path of the passphrase file; default C(key_dir/cosign.password).
    type: path
  registry:
    description:
      - Registry C(HOST:PORT) (or a repository under it) whose images must be signed by this key on pull.
        When empty, only the key pair is made.
    type: str
    default: ""
  enforce:
    description:
      - Add the C(sigstoreSigned) scope for O(registry) to O(policy_file).
      - Debian 12's podman, buildah and skopeo are built without sigstore support, so under such a scope they refuse
        every image, signed or not. Enforce only on hosts whose containers/image checks sigstore signatures
        (upstream builds); elsewhere check with the C(verify) of the collection's publishing code.
    type: bool
    default: true
  policy_file:
    description: The C(containers-policy.json) file to add the scope to.
    type: path
    default: /etc/containers/policy.json
  registries_d:
    description: The C(containers-registries.d) directory; the module writes C(containergen-<registry>.yaml) there.
    type: path
    default: /etc/containers/registries.d
requirements:
  - PyNaCl (Python) or Debian's python3-nacl
  - cryptography (Python)
"""

EXAMPLES = r"""
- name: Signing key and client trust for the registry
  containergen.images.signing_trust:
    key_dir: /etc/containergen/signing
    registry: registry.example.org:5000

- name: Bring your own cosign key
  containergen.images.signing_trust:
    key_dir: /etc/containergen/signing
    private_key: /etc/pki/cosign/cosign.key
    passphrase_file: /etc/pki/cosign/cosign.password
    public_key: /etc/pki/cosign/cosign.pub
    registry: registry.example.org:5000
"""

RETURN = r"""
private_key:
  description: Path of the private key (give it to image_publish as O(containergen.images.image_publish#module:sign_key)).
  returned: always
  type: str
passphrase_file:
  description: Path of the passphrase file.
  returned: always
  type: str
public_key:
  description: Path of the public key.
  returned: always
  type: str
key_id:
  description: SHA-256 of the public key (DER), to tell keys apart when rotating.
  returned: always
  type: str
policy_file:
  description: The policy file holding the scope.
  returned: when O(registry) is set and O(enforce) is true
  type: str
registries_d_file:
  description: The registries.d file written.
  returned: when O(registry) is set
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils._signing import (
    SigningError, ensure_key_pair, write_trust,
)


def main():
    module = AnsibleModule(
        argument_spec={
            "key_dir": {"type": "path", "required": True},
            "private_key": {"type": "path"},
            "public_key": {"type": "path"},
            "passphrase_file": {"type": "path", "no_log": False},
            "registry": {"type": "str", "default": ""},
            "enforce": {"type": "bool", "default": True},
            "policy_file": {"type": "path", "default": "/etc/containers/policy.json"},
            "registries_d": {"type": "path", "default": "/etc/containers/registries.d"},
        },
        supports_check_mode=False,
    )
    params = module.params
    try:
        result = ensure_key_pair(params["key_dir"], params["private_key"], params["public_key"],
                                 params["passphrase_file"])
        if params["registry"]:
            trust = write_trust(params["registry"], result["public_key"],
                                params["policy_file"] if params["enforce"] else None, params["registries_d"])
            result.update(registries_d_file=trust["registries_d_file"], changed=result["changed"] or trust["changed"])
            if params["enforce"]:
                result["policy_file"] = trust["policy_file"]
    except (SigningError, OSError) as exc:
        module.fail_json(msg="signing_trust: %s" % exc)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
