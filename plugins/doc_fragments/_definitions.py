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
  definitions_path:
    description:
      - Root of the image definitions tree (TripleO TCIB layout). One directory per image, nested under its
        parent's directory; all C(.yaml)/C(.yml) files of a directory are merged in sorted order.
      - The collection's own tree (the default Debian 12 image set) is C(vars/images) in the collection; the
        C(containergen.images.image_build) role passes it by default.
    type: path
    required: true
  profiles_path:
    description:
      - Directory of distro profiles (C(NAME.yml)), for example the collection's C(vars/profiles).
    type: path
    required: true
  profile:
    description:
      - Distro profile to build for, for example V(debian13), V(debian12), V(ubi8) or V(centos9).
    type: str
    default: debian13
  include:
    description:
      - Image names or regular expressions (full match) to build. Each pulls in its ancestors.
      - Empty means every image.
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Image names or regular expressions (full match) not to build. Each also excludes its descendants.
    type: list
    elements: str
    default: []
  namespace:
    description:
      - Namespace of the local image references, C(NAMESPACE/PREFIXNAME:TAG).
    type: str
    default: localhost/containergen
  prefix:
    description:
      - Prefix of every image name.
    type: str
    default: ""
  tag:
    description:
      - Tag of the built images. It does not enter the content fingerprint.
    type: str
    default: latest
  labels:
    description:
      - Extra labels for every image. They enter the content fingerprint.
    type: dict
    default: {}
  extra_config:
    description:
      - A YAML file of C(tcib_*) keys applied to every image (tripleoclient's C(--extra-config)).
      - The merge rule keeps everything an image sets. Mappings (C(tcib_labels), C(tcib_envs), C(tcib_args))
        are merged with the image's own entries winning; any other key only fills in where the image does not
        set it.
    type: path
  template_vars:
    description:
      - Extra variables for the templates of the definitions (tripleoclient's C(--tcib-extras)), named C(tcib_*).
        They cannot replace an image key. They enter the content fingerprint.
    type: dict
    default: {}
  base_image:
    description:
      - An image used as it is as the base of the root images instead of the profile's (tripleoclient's
        C(--base)); pulled when it is not present.
    type: str
  extra_roots:
    description:
      - Directories besides O(definitions_path) that the files an image copies (C(tcib_copies), C(tcib_adds),
        C(copy)/C(add) actions, C(tcib_gather_files)) may come from.
      - Every source must resolve, after symlinks, inside the definitions tree or one of these directories;
        anything else is an error before any build. V(/) is refused.
    type: list
    elements: path
    default: []
  refresh:
    description:
      - V(updates) checks every image of the plan that is up to date by its fingerprint for package updates
        without building (per root image, one throwaway container fetches the repository indexes and one prints
        the candidate version of every package of the images' version manifests; the versions are compared with
        the package manager's own ordering; podman runs the containers for the buildah engine, the Docker daemon
        for the docker engine). An image with updates is stale, and so are its descendants.
      - image_plan shows them in the status; image_build rebuilds exactly them (a stale base image is bootstrapped
        again, which rebuilds everything). The updates go into the rebuilt image's fingerprint and its
        C(containergen.refresh) label.
      - V(none) checks nothing.
    type: str
    choices: [none, updates]
    default: none
  hoist:
    description:
      - V(true) applies the shared layers of the profile's hoist file (C(hoist/PROFILE.yml) beside the
        O(profiles_path) directory, the collection's C(vars/hoist/PROFILE.yml)) when there is one and its
        C(enabled) is true - synthetic images C(PARENT-shared) inserted between a parent and the children that
        share packages, which install those packages once.
      - V(false) builds every image on its own parent, without the synthetic C(PARENT-shared) images of the
        profile's hoist file, for this run only (the file itself is not changed; its C(enabled) key turns hoisting
        off for every run). The children's fingerprints change with their parent, so image_build rebuilds them.
      - The C(hoist) result of image_plan lists the layers applied; it is empty with V(false).
    type: bool
    default: true
"""
