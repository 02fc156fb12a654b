#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark the build of an image set through the README's own command (ansible-playbook).

Measures, per engine (buildah, and docker through the Docker SDK, in one run): cold build (every
image of the set built, none reused), no-op rerun, and per image the whole size, its own layer on
top of its parent, its build time and the orchestration overhead (time not spent in RUN steps, i.e.
the package manager and scripts, or in commit); plus the base bootstrap.

Usage (after scripts/setup.sh, and scripts/dockerd.sh for the docker column; as root):
    .venv/bin/python bench/bench.py [--include NAME ...] [--threads 2] [--keep-base] [--engine buildah]
Writes bench/results/latest.json and bench/results/latest.md, and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=kwargs.pop("check", False), **kwargs)


def remove_namespace(namespace, engines=("buildah", "docker")):
    removed = 0
    for engine in engines:
        tool = "podman" if engine == "buildah" else "docker"
        out = sh([tool, "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
        doomed = [ref for ref in out if ref.startswith(namespace + "/")]
        if doomed:
            sh([tool, "rmi", "--force"] + doomed)
        removed += len(doomed)
    return removed


def run_build(args, work_dir, label, engine="buildah", force=False):
    os.makedirs(work_dir, exist_ok=True)
    variables = {"image_build_namespace": args.namespace, "image_build_work_dir": work_dir,
                 "image_build_threads": args.threads, "image_build_include": args.include,
                 "image_build_profile": args.profile, "image_build_engine": engine,
                 # cold means built: an image of the same fingerprint elsewhere would only be tagged
                 "image_build_force": force}
    vars_file = os.path.join(work_dir, "bench-vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    summary_file = os.path.join(work_dir, "summary.json")
    if os.path.exists(summary_file):
        os.unlink(summary_file)
    start = time.monotonic()
    proc = sh(["ansible-playbook", "containergen.images.build", "-e", "@" + vars_file], cwd=REPO)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("%s build failed (rc %d)" % (label, proc.returncode))
    with open(summary_file, encoding="utf-8") as handle:
        summary = json.load(handle)
    summary["wall_seconds"] = round(seconds, 2)
    counts = (len(summary["images_built"]), len(summary["images_unchanged"]))
    print("%-14s %7.1f s  built %d, unchanged %d" % ((label, seconds) + counts), flush=True)
    return summary


def engine_table(result):
    lines = ["| engine | cold build | no-op rerun (in the module) | images | set size MB (shared once) "
             "| largest image MB | overhead mean / max s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for engine, runs in result["engines"].items():
        cold, noop = runs["cold"], runs["noop"]
        overheads = [overhead(image) for image in cold["images"] if image.get("timings")]
        lines.append("| %s | %.1f s | %.1f s (%.1f s) | %d | %.1f | %.1f | %.2f / %.2f |" % (
            engine, cold["wall_seconds"], noop["wall_seconds"], noop["seconds"], len(cold["images"]),
            cold["total_size"] / 1e6,
            max(i["size"] for i in cold["images"]) / 1e6,
            sum(overheads) / len(overheads) if overheads else 0, max(overheads) if overheads else 0))
    return lines


def overhead(image):
    timings = image.get("timings") or {}
    return image["seconds"] - timings.get("run", 0) - timings.get("commit", 0) if timings else 0.0


def markdown(result):
    cold, noop = result["cold"], result["noop"]
    docker = (result.get("engines") or {}).get("docker")
    by_name = {i["name"]: i for i in docker["cold"]["images"]} if docker else {}
    lines = [
        "Measured %s on %s (%d cores), profile %s, %d threads." % (
            result["date"], result["host"], os.cpu_count(), result["profile"], result["threads"]),
        "",
        "| run | wall time | images built | unchanged |",
        "|---|---:|---:|---:|",
        "| base bootstrap (mmdebstrap) | %.1f s | 1 | - |" % result["bootstrap_seconds"]
        if result["bootstrap_seconds"] is not None else "| base bootstrap | kept | - | - |",
        "| cold build | %.1f s | %d | %d |" % (cold["wall_seconds"], len(cold["images_built"]),
                                               len(cold["images_unchanged"])),
        "| no-op rerun (%.1f s in the module) | %.1f s | %d | %d |" % (
            noop["seconds"], noop["wall_seconds"], len(noop["images_built"]), len(noop["images_unchanged"])),
        "",
    ]
    if docker:
        lines += ["Engines, same definitions, same run:", ""] + engine_table(result) + [""]
    lines += [
        "| image | parent | size MB | own layer MB | build s | RUN s | commit s | overhead s |"
        + (" docker size MB | docker own MB | docker build s |" if docker else ""),
        "|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|" if docker else ""),
    ]
    base = cold["base"]
    lines.append("| (%s) | - | %.1f | %.1f | - | - | - | - |" % (base["ref"], base["size"] / 1e6, base["size"] / 1e6)
                 + (" %.1f | %.1f | - |" % (docker["cold"]["base"]["size"] / 1e6, docker["cold"]["base"]["size"] / 1e6)
                    if docker else ""))
    overheads = []
    for image in cold["images"]:
        timings = image.get("timings") or {}
        if timings:
            overheads.append(overhead(image))
        other = by_name.get(image["name"])
        lines.append("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |" % (
            image["name"], image["parent"] or "(base)", image["size"] / 1e6, image["own_size"] / 1e6,
            image["seconds"], timings.get("run", 0), timings.get("commit", 0), overhead(image))
            + (" %.1f | %.1f | %.1f |" % (other["size"] / 1e6, other["own_size"] / 1e6, other["seconds"])
               if other else ""))
    lines += [
        "",
        "Whole set, shared layers counted once: **%.1f MB**; sum of per-image sizes (what `podman images` "
        "adds up to): %.1f MB." % (cold["total_size"] / 1e6, sum(i["size"] for i in cold["images"]) / 1e6),
        "Orchestration overhead per image (build time not in RUN steps or commit): mean %.2f s, max %.2f s." % (
            sum(overheads) / len(overheads) if overheads else 0, max(overheads) if overheads else 0),
    ]
    if docker:
        lines.append("Sizes are what each store reports: podman counts a layer's tar stream, the Docker daemon its "
                     "unpacked bytes, so the same layer (the base rootfs has the same diff ID in both) reads "
                     "%.1f MB in podman and %.1f MB in docker."
                     % (cold["base"]["size"] / 1e6, docker["cold"]["base"]["size"] / 1e6))
    return "\n".join(lines)


def profile_base_ref(profile: str) -> str:
    """The base image of a distro profile (vars/profiles/PROFILE.yml, key base.image)."""
    with open(os.path.join(REPO, "vars", "profiles", profile + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["base"]["image"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--include", action="append", default=[], help="image name or regex (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", default="debian13")
    parser.add_argument("--namespace", default="localhost/cgbench")
    parser.add_argument("--keep-base", action="store_true", help="reuse the bootstrapped base image")
    parser.add_argument("--output", default=os.path.join(REPO, "bench", "results"))
    parser.add_argument("--work-dir", dest="work_root", default="/var/tmp/containergen-bench",
                        help="work dirs of the runs (default: %(default)s)")
    parser.add_argument("--engine", dest="engines", action="append", choices=["buildah", "docker"],
                        help="engine to measure (repeatable; default: buildah and docker)")
    args = parser.parse_args()
    engines = args.engines or ["buildah", "docker"]
    work_root = args.work_root
    remove_namespace(args.namespace)
    bootstrap_seconds = None
    if not args.keep_base:
        base_ref = profile_base_ref(args.profile)
        sh(["podman", "rmi", "--force", base_ref])
        sh(["docker", "rmi", "--force", base_ref])
    runs = {}
    for engine in engines:
        cold = run_build(args, os.path.join(work_root, engine, "cold"), "%s cold" % engine, engine, force=True)
        if cold["base"]["action"] == "bootstrapped" and bootstrap_seconds is None:
            # The bootstrap ran inside the cold run; time it alone for the table, then keep it.
            bootstrap_seconds = cold["base"]["seconds"]
        noop = run_build(args, os.path.join(work_root, engine, "noop"), "%s no-op" % engine, engine)
        runs[engine] = {"cold": cold, "noop": noop}
    first = runs[engines[0]]
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "host": os.uname().nodename, "profile": args.profile, "threads": args.threads,
              "bootstrap_seconds": bootstrap_seconds, "cold": first["cold"], "noop": first["noop"],
              "engines": runs}
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "latest.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    text = markdown(result)
    with open(os.path.join(args.output, "latest.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)
    if "buildah" in engines:
        # the size report of the cold set (bench/sizes.py), before its images go
        sh([sys.executable, os.path.join(REPO, "bench", "sizes.py"), "--namespace", args.namespace,
            "--name", "bench-%s" % args.profile, "--output", args.output, "--work-dir", work_root])
    remove_namespace(args.namespace)


if __name__ == "__main__":
    main()
