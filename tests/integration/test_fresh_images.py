# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fresh images without waste, against a real apt repository we control.

A tiny package (cgfresh-hello) is made with dpkg-deb in two versions and served by an apt
repository made with apt-ftparchive over HTTP on localhost. The chain base → mid (installs the
package) → leaf, and sib (without it) on base, is built with version 1; version 2 is published; the
update check marks exactly mid and leaf stale; the build with refresh=updates rebuilds only those;
the next run is a no-op. Publishing to a registry after each build mints a new revision for exactly
mid and leaf, whose revision diff names the update. The same check with the docker engine, on the
version 1 images loaded into the Docker daemon, finds the same. Nothing is stubbed: buildah builds,
podman and docker run the checks, apt resolves, distribution stores the revisions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils import _pipeline, _publish  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402

NAMESPACE = "localhost/cg-fresh-%s" % uuid.uuid4().hex[:8]
PACKAGE = "cgfresh-hello"
PORTS = range(8474, 8480)  # 8473: bench/freshness.py rebuild
REGISTRY_PORT = 5473  # a plain-HTTP registry on loopback: revisions are the point here, TLS is tested elsewhere

pytestmark = pytest.mark.integration


def free_port():
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port in %s-%s for the apt repository" % (PORTS[0], PORTS[-1]))


def make_deb(work, version):
    """A one-file package made with dpkg-deb."""
    root = work / ("pkg-" + version)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share" / PACKAGE).mkdir(parents=True)
    (root / "usr/share" / PACKAGE / "VERSION").write_text(version + "\n", encoding="utf-8")
    (root / "DEBIAN" / "control").write_text(
        "Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: containergen <test@example.org>\n"
        "Priority: optional\nSection: misc\nDescription: freshness test package\n" % (PACKAGE, version),
        encoding="utf-8")
    deb = work / ("%s_%s_all.deb" % (PACKAGE, version))
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


def publish(repo, deb):
    """Put deb in the flat repository (replacing the older version) and index it with apt-ftparchive."""
    for old in repo.glob("*.deb"):
        old.unlink()
    os.link(str(deb), str(repo / deb.name))
    packages = subprocess.run(["apt-ftparchive", "packages", "."], cwd=str(repo), check=True, capture_output=True,
                              text=True).stdout
    (repo / "Packages").write_text(packages, encoding="utf-8")
    (repo / "Release").unlink(missing_ok=True)
    release = subprocess.run(["apt-ftparchive", "release", "."], cwd=str(repo), check=True, capture_output=True,
                             text=True).stdout
    (repo / "Release").write_text(release, encoding="utf-8")
    time.sleep(1.1)  # a new index must not share the old one's mtime second (apt's If-Modified-Since)


def write_definitions(root, port):
    files = {
        "base/base.yaml": {"tcib_actions": [{"run": "echo 'deb [trusted=yes] http://127.0.0.1:%d/ ./' "
                                                    "> /etc/apt/sources.list.d/cgfresh.list" % port}]},
        "base/mid/mid.yaml": {"tcib_packages": {"common": [PACKAGE]}, "tcib_actions": [{"run": "{{ tcib_install }}"}]},
        "base/mid/leaf/leaf.yaml": {"tcib_actions": [{"run": "cat /usr/share/%s/VERSION > /leaf-saw" % PACKAGE}]},
        "base/sib/sib.yaml": {"tcib_actions": [{"run": "touch /sib"}]},
    }
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")  # YAML is a superset of JSON


def playbook(work, definitions, run, refresh):
    variables = {"image_build_definitions_path": str(definitions), "image_build_namespace": NAMESPACE,
                 "image_build_work_dir": str(work), "image_build_timeout": 600, "image_build_refresh": refresh}
    work.mkdir(exist_ok=True)
    vars_file = work / ("vars-%s.json" % run)
    vars_file.write_text(json.dumps(variables), encoding="utf-8")
    proc = subprocess.run(["ansible-playbook", "containergen.images.build", "-e", "@" + str(vars_file)], cwd=REPO,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    with open(work / "summary.json", encoding="utf-8") as handle:
        return json.load(handle)


def statuses(summary):
    return {r["name"]: r["status"] for r in summary["images"]}


def labels(name):
    out = subprocess.run(["podman", "image", "inspect", "%s/%s:latest" % (NAMESPACE, name)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)[0]["Config"]["Labels"]


def plan(definitions, refresh, engine="buildah"):
    options = _pipeline.PlanOptions.from_params({"definitions_path": str(definitions), "namespace": NAMESPACE,
                                                 "refresh": refresh, "engine": engine})
    return _pipeline.plan_images(options, Runner())


def docker_answers():
    return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                          check=False).returncode == 0


def start_registry(work):
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", REGISTRY_PORT)) == 0:
            pytest.fail("port %d is taken: the registry of this test cannot start" % REGISTRY_PORT)
    directory = work / "registry"
    directory.mkdir()
    (directory / "config.yml").write_text(json.dumps({
        "version": 0.1, "log": {"level": "warn"}, "http": {"addr": "127.0.0.1:%d" % REGISTRY_PORT},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}}}),
        encoding="utf-8")
    process = subprocess.Popen(["docker-registry", "serve", str(directory / "config.yml")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _attempt in range(100):
        try:
            socket.create_connection(("127.0.0.1", REGISTRY_PORT), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.terminate()
    pytest.fail("the registry did not answer on 127.0.0.1:%d" % REGISTRY_PORT)


def publish_params(work):
    return {"registry": "127.0.0.1:%d" % REGISTRY_PORT, "namespace": "fresh", "tls_verify": False,
            "local_namespace": NAMESPACE, "lock_dir": str(work / "locks"), "lock_file": str(work / "images.lock")}


def publish_images(work):
    return _pipeline.publish_images(_pipeline.PublishOptions.from_params(publish_params(work)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("fresh", numbered=True)
    repo = work / "repo"
    repo.mkdir()
    debs = {version: make_deb(work, version) for version in ("1.0", "2.0")}
    publish(repo, debs["1.0"])
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], cwd=str(repo),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    definitions = work / "defs"
    write_definitions(definitions, port)
    state = {"work": work, "repo": repo, "debs": debs, "definitions": definitions, "runs": {}}
    try:
        state["registry"] = start_registry(work)
        for _attempt in range(50):  # the server is up when it answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        state["runs"]["v1"] = playbook(work / "build", definitions, "v1", "updates")
        state["published"] = {"v1": publish_images(work)}
        state["ids_v1"] = {r["name"]: r["image_id"] for r in state["runs"]["v1"]["images"]}
        state["manifests_v1"] = {name: json.loads(labels(name)["containergen.manifest"]) for name in state["ids_v1"]}
        state["plan_v1"] = plan(definitions, "updates")
        state["docker"] = docker_answers()
        if state["docker"]:  # the version 1 images and their base, for the docker engine's check
            archive = str(work / "v1.tar")
            refs = ["%s/%s:latest" % (NAMESPACE, name) for name in state["ids_v1"]]
            subprocess.run(["podman", "save", "-m", "--format", "docker-archive", "-o", archive] + refs, check=True,
                           capture_output=True)
            subprocess.run(["docker", "load", "-i", archive], check=True, capture_output=True)
            os.unlink(archive)
        publish(repo, debs["2.0"])
        start = time.monotonic()
        state["plan_v2"] = plan(definitions, "updates")
        state["plan_v2_seconds"] = time.monotonic() - start
        if state["docker"]:
            state["plan_v2_docker"] = plan(definitions, "updates", engine="docker")
            state["build_v2_docker"] = _pipeline.build_images(_pipeline.BuildOptions.from_params({
                "definitions_path": str(definitions), "namespace": NAMESPACE, "engine": "docker",
                "work_dir": str(work / "docker-build"), "refresh": "updates", "timeout": 600}))
        state["plan_v2_none"] = plan(definitions, "none")
        state["runs"]["v2"] = playbook(work / "build", definitions, "v2", "updates")
        state["published"]["v2"] = publish_images(work)
        registry = _pipeline.registry_client(_pipeline.PublishOptions.from_params(publish_params(work)))
        state["reports"] = {name: _publish.report(registry, name, tag="latest") for name in ("mid", "leaf")}
        state["runs"]["v3"] = playbook(work / "build", definitions, "v3", "updates")
        state["published"]["v3"] = publish_images(work)
        state["plan_v3_none"] = plan(definitions, "none")
        yield state
    finally:
        for process in (server, state.get("registry")):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
        out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                             text=True, check=False).stdout
        doomed = [name for name in out.split() if name.startswith(NAMESPACE + "/")]
        if doomed:
            subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)
        if state.get("docker"):
            out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                                 text=True, check=False).stdout
            doomed = [name for name in out.split() if name.startswith(NAMESPACE + "/")]
            if doomed:
                subprocess.run(["docker", "rmi", "--force"] + doomed, capture_output=True, check=False)


def test_version_1_builds_every_image_with_the_package_in_mid_only(world):
    assert statuses(world["runs"]["v1"]) == {"base": "built", "mid": "built", "leaf": "built", "sib": "built"}
    manifests = world["manifests_v1"]
    assert manifests["mid"][PACKAGE] == "1.0" and manifests["leaf"][PACKAGE] == "1.0"
    assert PACKAGE not in manifests["base"] and PACKAGE not in manifests["sib"]


def test_nothing_is_stale_while_the_repository_is_unchanged(world):
    table = {image["name"]: image["status"] for image in world["plan_v1"]["images"]}
    assert table == {"base": "up to date", "mid": "up to date", "leaf": "up to date", "sib": "up to date"}


def test_a_published_update_makes_exactly_the_images_that_contain_the_package_stale(world):
    result = world["plan_v2"]
    table = {image["name"]: image["status"] for image in result["images"]}
    # leaf contains the package too (from mid): it is stale by its own check as well
    stale = "stale (1 package: %s 1.0 → 2.0)" % PACKAGE
    assert table == {"base": "up to date", "mid": stale, "leaf": stale, "sib": "up to date"}
    assert result["updates"]["salts"] == {"mid": ["%s=2.0" % PACKAGE], "leaf": ["%s=2.0" % PACKAGE]}
    assert result["updates"]["images"]["mid"]["updates"] == {PACKAGE: ["1.0", "2.0"]}
    assert result["updates"]["base"]["updates"] == {}
    # without refresh the fingerprints decide: the update is not seen
    assert {image["name"]: image["status"] for image in world["plan_v2_none"]["images"]} == {
        name: "up to date" for name in table}


def test_refresh_rebuilds_only_the_stale_images_and_records_why(world):
    summary = world["runs"]["v2"]
    assert statuses(summary) == {"base": "skipped", "mid": "built", "leaf": "built", "sib": "skipped"}
    ids = {r["name"]: r["image_id"] for r in summary["images"]}
    assert ids["base"] == world["ids_v1"]["base"] and ids["sib"] == world["ids_v1"]["sib"]
    assert ids["mid"] != world["ids_v1"]["mid"] and ids["leaf"] != world["ids_v1"]["leaf"]
    mid = labels("mid")
    assert json.loads(mid["containergen.manifest"])[PACKAGE] == "2.0"
    assert json.loads(mid["containergen.refresh"]) == {"mid": ["%s=2.0" % PACKAGE]}
    assert json.loads(labels("leaf")["containergen.refresh"]) == {"leaf": ["%s=2.0" % PACKAGE]}
    assert json.loads(labels("leaf")["containergen.manifest"])[PACKAGE] == "2.0"
    assert "containergen.refresh" not in labels("sib")
    assert set(summary["updates"]["images"]) == {"mid", "leaf"}


def test_the_next_run_is_a_no_op_with_or_without_refresh(world):
    assert statuses(world["runs"]["v3"]) == {name: "skipped" for name in ("base", "mid", "leaf", "sib")}
    assert world["runs"]["v3"]["updates"]["images"] == {}
    assert {image["name"]: image["status"] for image in world["plan_v3_none"]["images"]} == {
        name: "up to date" for name in ("base", "mid", "leaf", "sib")}


def test_publish_mints_a_revision_for_exactly_the_rebuilt_images(world):
    published = world["published"]
    assert sorted(published["v1"]["pushed"]) == ["base", "leaf", "mid", "sib"]
    assert sorted(published["v2"]["pushed"]) == ["leaf", "mid"]
    assert sorted(published["v2"]["unchanged"]) == ["base", "sib"]
    revisions = {item["name"]: item["revision"] for item in published["v2"]["images"]}
    assert revisions == {"base": 1, "sib": 1, "mid": 2, "leaf": 2}
    assert published["v3"]["pushed"] == [] and published["v3"]["bytes_sent"] == 0
    lock = (world["work"] / "images.lock.yaml").read_text(encoding="utf-8")
    assert "/fresh/mid:latest-2@sha256:" in lock and "/fresh/sib:latest-1@sha256:" in lock


def test_the_revision_diff_names_the_package_update_and_why(world):
    for name in ("mid", "leaf"):
        report = world["reports"][name]
        assert report["summary"] == "%s: +0 -0 ~1 packages (latest-1 -> latest-2)" % name
        assert report["updated"] == {PACKAGE: ["1.0", "2.0"]}
        assert report["refresh"] == ["%s=2.0" % PACKAGE]


def test_the_docker_engine_finds_the_same_updates(world):
    if not world["docker"]:
        pytest.fail("no Docker daemon answers: scripts/test.sh starts one with scripts/dockerd.sh")
    result = world["plan_v2_docker"]
    stale = "stale (1 package: %s 1.0 → 2.0)" % PACKAGE
    assert {image["name"]: image["status"] for image in result["images"]} == {
        "base": "up to date", "mid": stale, "leaf": stale, "sib": "up to date"}
    assert result["updates"]["salts"] == world["plan_v2"]["updates"]["salts"]
    # and its build rebuilds exactly those, in the Docker daemon
    summary = world["build_v2_docker"]
    assert summary["engine"] == "docker"
    assert statuses(summary) == {"base": "skipped", "mid": "built", "leaf": "built", "sib": "skipped"}


def test_update_check_time(world):
    # three containers whatever the number of images: the index fetch (the Debian mirror and the
    # local repository), the base's package list, one apt-cache policy of every package of the set
    print("update check of the test chain: %.1f s (plan included: %.1f s)"
          % (world["plan_v2"]["updates"]["seconds"], world["plan_v2_seconds"]))
    assert world["plan_v2"]["updates"]["containers"] == 3
    assert world["plan_v2"]["updates"]["seconds"] < 60
