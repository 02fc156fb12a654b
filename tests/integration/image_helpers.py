# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the integration tests that write a small definitions tree and look inside
the images built from it."""

from __future__ import annotations

import os
import subprocess

import yaml


def in_image(ref, *argv):
    """argv run as root in a throwaway container of ref (its entrypoint and healthcheck bypassed)."""
    return subprocess.run(["podman", "run", "--rm", "--no-healthcheck", "--user", "root", "--entrypoint", argv[0],
                           ref] + list(argv[1:]), capture_output=True, text=True, timeout=120, check=False)


def write(path, data):
    """data as YAML at path, its directories made."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(data, handle)
