# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  registry:
    description: Registry C(HOST:PORT).
    type: str
    required: true
  namespace:
    description: Namespace (repository path prefix) in the registry.
    type: str
    default: containergen
  authfile:
    description:
      - Registry credentials file (containers-auth.json format), as written by the C(containergen.images.registry) role.
        Credentials are never put on a command line.
    type: path
  cert_dir:
    description: Directory with the registry's C(ca.crt). By default the system trust and C(/etc/containers/certs.d) apply.
    type: path
  tls_verify:
    description:
      - Verify the registry's TLS certificate. Turning this off is insecure, only for throwaway setups, and warned about.
    type: bool
    default: true
  sign_key:
    description:
      - Sigstore (cosign-format, C(ENCRYPTED COSIGN PRIVATE KEY)) private key, as the C(containergen.images.signing_trust)
        module writes it. When set, every pushed revision and every moved floating tag is signed; the signatures
        are stored as OCI attachments (C(sha256-<digest>.sig)) when O(registries_d) says so.
      - Requires O(sign_passphrase_file).
    type: path
  sign_passphrase_file:
    description: File (mode 0600) holding the passphrase of O(sign_key). The passphrase is never on a command line.
    type: path
  registries_d:
    description:
      - Directory of C(registries.d) files for skopeo (C(--registries.d)); by default C(/etc/containers/registries.d).
        The registry's file must say C(use-sigstore-attachments) set to true for signatures to be stored in the registry.
    type: path
requirements:
  - skopeo
"""
