#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Size report of a built set through the collection's module (containergen.images.image_sizes).

Per image its size, own layer and gzip -6 / zstd -3 sizes; the set with shared layers counted once;
the squash what-if; files and packages duplicated across sibling layers; runtime state. Compares
against the previous report of the same name when there is one.

With --timings it also measures how long the report takes: with the layer cache emptied first
(never seen: every layer read and compressed), again without compression, and cached.

Usage (after scripts/setup.sh and `source scripts/env.sh`; as root):
    python bench/sizes.py --namespace localhost/containergen [--name default-trixie] [--tag latest]
        [--include NAME ...] [--timings]
Writes bench/results/sizes-NAME.json, .md (the table) and .svg, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import typing as t

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def module(args: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    done = subprocess.run(["ansible", "localhost", "-m", "containergen.images.image_sizes", "-a", json.dumps(args)],
                          capture_output=True, text=True, check=False)
    head, _sep, body = done.stdout.partition("=>")
    if done.returncode != 0 or "SUCCESS" not in head:
        raise SystemExit("image_sizes failed: %s" % (body.strip() or done.stderr.strip()).splitlines()[0])
    return json.loads(body)


def report(namespace: str, tag: str, output: str, name: str, work_dir: str, include: t.Sequence[str],
           timings: bool) -> t.Dict[str, t.Any]:
    base = os.path.join(output, "sizes-%s" % name)
    args: t.Dict[str, t.Any] = {"namespace": namespace, "tag": tag, "work_dir": work_dir}
    if include:
        args["images"] = ["%s/%s:%s" % (namespace.rstrip("/"), image, tag) for image in include]
    measured = {}
    if timings:
        shutil.rmtree(os.path.join(work_dir, "sizes"), ignore_errors=True)
        measured["cold_seconds"] = module(dict(args))["seconds"]
        shutil.rmtree(os.path.join(work_dir, "sizes"), ignore_errors=True)
        measured["cold_no_compress_seconds"] = module(dict(args, compress=False))["seconds"]
        measured["compress_after_no_compress_seconds"] = module(dict(args))["seconds"]
    if os.path.exists(base + ".json"):
        args["against"] = base + ".json"
    result = module(dict(args, json_path=base + ".json", chart_path=base + ".svg"))
    if timings:
        measured["cached_seconds"] = result["seconds"]
        result["timings"] = measured
        with open(base + ".json", "w", encoding="utf-8") as handle:
            json.dump({k: v for k, v in result.items() if k != "table"}, handle, indent=1, sort_keys=True)
            handle.write("\n")
    with open(base + ".md", "w", encoding="utf-8") as handle:
        handle.write("```\n%s\n```\n" % result["table"])
        if timings:
            handle.write("\nreport seconds: %s\n" % json.dumps(measured, sort_keys=True))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--namespace", default="localhost/containergen")
    parser.add_argument("--tag", default="latest")
    parser.add_argument("--include", action="append", default=[], help="image name of the set (default: all)")
    parser.add_argument("--name", default="default", help="report name (file names under --output)")
    parser.add_argument("--output", default=os.path.join(REPO, "bench", "results"))
    parser.add_argument("--work-dir", default="/var/tmp/containergen-bench")
    parser.add_argument("--timings", action="store_true", help="also time the report cold, uncompressed and cached")
    args = parser.parse_args()
    os.makedirs(args.output, exist_ok=True)
    result = report(args.namespace, args.tag, args.output, args.name, args.work_dir, args.include, args.timings)
    sys.stdout.write(result["table"] + "\n")
    if result.get("timings"):
        sys.stdout.write("report seconds: %s\n" % json.dumps(result["timings"], sort_keys=True))


if __name__ == "__main__":
    main()
