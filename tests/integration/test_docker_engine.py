# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker engine, for real: the chain of the buildah test built by both engines from the same
definitions through the build playbook, and the two images compared.

Needs the Docker daemon that scripts/test.sh starts (scripts/dockerd.sh: Debian's docker.io,
dockerd in the background with experimental features, no systemd).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
NAMESPACE = "localhost/cgdocker-%s" % uuid.uuid4().hex[:8]
NAMES = ("base", "mid", "leaf-a", "leaf-b")
BASE_REF = "localhost/containergen/debian13-rootfs:trixie"

pytestmark = pytest.mark.integration


def playbook(work_dir, definitions, engine, extra=None):
    """Run the build playbook with one engine; returns (rc, output, summary dict or None)."""
    variables = {
        "image_build_definitions_path": definitions,
        "image_build_namespace": NAMESPACE,
        "image_build_work_dir": str(work_dir),
        "image_build_engine": engine,
        "image_build_timeout": 600,
    }
    variables.update(extra or {})
    os.makedirs(str(work_dir), exist_ok=True)
    vars_file = os.path.join(str(work_dir), "vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    proc = subprocess.run(["ansible-playbook", "containergen.images.build", "-e", "@" + vars_file], cwd=REPO,
                          capture_output=True, text=True, timeout=1200, check=False)
    summary_path = os.path.join(str(work_dir), "summary.json")
    summary = None
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as handle:
            summary = json.load(handle)
    return proc.returncode, proc.stdout + proc.stderr, summary


def ref(name):
    return "%s/%s:latest" % (NAMESPACE, name)


def docker(*argv, check=True):
    return subprocess.run(["docker"] + list(argv), capture_output=True, text=True, timeout=300, check=check)


def docker_inspect(image):
    return json.loads(docker("image", "inspect", image).stdout)[0]


def podman_inspect(image):
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def docker_has(image):
    return docker("image", "inspect", image, check=False).returncode == 0


def containers():
    return set(docker("ps", "-aq").stdout.split())


def all_images():
    return set(docker("images", "-aq", "--no-trunc").stdout.split())


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    if docker("version", "--format", "{{.Server.Version}}", check=False).returncode != 0:
        pytest.fail("no Docker daemon answers: scripts/test.sh starts one with scripts/dockerd.sh")
    work = tmp_path_factory.mktemp("docker")
    definitions = str(work / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    try:
        # Forced: images of the same fingerprint elsewhere in a store would only be tagged.
        rc, output, buildah = playbook(work / "buildah", definitions, "buildah", {"image_build_force": True})
        assert rc == 0, output
        before = containers()
        started = time.monotonic()
        rc, output, built = playbook(work / "docker", definitions, "docker", {"image_build_force": True})
        assert rc == 0, output
        yield {"work": work, "definitions": definitions, "buildah": buildah, "docker": built,
               "seconds": time.monotonic() - started, "containers": before}
    finally:
        refs = [ref(name) for name in NAMES + ("leaf-c", "slow")]
        docker("rmi", "--force", *refs, check=False)
        subprocess.run(["podman", "rmi", "--force"] + refs, capture_output=True, check=False)


def test_docker_builds_every_image_and_leaves_no_container(both):
    summary = both["docker"]
    assert summary["engine"] == "docker"
    assert {r["name"]: r["status"] for r in summary["images"]} == {name: "built" for name in NAMES}
    assert summary["base"]["action"] in ("present", "copied")  # copied: podman save | docker load
    assert docker_has(BASE_REF)
    assert containers() == both["containers"]


def test_same_contract_as_buildah(both):
    """Labels, user, entrypoint, cmd, environment, healthcheck and package manifest digest match."""
    volatile = {"org.opencontainers.image.created", "io.buildah.version"}
    for name in NAMES:
        from_docker, from_buildah = docker_inspect(ref(name)), podman_inspect(ref(name))
        ours, theirs = from_docker["Config"], from_buildah["Config"]
        labels = {k: v for k, v in ours["Labels"].items() if k not in volatile}
        assert labels == {k: v for k, v in theirs["Labels"].items() if k not in volatile}, name
        assert labels["containergen.manifest.sha256"] == theirs["Labels"]["containergen.manifest.sha256"]
        assert json.loads(labels["containergen.manifest"])["dumb-init"].startswith("1.2")
        for key in ("User", "Entrypoint", "Cmd", "WorkingDir", "StopSignal"):
            assert (ours.get(key) or None) == (theirs.get(key) or None), (name, key)
        assert sorted(ours["Env"]) == sorted(theirs["Env"]), name
        assert ours.get("Healthcheck") == from_buildah.get("Healthcheck"), name
    assert docker_inspect(ref("leaf-a"))["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "test -f /opt/mid/name"]
    assert docker_inspect(ref("leaf-a"))["Config"]["User"] == "svc"


def containerfile_layers(both, name):
    """Layers the rendered Containerfile makes without squash: one per RUN, COPY and ADD."""
    with open(os.path.join(str(both["work"]), "docker", "logs", name + ".log"), encoding="utf-8") as handle:
        text = handle.read().split("Step 1/", 1)[0]
    return len([line for line in text.splitlines() if line.split(" ", 1)[0] in ("RUN", "COPY", "ADD")])


def test_one_new_layer_per_image_on_its_parent(both):
    """One layer with squash (scripts/dockerd.sh starts the daemon with experimental features); a
    daemon without them (a packaged service) makes one per RUN group and COPY/ADD."""
    squash = docker("version", "--format", "{{.Server.Experimental}}").stdout.strip() == "true"
    parent_of = {"base": BASE_REF, "mid": ref("base"), "leaf-a": ref("mid"), "leaf-b": ref("mid")}
    for name, parent in parent_of.items():
        layers = docker_inspect(ref(name))["RootFS"]["Layers"]
        parent_layers = docker_inspect(parent)["RootFS"]["Layers"]
        new = 1 if squash else containerfile_layers(both, name)
        assert layers[:len(parent_layers)] == parent_layers and len(layers) == len(parent_layers) + new, name
    if not squash:
        assert containerfile_layers(both, "mid") == 3  # RUN, COPY, RUN: what squash makes one
    # the squashed chain leaves no dangling image behind
    dangling = docker("images", "-q", "--filter", "dangling=true", "--filter", "label=containergen.image").stdout
    assert not set(dangling.split()) & {docker_inspect(ref(n))["Id"][7:19] for n in NAMES}


def test_docker_images_run_and_hold_copied_files(both):
    out = docker("run", "--rm", "--network", "host", ref("leaf-a"), check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "leaf-a"
    out = docker("run", "--rm", "--network", "host", "--entrypoint", "cat", ref("mid"), "/opt/mid/motd.txt")
    assert out.stdout.strip() == "hello from the mid image"
    out = docker("run", "--rm", "--network", "host", "--entrypoint", "sh", ref("base"), "-c",
                 "ls /var/lib/apt/lists | wc -l; ls /var/cache/apt | wc -l")
    assert out.stdout.split() == ["0", "0"]


def test_second_docker_run_builds_nothing(both):
    rc, output, summary = playbook(both["work"] / "docker2", both["definitions"], "docker")
    assert rc == 0, output
    assert summary["images_built"] == [] and sorted(summary["images_unchanged"]) == sorted(NAMES)
    assert "changed=0" in output
    # the summary's own time (another build on the host may hold the build lock before it starts)
    assert summary["seconds"] < min(5.0, both["docker"]["seconds"])


def test_build_arguments_reach_the_build_but_not_the_image(both, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(both["definitions"], definitions)
    with open(os.path.join(definitions, "base", "mid", "leaf-b", "leaf-b.yaml"), "a", encoding="utf-8") as handle:
        handle.write("tcib_runs:\n  - 'echo \"proxy during the build: $ftp_proxy\"'\n")
    proxy = "http://proxy.invalid:3128"
    rc, output, summary = playbook(tmp_path / "work", definitions, "docker",
                                   {"image_build_include": ["leaf-b"], "image_build_build_env": {"ftp_proxy": proxy}})
    assert rc == 0, output
    assert summary["images_built"] == ["leaf-b"]
    with open(os.path.join(str(tmp_path / "work"), "logs", "leaf-b.log"), encoding="utf-8") as handle:
        assert "proxy during the build: " + proxy in handle.read()
    assert proxy not in json.dumps(docker_inspect(ref("leaf-b")))
    assert proxy not in docker("history", "--no-trunc", ref("leaf-b")).stdout


def test_failure_and_timeout_leave_nothing_behind(both, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(both["definitions"], definitions)
    for name, action in (("leaf-c", "echo about to fail && exit 7"), ("slow", "sleep 300")):
        directory = os.path.join(definitions, "base", "mid", name)
        os.makedirs(directory)
        with open(os.path.join(directory, name + ".yaml"), "w", encoding="utf-8") as handle:
            handle.write("tcib_actions:\n  - run: mkdir /opt/%s\n  - run: %s\n" % (name, action))
    images, before = all_images(), containers()
    started = time.monotonic()
    rc, output, summary = playbook(tmp_path / "work", definitions, "docker",
                                   {"image_build_include": ["leaf-c", "slow"], "image_build_timeout": 15})
    assert rc != 0
    assert time.monotonic() - started < 120
    results = {r["name"]: r for r in summary["images"]}
    assert results["leaf-c"]["status"] == "failed" and "returned a non-zero code: 7" in results["leaf-c"]["error"]
    assert results["slow"]["status"] == "failed" and "timed out" in results["slow"]["error"]
    with open(os.path.join(str(tmp_path / "work"), "logs", "leaf-c.log"), encoding="utf-8") as handle:
        assert "about to fail" in handle.read()
    assert not docker_has(ref("leaf-c")) and not docker_has(ref("slow"))
    time.sleep(2)  # the daemon removes a cancelled build's container asynchronously
    assert containers() == before
    assert all_images() == images  # no intermediate image of either build is left
    assert "sleep 300" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True,
                                             check=True).stdout
