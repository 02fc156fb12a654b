# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make the collection importable as ansible_collections.containergen.images for the unit tests."""

import pathlib
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
COLLECTIONS = REPO_ROOT / ".cache" / "collections"

if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
