#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_sizes
short_description: Report the sizes of a set of local images, their own layers and the waste in them
version_added: 0.1.0
description:
  - Measures every image of a set one way - uncompressed layer tars, their gzip -6 size (zlib level 6; skopeo's
    parallel gzip writes about 5 % more) and, when the Python package C(zstandard) is installed, their zstd -3 size -
    for each image, its own layers (those on top of its parent in the set) and the whole set with shared layers
    counted once.
  - Adds the squash what-if (each image as one layer, and the set if every image were), the largest directories of
    each own layer, files (same path and content) and packages present in the own layers of two or more images with
    the bytes hoisting them into the images' lowest common parent would save, and runtime state found in the
    layers (initialized datadirs, pid files, non-empty logs, package lists) and C(__pycache__) counts.
  - Layers are analysed once and the results cached by layer diff digest under O(work_dir), so a report of a set
    already seen reads no layer. With the buildah engine on the overlay driver, layers are read in place from
    containers/storage (the tar-split lists files, sizes and checksums; the diff dir is read only to compress);
    other stores are exported once with C(skopeo copy).
  - Compressing is what takes time (gzip -6 of the whole default set is about a minute of CPU here); with
    O(compress=false) layers not analysed yet are listed without it (seconds) and their compressed sizes are null.
author:
  - containergen.images contributors (@containergen)
extends_documentation_fragment:
  - containergen.images._attributes
  - containergen.images._attributes.actiongroup_images
  - containergen.images._attributes.info_module
options:
  images:
    description:
      - Local image references of the set.
      - When empty, every image of the local store under O(namespace) with the tag O(tag) that carries the
        C(containergen.image) label.
    type: list
    elements: str
    default: []
  namespace:
    description: Namespace of the set when O(images) is empty.
    type: str
    default: localhost/containergen
  tag:
    description: Tag of the set when O(images) is empty.
    type: str
    default: latest
  engine:
    description: The engine whose local store holds the images (C(buildah) is read with podman).
    type: str
    choices: [buildah, docker]
    default: buildah
  work_dir:
    description: Directory of the layer cache (C(sizes/layers)) and of the temporary export of stores not read in place.
    type: path
    default: /var/tmp/containergen
  top:
    description: How many directories and duplicate files are listed per image or per hoisting target.
    type: int
    default: 10
  depth:
    description: Depth of the directories listed (C(3) lists C(/usr/lib/python3) but not C(/usr/lib/python3/dist-packages)).
    type: int
    default: 3
  threads:
    description: Layers analysed at once.
    type: int
    default: 2
  compress:
    description:
      - Measure the gzip and zstd sizes of layers not analysed yet. When false, those layers are read without
        compressing them and their compressed sizes (and the totals that include them) are null.
    type: bool
    default: true
  against:
    description: A previous report written by O(json_path); the result then has RV(comparison).
    type: path
  json_path:
    description: Write the report as JSON to this file.
    type: path
  chart_path:
    description:
      - Write a chart of the set (stacked own layers over their parents; needs matplotlib) to this file, SVG or PNG
        by its extension (C(.svg), C(.png)).
    type: path
    aliases: [svg_path]
"""

EXAMPLES = r"""
- name: Size report of the default set, compared with the last one
  containergen.images.image_sizes:
    namespace: localhost/containergen
    against: /var/tmp/containergen/sizes.json
    json_path: /var/tmp/containergen/sizes.json
    chart_path: /var/tmp/containergen/sizes.svg
  register: sizes

- name: Show it
  ansible.builtin.debug:
    msg: "{{ sizes.table.split('\n') }}"
"""

RETURN = r"""
images:
  description:
    - Per image name - C(ref), C(id), C(parent) (in the set, or null), C(layers), C(own_layers), C(size), C(gzip),
      C(zstd) (null without zstandard or with O(compress=false)), C(own_size), C(own_gzip), C(own_zstd),
      C(own_packages), C(top_dirs)
      (C([path, bytes]) of its own layers), C(runtime_state) (rule to C(files), C(bytes), C(examples)) and
      C(pycache) (C(dirs), C(files), C(bytes)). Sizes are bytes.
  returned: success
  type: dict
set:
  description:
    - The set with shared layers counted once - C(images), C(unique_layers), C(size), C(gzip), C(zstd) - and the
      squash what-if - C(squashed_size), C(squashed_gzip), C(squashed_zstd), C(squash_loss), C(squash_loss_gzip).
  returned: success
  type: dict
file_duplicates:
  description:
    - Files (same path and content) in the own layers of two or more images - C(items), C(bytes) (saved if each were
      kept once, in the lowest common parent) and C(by_target) (parent name to C(items), C(bytes), C(images),
      C(largest) as C([path, bytes saved, holders])).
  returned: success
  type: dict
package_duplicates:
  description:
    - Packages (same version) installed by the own layers of two or more images, as RV(file_duplicates); a package's
      bytes are those of the regular files its dpkg file list names in the own layers.
  returned: success
  type: dict
runtime_state:
  description: Per image name, the runtime state found in its own layers (empty when none).
  returned: success
  type: dict
comparison:
  description:
    - With O(against) - per image C([old, new, new - old]) of C(size), C(gzip), C(own_size), C(own_gzip); the set's;
      C(added) and C(removed) image names.
  returned: when O(against) is given
  type: dict
table:
  description: The report as text, one line per image, parents first, then the set.
  returned: success
  type: str
layers_read:
  description: Layers read and analysed by this run (the others came from the cache).
  returned: success
  type: int
seconds:
  description: Time the report took.
  returned: success
  type: float
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.containergen.images.plugins.module_utils import _sizes
from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner


def main():
    module = AnsibleModule(
        argument_spec={
            "images": {"type": "list", "elements": "str", "default": []},
            "namespace": {"type": "str", "default": "localhost/containergen"},
            "tag": {"type": "str", "default": "latest"},
            "engine": {"type": "str", "choices": sorted(_sizes.STORES), "default": "buildah"},
            "work_dir": {"type": "path", "default": "/var/tmp/containergen"},
            "top": {"type": "int", "default": 10},
            "depth": {"type": "int", "default": 3},
            "threads": {"type": "int", "default": 2},
            "against": {"type": "path"},
            "compress": {"type": "bool", "default": True},
            "json_path": {"type": "path"},
            "chart_path": {"type": "path", "aliases": ["svg_path"]},
        },
        supports_check_mode=True,
    )
    params = module.params
    run = Runner()
    try:
        refs = params["images"] or _sizes.set_refs(run, params["engine"], params["namespace"], params["tag"])
        against = _sizes.read_report(params["against"]) if params["against"] else None
        result = _sizes.report(run, refs, os.path.join(params["work_dir"], "sizes"), params["engine"],
                               params["top"], params["depth"], params["threads"], against, params["compress"])
        if params["json_path"]:
            _sizes.write_report(params["json_path"], result)
        if params["chart_path"]:
            _sizes.chart(result, params["chart_path"])
    except (_sizes.SizesError, CommandError, OSError, ValueError) as error:
        module.fail_json(msg=str(error).splitlines()[0] if str(error) else type(error).__name__)
    module.exit_json(changed=False, table=_sizes.table(result), **json.loads(json.dumps(result)))


if __name__ == "__main__":
    main()
