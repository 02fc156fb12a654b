# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark measures the default profile and removes that profile's base image for a cold run."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "bench"))
import bench  # noqa: E402  pylint: disable=wrong-import-position,import-error


def test_base_image_of_a_profile_comes_from_its_file():
    assert bench.profile_base_ref("debian13") == "localhost/containergen/debian13-rootfs:trixie"
    assert bench.profile_base_ref("debian12") == "localhost/containergen/debian12-rootfs:bookworm"
