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

Origin link (--origin-rate, repeatable or comma-separated; default: direct). Here Debian's mirror answers at
local-network speed, which no operator behind an Internet link sees. For each rate the three runs are
repeated with bench/slow_proxy.py between the builds and the Internet: a forward HTTP proxy that sends at
most RATE bytes/s in all (one token bucket: the shared link) and answers each request --origin-latency
after it arrived (default 50 ms, a WAN round trip). "no mirror" builds get the slow proxy as their
http_proxy; the mirror runs give apt-cacher-ng the slow proxy as its upstream (mirror_upstream_proxy) and
the builds apt-cacher-ng, as in production. "direct" is the unthrottled mode: no slow proxy at all.

Records per run the wall time of ansible-playbook, the build summary (<work_dir>/summary.json: per image the
build seconds and the seconds in RUN steps, timings.run), what crossed the link (the slow proxy's counters),
what the mirror's transfer log says (|I| downloaded from upstream, |O| sent to a client), and the load of
the machine while the run lasted (load average, CPU time of the whole machine against that of the
benchmark's own processes, steal time, build processes of others). Prints Markdown tables with the ratios
no-mirror/cold-mirror and no-mirror/warm-mirror per origin link, and writes them to bench/results/mirror.md
(raw data: mirror.json).

Cleans up whatever happens: stops its apt-cacher-ng (start-stop-daemon --stop --pidfile) and its slow proxy,
removes its directories and the images of its namespaces. Other builds on the host wait for one another
(one build per host): the wall time then includes the wait, the summary's build time does not.

Usage (after scripts/setup.sh; as root):
    .venv/bin/python bench/mirror.py [--include NAME ...] [--port 3172] [--threads 2]
    .venv/bin/python bench/mirror.py --origin-rate direct,2MB,1MB [--origin-latency 50ms] [--proxy-port 3173]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import resource
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# bench/bench.py: its sh, remove_namespace and REPO
import bench  # noqa: E402  pylint: disable=wrong-import-position
import slow_proxy  # noqa: E402  pylint: disable=wrong-import-position

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

    def __init__(self, root, port, upstream_proxy=""):
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
            "mirror_upstream_proxy": upstream_proxy,
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

    def cpu_seconds(self):
        """CPU seconds of this mirror's apt-cacher-ng processes (not children of the benchmark)."""
        return sum(process_cpu_seconds(pid) for pid in pids_with_argument(self.variables["mirror_config_dir"]))


class SlowLink:
    """bench/slow_proxy.py as a child process: the throttled Internet link."""

    def __init__(self, port, rate, latency):
        self.port, self.rate, self.latency = port, rate, latency
        self.url = "http://127.0.0.1:%d" % port
        self.proc = None

    def start(self):
        if listening(self.port):
            raise SystemExit("port %d is in use: choose another with --proxy-port" % self.port)
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, os.path.join(REPO, "bench", "slow_proxy.py"), "--port", str(self.port),
             "--rate", repr(self.rate), "--latency", repr(self.latency)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench/slow_proxy.py did not start on port %d" % self.port)
            time.sleep(0.1)

    def stats(self):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through http_proxy
        with opener.open(self.url + "/_stats", timeout=10) as response:  # nosec B310
            return json.loads(response.read())

    def cpu_seconds(self):
        return process_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def process_cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def pids_with_argument(argument):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/cmdline" % name, "rb") as handle:
                    if argument.encode() in handle.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                pass
    return found


# Process names that mean somebody builds images or installs packages (comm is cut at 15 characters).
BUILD_COMMS = frozenset(("buildah", "podman", "apt-get", "dpkg", "http", "mmdebstrap", "runc", "skopeo",
                         "ansible-playboo", "docker-buildx", "buildkitd"))


def foreign_build_processes():
    """Names of build processes on the host that are not descendants of this benchmark."""
    parents, comms = {}, {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name, encoding="utf-8", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue
            pid = int(name)
            comms[pid] = stat[stat.index("(") + 1:stat.rindex(")")]
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    ours, me = set(), os.getpid()
    for pid in parents:
        chain, cursor = [], pid
        while cursor and cursor not in ours and cursor != me and len(chain) < 64:
            chain.append(cursor)
            cursor = parents.get(cursor, 0)
        if cursor == me or cursor in ours:
            ours.update(chain)
    return sorted(comms[pid] for pid in comms if comms[pid] in BUILD_COMMS and pid not in ours)


def cpu_jiffies():
    """(busy, steal, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return user + nice + system + irq + softirq + steal, steal, sum(values)


class LoadMonitor:
    """What else the machine did during a run: load average and build processes of others (sampled every
    2 s), machine CPU time against the benchmark's own (its waited-for children, i.e. ansible-playbook and
    the builds, plus the slow proxy and the mirror)."""

    def __init__(self, extra_cpu):
        self.extra_cpu = extra_cpu  # callable: CPU seconds of our processes that are not waited-for children
        self.samples, self.foreign = [], []
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.start_values, self.result = None, None

    def _sample(self):
        while not self.stop_event.wait(2):
            with open("/proc/loadavg", encoding="ascii") as handle:
                self.samples.append(float(handle.read().split()[0]))
            self.foreign.append(foreign_build_processes())

    def __enter__(self):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.start_values = (time.monotonic(), cpu_jiffies(), children.ru_utime + children.ru_stime, self.extra_cpu())
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start, jiffies, child_cpu, extra = self.start_values
        seconds = time.monotonic() - start
        end_jiffies = cpu_jiffies()
        ticks = os.sysconf("SC_CLK_TCK")
        cores = os.cpu_count() or 1
        busy = (end_jiffies[0] - jiffies[0]) / ticks
        ours = children.ru_utime + children.ru_stime - child_cpu + self.extra_cpu() - extra
        names = sorted({name for sample in self.foreign for name in sample})
        self.result = {
            "loadavg_mean": round(sum(self.samples) / len(self.samples), 2) if self.samples else None,
            "loadavg_max": max(self.samples) if self.samples else None,
            "cpu_busy_percent": round(100 * busy / (seconds * cores), 1),
            "cpu_ours_percent": round(100 * ours / (seconds * cores), 1),
            "cpu_others_percent": round(max(0.0, 100 * (busy - ours) / (seconds * cores)), 1),
            "steal_percent": round(100 * (end_jiffies[1] - jiffies[1]) / ticks / (seconds * cores), 1),
            "foreign_build_samples": sum(1 for sample in self.foreign if sample),
            "samples": len(self.foreign),
            "foreign_build_processes": names,
        }
        return False


def run_build(args, key, label, work_root, build_env=None, link=None, mirror=None):
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
    link_before = link.stats() if link else None
    log_offset = mirror.log_offset() if mirror else None

    def extra_cpu():
        return (link.cpu_seconds() if link else 0.0) + (mirror.cpu_seconds() if mirror else 0.0)

    with LoadMonitor(extra_cpu) as load:
        seconds = playbook("build", variables, os.path.join(work_dir, "bench-vars.json"),
                           os.path.join(work_dir, "playbook.log"))
    with open(os.path.join(work_dir, "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    not_built = [(i["name"], i["status"]) for i in summary["images"] if i["status"] != "built"]
    if not_built or not summary["images"]:
        raise SystemExit("%s: not a cold build of every image: %s" % (label, not_built or "no image"))
    run = {"key": key, "label": label, "run_id": run_id, "namespace": namespace, "wall_seconds": round(seconds, 2),
           "build_seconds": summary["seconds"], "proxy": (build_env or {}).get("http_proxy", ""), "load": load.result,
           "images": [{"name": i["name"], "parent": i["parent"], "seconds": i["seconds"],
                       "run": round((i.get("timings") or {}).get("run", 0.0), 2)} for i in summary["images"]]}
    if mirror:
        run["transfers"] = mirror.transfers(log_offset)  # waits a second for the last log lines
    if link:
        after = link.stats()
        counters = ("requests", "connections", "bytes_sent", "body_bytes", "errors")
        run["link"] = {k: after[k] - link_before[k] for k in counters}
    print("%-12s %7.1f s  build %.1f s, built %d (%s)%s, load %.2f, others' CPU %.0f%%"
          % (label, seconds, summary["seconds"], len(summary["images_built"]), ", ".join(summary["images_built"]),
             ", link %.1f MB" % (run["link"]["bytes_sent"] / 1e6) if link else "",
             load.result["loadavg_mean"] or 0, load.result["cpu_others_percent"]), flush=True)
    return run


def ratio(numerator, denominator):
    return "%.2f" % (numerator / denominator) if denominator else "-"


def megabytes(count):
    return "%.1f" % (count / 1e6)


def upstream_bytes(run):
    """Bytes that came over the origin link: the slow proxy's count, or (direct) the mirror's |I| lines."""
    if run.get("link"):
        return run["link"]["bytes_sent"]
    return run["transfers"]["I_bytes"] if run.get("transfers") else None


def markdown(result):
    modes = result["modes"]
    first = {run["key"]: run for run in modes[0]["runs"]}["none"]
    lines = [
        "Measured %s on %s (%d cores), profile %s, %d threads, `--include %s` (built: %s); base image %s kept. "
        "Mirror: apt-cacher-ng (mirror role) on %s, given to the build as `image_build_build_env` http_proxy only. "
        "Origin link: direct (Debian's mirror at local-network speed), or bench/slow_proxy.py at the given rate "
        "with %.0f ms latency per request, as the builds' http_proxy (no mirror) or as apt-cacher-ng's upstream "
        "proxy (mirror)."
        % (result["date"], result["host"], result["cores"], result["profile"], result["threads"],
           " ".join(result["include"]), ", ".join(i["name"] for i in first["images"]), result["base_image"],
           result["mirror_url"], result["origin_latency"] * 1000),
        "",
        "| origin link | build s: no mirror / cold / warm | no mirror / cold | no mirror / warm "
        "| wall s: no mirror / cold / warm | wall no mirror / warm | over the link MB: no mirror / cold / warm "
        "| others' CPU % / load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in modes:
        runs = {run["key"]: run for run in mode["runs"]}
        none, cold, warm = runs["none"], runs["cold"], runs["warm"]
        link = [upstream_bytes(run) for run in (none, cold, warm)]
        lines.append("| %s | %.1f / %.1f / %.1f | **%s** | **%s** | %.1f / %.1f / %.1f | %s | %s | %s |" % (
            mode["origin"]["label"], none["build_seconds"], cold["build_seconds"], warm["build_seconds"],
            ratio(none["build_seconds"], cold["build_seconds"]), ratio(none["build_seconds"], warm["build_seconds"]),
            none["wall_seconds"], cold["wall_seconds"], warm["wall_seconds"],
            ratio(none["wall_seconds"], warm["wall_seconds"]),
            " / ".join("-" if count is None else megabytes(count) for count in link),
            " / ".join("%.0f" % run["load"]["cpu_others_percent"] for run in (none, cold, warm)) + " ; "
            + " / ".join("%.1f" % (run["load"]["loadavg_mean"] or 0) for run in (none, cold, warm))))
    lines += [
        "",
        "Ratios above 1: faster than without the mirror (build s from the build summary; wall s of "
        "ansible-playbook, which includes waiting for another build on the host). Over the link: what the slow "
        "proxy sent, headers included (direct: the mirror log's downloads; no count without a mirror). Others' "
        "CPU: the machine's busy CPU time minus the benchmark's own (builds, ansible, mirror, slow proxy), in % "
        "of all cores while the run lasted.",
    ]
    for mode in modes:
        lines += [""] + mode_details(mode)
    if result.get("warnings"):
        lines += [""] + ["**Warning:** %s" % warning for warning in result["warnings"]]
    return "\n".join(lines)


def mode_details(mode):
    runs = {run["key"]: run for run in mode["runs"]}
    none = runs["none"]
    lines = [
        "#### Origin link: %s" % mode["origin"]["label"],
        "",
        "| run | wall s | build s (summary) | RUN s (sum) | over the link (slow proxy) | from upstream (mirror log I) "
        "| served (mirror log O) | load avg | CPU % busy / ours / others / steal | others' build processes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in mode["runs"]:
        transfers, link, load = run.get("transfers"), run.get("link"), run["load"]
        lines.append("| %s | %.1f | %.1f | %.1f | %s | %s | %s | %.2f | %s | %s |" % (
            run["label"], run["wall_seconds"], run["build_seconds"], sum(i["run"] for i in run["images"]),
            "%d requests, %s MB" % (link["requests"], megabytes(link["bytes_sent"])) if link else "-",
            "%d files, %s MB" % (transfers["I"], megabytes(transfers["I_bytes"])) if transfers else "-",
            "%d files, %s MB" % (transfers["O"], megabytes(transfers["O_bytes"])) if transfers else "-",
            load["loadavg_mean"] or 0,
            "%.0f / %.0f / %.0f / %.0f" % (load["cpu_busy_percent"], load["cpu_ours_percent"],
                                           load["cpu_others_percent"], load["steal_percent"]),
            "%s (%d of %d samples)" % (", ".join(load["foreign_build_processes"]), load["foreign_build_samples"],
                                       load["samples"]) if load["foreign_build_processes"] else "none"))
    lines += [
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
    if mode.get("warnings"):
        lines += [""] + ["**Warning:** %s" % warning for warning in mode["warnings"]]
    return lines


def origin(text, latency):
    """'direct' or a rate for slow_proxy.parse_rate -> {label, rate (bytes/s, 0: direct), latency}."""
    if text.strip().lower() == "direct":
        return {"label": "direct (unthrottled)", "rate": 0, "latency": 0.0}
    rate = slow_proxy.parse_rate(text)
    if rate <= 0:
        raise argparse.ArgumentTypeError("a rate above 0, or direct: %r" % text)
    return {"label": "%g MB/s (%g Mbit/s), %.0f ms" % (rate / 1e6, rate * 8 / 1e6, latency * 1000),
            "rate": rate, "latency": latency}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 1)[1])
    parser.add_argument("--include", action="append", default=[],
                        help="image name or regex, with its ancestors (default: keystone, i.e. base, os, keystone)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", default="debian13")
    parser.add_argument("--port", type=int, default=3172, help="port of the benchmark's apt-cacher-ng (default 3172)")
    parser.add_argument("--origin-rate", action="append", default=[],
                        help="direct (default) or the origin link's rate, e.g. 2MB or 16Mbit; repeatable or "
                             "comma-separated: one set of three runs each, in the order given")
    parser.add_argument("--origin-latency", type=slow_proxy.parse_duration, default=0.05,
                        help="per request latency of a throttled link (default 50ms)")
    # apt-cacher-ng 3.7 cannot reach an upstream proxy on a port above 32767
    parser.add_argument("--proxy-port", type=int, default=3173, help="port of the slow proxy (default 3173, < 32768)")
    parser.add_argument("--namespace-prefix", default="localhost/cgbench-mirror",
                        help="each run builds into PREFIX-<run>-<id> (default localhost/cgbench-mirror)")
    parser.add_argument("--work-root", default="/var/tmp/containergen-bench/mirror",
                        help="working directory of the runs and the mirror (removed at the end)")
    parser.add_argument("--output", default=os.path.join(REPO, "bench", "results"))
    args = parser.parse_args()
    args.include = args.include or ["keystone"]
    try:
        args.origins = [origin(text, args.origin_latency)
                        for value in args.origin_rate or ["direct"] for text in value.split(",") if text.strip()]
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    if not 0 < args.proxy_port < 32768:
        parser.error("--proxy-port must be below 32768 (apt-cacher-ng 3.7 cannot reach a proxy above)")
    return args


def run_mode(args, mode, runs_root, namespaces):
    """The three runs (no mirror, cold mirror, warm mirror) over one origin link."""
    link = SlowLink(args.proxy_port, mode["origin"]["rate"], mode["origin"]["latency"]) \
        if mode["origin"]["rate"] else None
    mirror = Mirror(os.path.join(args.work_root, "apt-cacher-ng"), args.port, link.url if link else "")
    mode["mirror_url"] = mirror.url
    mode["proxy_url"] = link.url if link else ""
    print("== origin link: %s" % mode["origin"]["label"], flush=True)
    try:
        if link:
            link.start()
        run = run_build(args, "none", "no mirror", runs_root, build_env={"http_proxy": link.url} if link else None,
                        link=link)
        namespaces.append(run["namespace"])
        mode["runs"].append(run)
        bench.remove_namespace(run["namespace"])
        if link and not run["link"]["requests"]:
            mode["warnings"].append("no mirror: nothing went through the slow proxy")
        mirror.start()
        mode["mirror_setup_seconds"] = round(mirror.setup_seconds or 0, 2)
        for key, label in RUNS[1:]:
            run = run_build(args, key, label, runs_root, build_env={"http_proxy": mirror.url}, link=link,
                            mirror=mirror)
            namespaces.append(run["namespace"])
            mode["runs"].append(run)
            bench.remove_namespace(run["namespace"])
            if not run["transfers"]["O"]:
                mode["warnings"].append("%s: the mirror served nothing (the build did not use the proxy)" % label)
            if link and key == "cold" and not run["link"]["requests"]:
                mode["warnings"].append("cold mirror: nothing went through the slow proxy (upstream proxy unused)")
        cold, warm = mode["runs"][1], mode["runs"][2]
        if warm["transfers"]["I_bytes"] > cold["transfers"]["I_bytes"] / 10:
            mode["warnings"].append("warm mirror: %.1f MB still came from upstream" % (warm["transfers"]["I_bytes"] / 1e6))
    finally:
        mirror.stop()
        if link:
            link.stop()


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
    runs_root = os.path.join(args.work_root, "runs")
    modes, namespaces = [], []
    started = time.monotonic()
    try:
        os.makedirs(runs_root, exist_ok=True)
        for origin_link in args.origins:
            modes.append({"origin": origin_link, "runs": [], "warnings": []})
            run_mode(args, modes[-1], runs_root, namespaces)
    finally:
        for namespace in namespaces:
            bench.remove_namespace(namespace)
    shutil.rmtree(args.work_root, ignore_errors=True)  # kept when a run failed: its logs are there
    warnings = ["%s: %s" % (mode["origin"]["label"], warning) for mode in modes for warning in mode["warnings"]]
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "host": os.uname().nodename, "cores": os.cpu_count(), "profile": args.profile, "threads": args.threads,
              "include": args.include, "base_image": base, "mirror_url": modes[0]["mirror_url"],
              "origin_latency": args.origin_latency, "seconds": round(time.monotonic() - started, 1),
              "modes": modes, "warnings": warnings}
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
