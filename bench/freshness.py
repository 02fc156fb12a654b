#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Numbers of refresh: updates (fresh images without waste).

check    the update check of a built set: every image of the plan found under NAMESPACE is asked
         (also those whose fingerprint is out of date, the worst case), twice: with an empty
         lists directory (every index downloaded) and with the lists of the first run (what the
         nightly job sees: WORK_DIR/lists is kept). Writes bench/results/freshness-check.{json,md}.

rebuild  a one-package update against a full rebuild, with a real apt repository we control: the
         infra part of the default set (base, chrony, cron, haproxy, memcached, redis, rsyslog) with
         a local apt repository as an extra source of base, and its package cgfresh-hello 1.0 in
         memcached and redis; built and published to a local registry; 2.0 published; then the
         build with refresh: updates and its publish; then a forced full rebuild and its publish;
         then a no-op run. Images built and pushed, bytes sent, seconds, per step. Writes
         bench/results/freshness-rebuild.{json,md}.

Usage (as root, from the repository):
    .venv/bin/python bench/freshness.py check --namespace localhost/cg-os
    .venv/bin/python bench/freshness.py rebuild --work /var/tmp/cg-fresh/bench --port 8473 --registry-port 5473
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils import _freshness, _pipeline, _publish  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._engine import LocalStore  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._engines import make_engine  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._contract import FINGERPRINT_LABEL  # noqa: E402

RESULTS = os.path.join(REPO, "bench", "results")
PACKAGE = "cgfresh-hello"
INFRA = ["chrony", "cron", "haproxy", "memcached", "redis", "rsyslog"]
WITH_PACKAGE = ["memcached", "redis"]


def load() -> str:
    return " ".join("%.1f" % value for value in os.getloadavg())


def write(name: str, data: dict, markdown: str) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, name + ".json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    with open(os.path.join(RESULTS, name + ".md"), "w", encoding="utf-8") as handle:
        handle.write(markdown)
    print(markdown)


# ---- check ---------------------------------------------------------------------------------------

def check(args: argparse.Namespace) -> int:
    options = _pipeline.PlanOptions.from_params({"namespace": args.namespace, "profile": args.profile,
                                                 "refresh": "updates"})
    definitions, profile = _pipeline.load(options)
    runner = Runner()
    store = LocalStore.read(make_engine(options), runner)
    plan = _pipeline.make_plan(options, definitions, profile, store.ids())
    present = [item for item in plan if item.ref in store]
    if not present:
        print("no image of the plan under %s" % args.namespace, file=sys.stderr)
        return 1
    # every present image counts as current: its fingerprint label is set to the planned one here
    # (in memory), so that each is compared, with the manifest it carries
    images = dict(store.images)
    for item in present:
        info = dict(images[item.ref])
        info["labels"] = dict(info["labels"], **{FINGERPRINT_LABEL: item.fingerprint})
        images[item.ref] = info
    asked = LocalStore(images)
    runs = []
    lists_root = tempfile.mkdtemp(prefix="containergen-lists-", dir="/var/tmp")
    try:
        for label in ("cold lists", "warm lists") + ("warm lists",) * (args.repeat - 1):
            checker = _freshness.Checker(runner, profile["family"], lists_root,
                                         manifest_query=profile["package_manager"]["manifest"])
            start = time.monotonic()
            result = _freshness.check_plan(checker, plan, asked, profile["base"]["image"])
            seconds = time.monotonic() - start
            stale = {name: entry for name, entry in result["images"].items() if entry["status"] != "up to date"}
            runs.append({"lists": label, "seconds": round(seconds, 2), "containers": result["containers"],
                         "load": load(), "stale": {name: _freshness.describe(entry) for name, entry in stale.items()
                                                   if name in {item.name for item in present}},
                         "base_updates": result["base"]["updates"]})
            print("%-11s %5.2f s  containers %d  load %s" % (label, seconds, result["containers"], load()), flush=True)
    finally:
        shutil.rmtree(lists_root, ignore_errors=True)
    packages = set()
    for item in present:
        packages.update(_freshness._manifest(asked, item.ref))  # pylint: disable=protected-access
    data = {"namespace": args.namespace, "profile": profile["name"], "images": [item.name for item in present],
            "packages": len(packages), "runs": runs, "cores": os.cpu_count()}
    lines = ["# Update check of a built set (refresh: updates)", "",
             "`bench/freshness.py check --namespace %s` (%s profile): %d images, %d distinct packages in their "
             "manifests, every image compared; %d cores." % (args.namespace, profile["name"], len(present),
                                                             len(packages), os.cpu_count() or 0), "",
             "| lists | seconds | containers | load (1/5/15 min) | stale images |", "|---|---|---|---|---|"]
    for run in runs:
        lines.append("| %s | %.2f | %d | %s | %d |" % (run["lists"], run["seconds"], run["containers"], run["load"],
                                                       len(run["stale"])))
    stale = runs[-1]["stale"]
    lines += ["", "Stale images found in the last run:" if stale else "No image was stale.", ""]
    lines += ["- %s: %s" % (name, text) for name, text in sorted(stale.items())]
    if runs[-1]["base_updates"]:
        lines.append("- base image: %d updates" % len(runs[-1]["base_updates"]))
    write("freshness-check", data, "\n".join(lines) + "\n")
    return 0


# ---- rebuild -------------------------------------------------------------------------------------

def make_deb(work: str, version: str) -> str:
    root = os.path.join(work, "pkg-" + version)
    os.makedirs(os.path.join(root, "DEBIAN"), exist_ok=True)
    os.makedirs(os.path.join(root, "usr/share", PACKAGE), exist_ok=True)
    with open(os.path.join(root, "usr/share", PACKAGE, "VERSION"), "w", encoding="utf-8") as handle:
        handle.write(version + "\n")
    with open(os.path.join(root, "DEBIAN", "control"), "w", encoding="utf-8") as handle:
        handle.write("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: containergen <test@example.org>\n"
                     "Priority: optional\nSection: misc\nDescription: freshness bench package\n" % (PACKAGE, version))
    deb = os.path.join(work, "%s_%s_all.deb" % (PACKAGE, version))
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", root, deb], check=True, capture_output=True)
    return deb


def publish_deb(repo: str, deb: str) -> None:
    for name in os.listdir(repo):
        os.unlink(os.path.join(repo, name))
    shutil.copy(deb, repo)
    packages = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, check=True, capture_output=True,
                              text=True).stdout
    with open(os.path.join(repo, "Packages"), "w", encoding="utf-8") as handle:
        handle.write(packages)
    release = subprocess.run(["apt-ftparchive", "release", "."], cwd=repo, check=True, capture_output=True,
                             text=True).stdout
    with open(os.path.join(repo, "Release"), "w", encoding="utf-8") as handle:
        handle.write(release)
    time.sleep(1.1)  # a new index must not share the old one's mtime second (apt's If-Modified-Since)


def write_definitions(defs: str, port: int) -> None:
    """The infra part of the collection's definitions, the local repository a source of base."""
    source = os.path.join(REPO, "vars", "images", "base")
    target = os.path.join(defs, "base")
    shutil.copytree(source, target, ignore=lambda directory, names: [
        name for name in names if directory == source and os.path.isdir(os.path.join(source, name))
        and name not in INFRA + ["files"]])
    with open(os.path.join(target, "base.yaml"), encoding="utf-8") as handle:
        base = yaml.safe_load(handle)
    base["tcib_actions"].insert(0, {"run": "echo 'deb [trusted=yes] http://127.0.0.1:%d/ ./' "
                                           "> /etc/apt/sources.list.d/cgfresh.list" % port})
    with open(os.path.join(target, "base.yaml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(base, handle)
    for name in WITH_PACKAGE:
        path = os.path.join(target, name, name + ".yaml")
        with open(path, encoding="utf-8") as handle:
            image = yaml.safe_load(handle)
        image["tcib_packages"].setdefault("common", []).append(PACKAGE)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(image, handle)


def wait_port(port: int) -> None:
    for _attempt in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("nothing answers on 127.0.0.1:%d" % port)


def remove_images(namespace: str) -> None:
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=False).stdout
    doomed = [ref for ref in out.split() if ref.startswith(namespace + "/")]
    if doomed:
        subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)


def rebuild(args: argparse.Namespace) -> int:
    work = args.work
    if os.path.exists(work):
        shutil.rmtree(work)
    remove_images(args.namespace)  # a first build from scratch: no image of an earlier run
    repo = os.path.join(work, "repo")
    os.makedirs(repo)
    debs = {version: make_deb(work, version) for version in ("1.0", "2.0")}
    publish_deb(repo, debs["1.0"])
    defs = os.path.join(work, "defs")
    write_definitions(defs, args.port)
    registry_dir = os.path.join(work, "registry")
    os.makedirs(registry_dir)
    with open(os.path.join(registry_dir, "config.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"version": 0.1, "log": {"level": "warn"},
                        "storage": {"filesystem": {"rootdirectory": registry_dir + "/data"}, "delete": {"enabled": True}},
                        "http": {"addr": "127.0.0.1:%d" % args.registry_port}}, handle)
    servers = [
        subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(args.port)], cwd=repo,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["docker-registry", "serve", os.path.join(registry_dir, "config.yml")],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "registry.log"), "w"))]
    build_params = {"definitions_path": defs, "namespace": args.namespace, "work_dir": os.path.join(work, "build"),
                    "refresh": "updates", "threads": args.threads, "timeout": 1200,
                    "include": ["base"] + INFRA}
    publish_params = {"registry": "127.0.0.1:%d" % args.registry_port, "namespace": "bench", "tls_verify": False,
                      "local_namespace": args.namespace, "lock_dir": os.path.join(work, "locks"),
                      "lock_file": os.path.join(work, "images.lock")}
    steps = []
    own_layers: dict = {}

    def step(label: str, force: bool = False, tag: str = "latest") -> dict:
        start = time.monotonic()
        summary = _pipeline.build_images(_pipeline.BuildOptions.from_params(dict(build_params, force=force)))
        built_seconds = time.monotonic() - start
        if summary["images_failed"]:
            raise SystemExit("%s: build failed: %s" % (label, summary["images_failed"]))
        start = time.monotonic()
        published = _pipeline.publish_images(_pipeline.PublishOptions.from_params(dict(publish_params, tag=tag)))
        reports = {}
        if label.startswith("refresh"):  # what a deployer reads: the revision diff of each new revision
            registry = _pipeline.registry_client(_pipeline.PublishOptions.from_params(publish_params))
            for name in published["pushed"]:
                report = _publish.report(registry, name, tag="latest")
                reports[name] = [report["summary"]] + ["~ %s %s -> %s" % (package, old, new)
                                                       for package, (old, new) in report["updated"].items()]
        with open(os.path.join(work, "publish-%d.json" % (len(steps) + 1)), "w", encoding="utf-8") as handle:
            json.dump(published, handle, indent=2, sort_keys=True)  # what the nightly changelog reads
        entry = {"step": label, "reports": reports, "built": sorted(summary["images_built"]), "images": len(summary["images"]),
                 "build_seconds": summary["seconds"], "wall_seconds": round(built_seconds, 1), "pushed": sorted(published["pushed"]),
                 "bytes_sent": published["bytes_sent"], "blobs_sent": published["blobs_sent"],
                 "publish_seconds": round(time.monotonic() - start, 1), "load": load(),
                 "update_check_seconds": (summary.get("updates") or {}).get("seconds"),
                 "revisions": {item["name"]: item.get("revision") for item in published["images"]
                               if item["action"] == "pushed"}}
        steps.append(entry)
        print("%-22s built %d/%d in %.0f s (lock wait included: %.0f s), pushed %d (%.1f MB) in %.0f s, load %s"
              % (label, len(entry["built"]), entry["images"], summary["seconds"], built_seconds, len(entry["pushed"]),
                 entry["bytes_sent"] / 1e6, entry["publish_seconds"], load()), flush=True)
        return entry

    try:
        wait_port(args.port)
        wait_port(args.registry_port)
        step("first build (1.0)")
        # the bytes of rebuilding everything when layers are not reproducible (kolla's and TCIB's way):
        # each image's own layer (one per image) sent again; the base's file system layer is shared
        registry = _pipeline.registry_client(_pipeline.PublishOptions.from_params(publish_params))
        own_layers = {name: registry.layer_sizes(name, "latest-1")[-1][1] for name in ["base"] + INFRA}
        publish_deb(repo, debs["2.0"])
        step("refresh after 2.0")
        step("no-op rerun")
        # what rebuilding everything costs: every image built again and pushed (to a new tag of the same
        # repositories, so that the blobs the registry has already, the base's, are not sent again)
        step("full rebuild (force), pushed as tag full", force=True, tag="full")
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        if not args.keep:
            remove_images(args.namespace)
    data = {"images": ["base"] + INFRA, "package_in": WITH_PACKAGE, "steps": steps, "cores": os.cpu_count(),
            "own_layer_bytes": own_layers}
    lines = ["# One package update against a full rebuild", "",
             "`bench/freshness.py rebuild`: base and the infra images %s of the collection's definitions, a "
             "local apt repository (apt-ftparchive, HTTP on localhost) as an extra source of base, its package "
             "`%s` in %s; published to a local registry (distribution 2.8, plain HTTP on loopback); %d cores. "
             "Build seconds: under the build lock (waiting for other builds of the host not counted). The full "
             "rebuild is pushed under a new tag: `latest` would get no revision, as its version manifests did not "
             "change."
             % (", ".join(INFRA), PACKAGE, " and ".join(WITH_PACKAGE), os.cpu_count() or 0), "",
             "| step | images built | build s | images pushed | MB sent | blobs sent | publish s | load |",
             "|---|---|---|---|---|---|---|---|"]
    for entry in steps:
        lines.append("| %s | %d of %d%s | %.0f | %d%s | %.1f | %d | %.0f | %s |" % (
            entry["step"], len(entry["built"]), entry["images"],
            (" (%s)" % ", ".join(entry["built"])) if 0 < len(entry["built"]) < entry["images"] else "",
            entry["build_seconds"], len(entry["pushed"]),
            (" (%s)" % ", ".join(entry["pushed"])) if 0 < len(entry["pushed"]) < entry["images"] else "",
            entry["bytes_sent"] / 1e6, entry["blobs_sent"], entry["publish_seconds"], entry["load"]))
    lines += ["", "Every image's own layer (what a rebuild of everything sends when layers are not bit-for-bit "
              "reproducible; the base file system's layer is shared and never sent again): %.1f MB (%s)."
              % (sum(own_layers.values()) / 1e6,
                 ", ".join("%s %.1f" % (name, size / 1e6) for name, size in sorted(own_layers.items())))]
    for entry in steps:
        for name, report in sorted(entry["reports"].items()):
            lines += ["", "`image_report` of %s after the step \"%s\":" % (name, entry["step"]), "", "```"] + report + ["```"]
    write("freshness-rebuild", data, "\n".join(lines) + "\n")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("check")
    one.add_argument("--namespace", default="localhost/cg-os")
    one.add_argument("--profile", default="debian13")
    one.add_argument("--repeat", type=int, default=3, help="runs with warm lists")
    two = sub.add_parser("rebuild")
    two.add_argument("--work", default="/var/tmp/containergen-bench-freshness")
    two.add_argument("--namespace", default="localhost/containergen-bench-freshness")
    two.add_argument("--port", type=int, default=8473, help="the local apt repository (HTTP)")
    two.add_argument("--registry-port", type=int, default=5473)
    two.add_argument("--threads", type=int, default=2)
    two.add_argument("--keep", action="store_true", help="keep the images built")
    args = parser.parse_args()
    return check(args) if args.mode == "check" else rebuild(args)


if __name__ == "__main__":
    sys.exit(main())
