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
  engine:
    description:
      - The engine that builds and holds the local images.
      - C(buildah) builds step by step in a working container and keeps images in containers-storage (what
        podman and skopeo's C(containers-storage:) read).
      - C(docker) builds through the Docker SDK for Python from a Containerfile rendered from the same
        definitions, on the daemon at O(docker_host); the images carry the same labels and configuration.
        With the daemon's experimental features on, each image is one layer on its parent (squash); without,
        each RUN group and each COPY/ADD is a layer.
    type: str
    choices: [buildah, docker]
    default: buildah
  docker_host:
    description:
      - The Docker daemon for O(engine=docker), for example C(unix:///var/run/docker.sock).
      - Defaults to E(DOCKER_HOST), then C(unix:///var/run/docker.sock).
    type: str
requirements:
  - For O(engine=docker), the Docker SDK for Python (C(docker)) on the managed node and a running Docker daemon.
"""
