#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark a cold build of an image subset without a package mirror, through a cold mirror and through a warm one.

Three builds through the README's own command (ansible-playbook containergen.images.build), in this order:
  no mirror    packages straight from the Debian mirror of the image's apt sources;
  cold mirror  through a fresh apt-cacher-ng (the mirror role, on its own port, an empty cache directory),
               given to the build as image_build_build_env {"http_proxy": ...} only;
  warm mirror  the same again, the cache now filled by the cold run.
Every run is cold for the images: its own namespace and its own extra label (image_build_labels
{"bench.run": <uuid>}), so fingerprints differ and nothing is reused or tagged from an earlier build.
The bootstrapped base image of the profile is kept and must exist (bench/bench.py --keep-base or any build
creates it), so no run includes the bootstrap.

Records per run the wall time of ansible-playbook, the build summary (<work_dir>/summary.json: per image the
build seconds and the seconds in RUN steps, timings.run) and, for the mirror runs, what the mirror's
transfer log says (|I| downloaded from upstream, |O| sent to a client). Prints a Markdown table with the ratios
no-mirror/cold-mirror and no-mirror/warm-mirror, and writes it to bench/results/mirror.md (raw data: mirror.json).

Cleans up whatever happens: stops its apt-cacher-ng (start-stop-daemon --stop --pidfile), removes its
directories and the images of the three namespaces. Other builds on the host wait for one another (one
build per host): the wall time then includes the wait, the summary's build time does not.

Usage (after scripts/setup.sh; as root):
    .venv/bin/python bench/mirror.py [--include NAME ...] [--port 3172] [--threads 2]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# bench/bench.py: its sh, remove_namespace and REPO
import bench  # noqa: E402  pylint: disable=wrong-import-position

import yaml  # noqa: E402  pylint: disable=wrong-import-position

REPO = bench.REPO
RUNS = (("none", "no mirror"), ("cold", "cold mirror"), ("warm", "warm mirror"))


def write_private_json(path, data):
    """A vars file only root can read (mode 0600 from creation on)."""
    if os.path.exists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def playbook(name, variables, vars_file, log_file):
    """ansible-playbook containergen.images.NAME with the variables (through a 0600 vars file); wall seconds."""
    write_private_json(vars_file, variables)
    start = time.monotonic()
    proc = bench.sh(["ansible-playbook", "containergen.images." + name, "-e", "@" + vars_file], cwd=REPO)
    seconds = time.monotonic() - start
    with open(log_file, "w", encoding="utf-8") as handle:
        handle.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("ansible-playbook containergen.images.%s failed (rc %d), log: %s"
                         % (name, proc.returncode, log_file))
    return seconds


def listening(port, address="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0


def base_image(profile):
    with open(os.path.join(REPO, "vars", "profiles", profile + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["base"]["image"]


class Mirror:
    """A throwaway apt-cacher-ng set up with the mirror role on its own port, configuration, cache, log and pid file."""

    def __init__(self, root, port):
        self.root, self.port = root, port
        self.url = "http://127.0.0.1:%d" % port
        self.variables = {
            "mirror_bind_address": "127.0.0.1",
            "mirror_port": port,
            "mirror_config_dir": os.path.join(root, "etc"),
            "mirror_cache_dir": os.path.join(root, "cache"),
            "mirror_log_dir": os.path.join(root, "log"),
            "mirror_pid_file": os.path.join(root, "run", "apt-cacher-ng.pid"),
            "mirror_service_manager": "supervised",
        }
        self.transfer_log = os.path.join(self.variables["mirror_log_dir"], "apt-cacher.log")
        self.setup_seconds = None

    def start(self):
        if listening(self.port):
            raise SystemExit("port %d is in use: choose another with --port" % self.port)
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.variables["mirror_config_dir"], mode=0o755)
        # The role's acng.conf sets no SocketPath: apt-cacher-ng would replace the Unix socket of an
        # apt-cacher-ng already running with the compiled-in default (/run/apt-cacher-ng/socket).
        # apt-cacher-ng reads every *.conf of its configuration directory: none for this one.
        with open(os.path.join(self.variables["mirror_config_dir"], "zz-bench.conf"), "w", encoding="utf-8") as handle:
            handle.write("# bench/mirror.py: no Unix socket (keep off that of another apt-cacher-ng)\nSocketPath:\n")
        # next to (not in) the mirror's directory: the log stays when the setup fails
        outside = os.path.dirname(self.root)
        self.setup_seconds = playbook("mirror", self.variables, os.path.join(outside, "mirror-vars.json"),
                                      os.path.join(outside, "mirror-playbook.log"))
        # Package files only: _xstore holds apt-cacher-ng's own statistics (written at start and by the report page).
        cache_dir = self.variables["mirror_cache_dir"]
        cached = [os.path.relpath(os.path.join(entry[0], name), cache_dir) for entry in os.walk(cache_dir)
                  for name in entry[2]]
        cached = [path for path in cached if not path.startswith("_xstore" + os.sep)]
        if cached:
            raise SystemExit("the new mirror's cache is not empty: %s" % cached[:5])
        print("mirror  %s set up in %.1f s (empty cache %s)"
              % (self.url, self.setup_seconds, self.variables["mirror_cache_dir"]), flush=True)

    def log_offset(self):
        return os.path.getsize(self.transfer_log) if os.path.exists(self.transfer_log) else 0

    def transfers(self, offset):
        """Counts and bytes of the transfer log lines after offset: I (from upstream) and O (to clients)."""
        time.sleep(1)  # the last transfers of the build reach the log
        counts = {"I": 0, "O": 0, "I_bytes": 0, "O_bytes": 0}
        if not os.path.exists(self.transfer_log):
            return counts
        with open(self.transfer_log, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            for line in handle:
                fields = line.rstrip("\n").split("|")
                if len(fields) >= 5 and fields[1] in ("I", "O") and fields[2].isdigit():
                    counts[fields[1]] += 1
                    counts[fields[1] + "_bytes"] += int(fields[2])
        return counts

    def stop(self):
        pid_file = self.variables["mirror_pid_file"]
        if os.path.exists(pid_file):
            bench.sh(["start-stop-daemon", "--stop", "--quiet", "--pidfile", pid_file, "--retry", "TERM/10/KILL/5",
                      "--oknodo"])
        deadline = time.monotonic() + 10
        while listening(self.port):
            if time.monotonic() > deadline:
                sys.stderr.write("warning: something still listens on port %d\n" % self.port)
                break
            time.sleep(0.5)
        shutil.rmtree(self.root, ignore_errors=True)


def run_build(args, key, label, work_root, build_env=None):
    """One cold build of the subset into a namespace of its own, with an extra label of its own."""
    run_id = uuid.uuid4().hex
    namespace = "%s-%s-%s" % (args.namespace_prefix, key, run_id[:8])
    work_dir = os.path.join(work_root, key)
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    variables = {"image_build_namespace": namespace, "image_build_work_dir": work_dir,
                 "image_build_threads": args.threads, "image_build_include": args.include,
                 "image_build_profile": args.profile, "image_build_labels": {"bench.run": run_id},
                 "image_build_build_env": build_env or {}}
    seconds = playbook("build", variables, os.path.join(work_dir, "bench-vars.json"),
                       os.path.join(work_dir, "playbook.log"))
    with open(os.path.join(work_dir, "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    not_built = [(i["name"], i["status"]) for i in summary["images"] if i["status"] != "built"]
    if not_built or not summary["images"]:
        raise SystemExit("%s: not a cold build of every image: %s" % (label, not_built or "no image"))
    print("%-12s %7.1f s  built %d (%s), namespace %s"
          % (label, seconds, len(summary["images_built"]), ", ".join(summary["images_built"]), namespace), flush=True)
    return {"key": key, "label": label, "run_id": run_id, "namespace": namespace, "wall_seconds": round(seconds, 2),
            "build_seconds": summary["seconds"], "proxy": (build_env or {}).get("http_proxy", ""),
            "images": [{"name": i["name"], "parent": i["parent"], "seconds": i["seconds"],
                        "run": round((i.get("timings") or {}).get("run", 0.0), 2)} for i in summary["images"]]}


def ratio(numerator, denominator):
    return "%.2f" % (numerator / denominator) if denominator else "-"


def markdown(result):
    runs = {run["key"]: run for run in result["runs"]}
    none, cold, warm = runs["none"], runs["cold"], runs["warm"]
    lines = [
        "Measured %s on %s (%d cores), profile %s, %d threads, `--include %s` (built: %s); base image %s kept. "
        "Mirror: apt-cacher-ng (mirror role) on %s, given to the build as `image_build_build_env` http_proxy only."
        % (result["date"], result["host"], result["cores"], result["profile"], result["threads"],
           " ".join(result["include"]), ", ".join(i["name"] for i in none["images"]), result["base_image"],
           result["mirror_url"]),
        "",
        "| run | wall s | build s (summary) | RUN s (sum) | from upstream (mirror log I) | served (mirror log O) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in (none, cold, warm):
        transfers = run.get("transfers")
        upstream = "%d files, %.1f MB" % (transfers["I"], transfers["I_bytes"] / 1e6) if transfers else "-"
        served = "%d files, %.1f MB" % (transfers["O"], transfers["O_bytes"] / 1e6) if transfers else "-"
        lines.append("| %s | %.1f | %.1f | %.1f | %s | %s |" % (
            run["label"], run["wall_seconds"], run["build_seconds"], sum(i["run"] for i in run["images"]),
            upstream, served))
    lines += [
        "",
        "| | no mirror / cold mirror | no mirror / warm mirror |",
        "|---|---:|---:|",
        "| total wall time | %s | %s |" % (ratio(none["wall_seconds"], cold["wall_seconds"]),
                                           ratio(none["wall_seconds"], warm["wall_seconds"])),
        "| total build time (summary) | %s | %s |" % (ratio(none["build_seconds"], cold["build_seconds"]),
                                                      ratio(none["build_seconds"], warm["build_seconds"])),
        "",
        "| image | build s: none / cold / warm | RUN s: none / cold / warm | build none/cold | build none/warm "
        "| RUN none/cold | RUN none/warm |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_name = {key: {i["name"]: i for i in run["images"]} for key, run in runs.items()}
    for image in none["images"]:
        n, c, w = (by_name[key][image["name"]] for key in ("none", "cold", "warm"))
        lines.append("| %s | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f | %s | %s | %s | %s |" % (
            image["name"], n["seconds"], c["seconds"], w["seconds"], n["run"], c["run"], w["run"],
            ratio(n["seconds"], c["seconds"]), ratio(n["seconds"], w["seconds"]),
            ratio(n["run"], c["run"]), ratio(n["run"], w["run"])))
    lines += [
        "",
        "Ratios above 1: faster than without the mirror. Build s: the image's whole build; RUN s: its RUN steps "
        "(package manager and scripts). Wall time is that of ansible-playbook; it includes waiting for another "
        "build on the host, the summary's build time does not.",
    ]
    if result.get("warnings"):
        lines += [""] + ["**Warning:** %s" % warning for warning in result["warnings"]]
    return "\n".join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 1)[1])
    parser.add_argument("--include", action="append", default=[],
                        help="image name or regex, with its ancestors (default: keystone, i.e. base, os, keystone)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", default="debian12")
    parser.add_argument("--port", type=int, default=3172, help="port of the benchmark's apt-cacher-ng (default 3172)")
    parser.add_argument("--namespace-prefix", default="localhost/cgbench-mirror",
                        help="each run builds into PREFIX-<run>-<id> (default localhost/cgbench-mirror)")
    parser.add_argument("--work-root", default="/var/tmp/containergen-bench/mirror",
                        help="working directory of the runs and the mirror (removed at the end)")
    parser.add_argument("--output", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()
    args.include = args.include or ["keystone"]
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (buildah, apt-cacher-ng)")
    base = base_image(args.profile)
    if bench.sh(["podman", "image", "exists", base]).returncode != 0:
        raise SystemExit("the base image %s is missing: bootstrap it first (e.g. bench/bench.py --keep-base), "
                         "so that no run includes the bootstrap" % base)
    if listening(args.port):
        raise SystemExit("port %d is in use: choose another with --port" % args.port)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # clean up on kill too
    mirror = Mirror(os.path.join(args.work_root, "apt-cacher-ng"), args.port)
    runs_root = os.path.join(args.work_root, "runs")
    runs, warnings = [], []
    try:
        os.makedirs(runs_root, exist_ok=True)
        runs.append(run_build(args, "none", "no mirror", runs_root))
        bench.remove_namespace(runs[-1]["namespace"])
        mirror.start()
        for key, label in RUNS[1:]:
            offset = mirror.log_offset()
            run = run_build(args, key, label, runs_root, build_env={"http_proxy": mirror.url})
            run["transfers"] = mirror.transfers(offset)
            runs.append(run)
            bench.remove_namespace(run["namespace"])
            if not run["transfers"]["O"]:
                warnings.append("%s: the mirror served nothing (the build did not use the proxy)" % label)
        if runs[2]["transfers"]["I_bytes"] > runs[1]["transfers"]["I_bytes"] / 10:
            warnings.append("warm mirror: %.1f MB still came from upstream" % (runs[2]["transfers"]["I_bytes"] / 1e6))
    finally:
        mirror.stop()
        for run in runs:
            bench.remove_namespace(run["namespace"])
    shutil.rmtree(args.work_root, ignore_errors=True)  # kept when a run failed: its logs are there
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "host": os.uname().nodename, "cores": os.cpu_count(), "profile": args.profile, "threads": args.threads,
              "include": args.include, "base_image": base, "mirror_url": mirror.url,
              "mirror_setup_seconds": round(mirror.setup_seconds or 0, 2), "runs": runs, "warnings": warnings}
    for warning in warnings:
        sys.stderr.write("warning: %s\n" % warning)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "mirror.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    text = markdown(result)
    with open(os.path.join(args.output, "mirror.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
