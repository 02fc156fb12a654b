#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size report of a built set through the collection's module (containergen.images.image_sizes).

Per image its size, own layer and gzip/zstd transfer size; the set with shared layers counted once;
the squash what-if; files duplicated across sibling layers; runtime state. Compares against the
previous report of the same name when there is one.

Usage (after scripts/setup.sh and `source scripts/env.sh`; as root):
    python bench/sizes.py --namespace localhost/containergen [--name default-trixie] [--tag latest]
Writes bench/results/sizes-NAME.json, .md (the table) and .svg, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def report(namespace: str, tag: str, output: str, name: str, work_dir: str) -> dict:
    base = os.path.join(output, "sizes-%s" % name)
    args = {"namespace": namespace, "tag": tag, "work_dir": work_dir, "json_path": base + ".json",
            "svg_path": base + ".svg"}
    if os.path.exists(base + ".json"):
        args["against"] = base + ".json"
    done = subprocess.run(["ansible", "localhost", "-m", "containergen.images.image_sizes", "-a", json.dumps(args)],
                          capture_output=True, text=True, check=False)
    head, _sep, body = done.stdout.partition("=>")
    if done.returncode != 0 or "SUCCESS" not in head:
        raise SystemExit("image_sizes failed: %s" % (body.strip() or done.stderr.strip()).splitlines()[0])
    result = json.loads(body)
    with open(base + ".md", "w", encoding="utf-8") as handle:
        handle.write("```\n%s\n```\n" % result["table"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--namespace", default="localhost/containergen")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--name", default="default", help="report name (file names under --output)")
    parser.add_argument("--output", default=os.path.join(REPO, "bench", "results"))
    parser.add_argument("--work-dir", default="/var/tmp/containergen-bench")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    result = report(args.namespace, args.tag, args.output, args.name, args.work_dir)
    sys.stdout.write(result["table"] + "\n")


if __name__ == "__main__":
    main()
