#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time the update check (refresh: updates) of a built image set: one index fetch, then one
apt-get -s per image, whatever the images' fingerprints (a plan asks only those up to date by
fingerprint; this asks every image of the namespace, the worst case).

Usage (as root, after a build of the set into NAMESPACE):
    .venv/bin/python bench/freshness.py --namespace localhost/containergen [--root base] [--threads 4]
Prints the fetch and check times and the updates found per image.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils import _freshness  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="localhost/containergen")
    parser.add_argument("--root", default="base", help="the image whose sources the indexes are fetched with")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=True).stdout
    refs = sorted(ref for ref in out.split() if ref.startswith(args.namespace + "/") and ref.endswith(":" + args.tag))
    if not refs:
        print("no image under %s/*:%s" % (args.namespace, args.tag), file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="containergen-lists-", dir="/var/tmp") as lists_root:
        checker = _freshness.Checker(Runner(), "debian", lists_root, threads=args.threads)
        start = time.monotonic()
        lists = checker.fetch("%s/%s:%s" % (args.namespace, args.root, args.tag), "bench")
        fetched = time.monotonic()
        found = checker.check_many([(ref, ref, lists, {}) for ref in refs])
        done = time.monotonic()
    print("images: %d, threads: %d, fetch %.1f s, checks %.1f s, total %.1f s, load %s"
          % (len(refs), args.threads, fetched - start, done - fetched, done - start,
             " ".join("%.1f" % value for value in os.getloadavg())))
    for ref, updates in sorted(found.items()):
        print("  %-50s %s" % (ref, _freshness.describe({"status": "stale" if updates else "up to date",
                                                        "updates": updates})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
