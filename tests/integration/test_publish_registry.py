# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publishing against a real registry with real TLS and htpasswd auth, set up by the registry role.

The chain fixture images are built with buildah, then published, changed, republished, promoted,
rolled back and culled; faults (registry down) and concurrent publishers are exercised for real.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import shutil
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RUN_ID = uuid.uuid4().hex[:8]
PORT = 5110
ENDPOINT = "localhost:%d" % PORT
LOCAL_NS = "localhost/cgpub-%s" % RUN_ID
REMOTE_NS = "pub-%s" % RUN_ID

pytestmark = pytest.mark.integration


def playbook(name, variables, work, check=False):
    os.makedirs(work, exist_ok=True)
    vars_file = os.path.join(work, "vars-%s.json" % uuid.uuid4().hex[:6])
    with open(os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    argv = ["ansible-playbook", "containergen.images." + name, "-e", "@" + vars_file] + (["--check"] if check else [])
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    os.unlink(vars_file)
    return proc.returncode, proc.stdout + proc.stderr


def module(name, args, work, check=False):
    """Run one module through ansible (ad hoc) and return its JSON result. No secret is in args."""
    proc = subprocess.run(
        ["ansible", "localhost", "-m", "containergen.images." + name, "-a", json.dumps(args), "-e",
         "ansible_python_interpreter=" + os.path.join(REPO, ".venv", "bin", "python")] + (["-C"] if check else []),
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"), check=False)
    data = json.loads(proc.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    base = tmp_path_factory.mktemp("registry")
    state = "/var/tmp/cgtest-registry-%s" % RUN_ID
    password = secrets.token_urlsafe(18)
    variables = {
        "registry_port": PORT, "registry_debug_address": "127.0.0.1:%d" % (PORT + 1),
        "registry_config_dir": state + "/etc", "registry_data_dir": state + "/data",
        "registry_log_file": state + "/registry.log", "registry_pid_file": state + "/registry.pid",
        "registry_authfile": str(base / "auth.json"), "registry_bcrypt_cost": 5,
        "registry_users": [{"name": "publisher", "password": password}],
    }
    rc, output = playbook("registry", variables, str(base))
    try:
        assert rc == 0, output[-3000:]
        yield {"vars": variables, "work": str(base), "authfile": str(base / "auth.json"), "password": password,
               "state": state}
    finally:  # also when the setup failed half way
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", variables["registry_pid_file"], "--retry",
                        "TERM/10/KILL/5", "--oknodo"], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
        for certs in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
            shutil.rmtree(os.path.join(certs, ENDPOINT), ignore_errors=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("build")
    definitions = str(work / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    rc, output = playbook("build", {"image_build_definitions_path": definitions, "image_build_namespace": LOCAL_NS,
                                    "image_build_work_dir": str(work / "w")}, str(work))
    assert rc == 0, output[-3000:]
    yield {"definitions": definitions, "work": str(work)}
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=False).stdout.split()
    doomed = [ref for ref in out if ref.startswith(LOCAL_NS + "/")]
    if doomed:
        subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)


def rebuild_with(built, image_dir, extra_yaml):
    path = os.path.join(built["definitions"], *image_dir.split("/"))
    with open(os.path.join(path, os.path.basename(path) + ".yaml"), "a", encoding="utf-8") as handle:
        handle.write(extra_yaml)
    rc, output = playbook("build", {"image_build_definitions_path": built["definitions"],
                                    "image_build_namespace": LOCAL_NS,
                                    "image_build_work_dir": os.path.join(built["work"], "w")}, built["work"])
    assert rc == 0, output[-3000:]


def publish(registry, tag="latest", lock=None, images=None, check=False):
    args = {"registry": ENDPOINT, "namespace": REMOTE_NS, "tag": tag, "local_namespace": LOCAL_NS,
            "authfile": registry["authfile"], "images": images or [],
            "lock_file": lock or os.path.join(registry["work"], "images.lock")}
    return module("image_publish", args, registry["work"], check=check)


def skopeo(registry, *args):
    proc = subprocess.run(["skopeo"] + list(args[:1]) + ["--authfile", registry["authfile"]] + list(args[1:]),
                          capture_output=True, text=True, check=False)
    return proc


def remote_tags(registry, name):
    proc = skopeo(registry, "list-tags", "docker://%s/%s/%s" % (ENDPOINT, REMOTE_NS, name))
    return json.loads(proc.stdout)["Tags"] if proc.returncode == 0 else []


def remote_digest(registry, name, tag):
    proc = skopeo(registry, "inspect", "docker://%s/%s/%s:%s" % (ENDPOINT, REMOTE_NS, name, tag))
    return json.loads(proc.stdout)["Digest"] if proc.returncode == 0 else None


def test_registry_requires_auth_and_tls(registry):
    ca = os.path.join(registry["vars"]["registry_config_dir"], "tls", "ca.crt")
    code = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca,
                           "https://%s/v2/" % ENDPOINT], capture_output=True, text=True, check=False).stdout
    assert code == "401"
    # without the CA the TLS handshake must fail (curl exit 60: certificate problem)
    assert subprocess.run(["curl", "-s", "-o", "/dev/null", "--capath", "/nonexistent", "--cacert", "/dev/null",
                           "https://%s/v2/" % ENDPOINT], check=False).returncode in (60, 77)
    assert registry["password"] not in open(registry["vars"]["registry_config_dir"] + "/htpasswd").read()


def test_first_publish_pushes_revision_one_and_writes_lock_file(registry, built):
    result = publish(registry)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert sorted(result["pushed"]) == ["base", "leaf-a", "leaf-b", "mid"]
    assert result["bytes_sent"] > 1_000_000
    for name in ("base", "mid", "leaf-a", "leaf-b"):
        assert sorted(remote_tags(registry, name)) == ["latest", "latest-1"]
        assert remote_digest(registry, name, "latest") == remote_digest(registry, name, "latest-1")
    with open(os.path.join(registry["work"], "images.lock.json"), encoding="utf-8") as handle:
        lock = json.load(handle)["images"]
    digest = remote_digest(registry, "leaf-a", "latest-1")
    assert lock["leaf-a"] == "%s/%s/leaf-a:latest-1@%s" % (ENDPOINT, REMOTE_NS, digest)
    with open(os.path.join(registry["work"], "images.lock.yaml"), encoding="utf-8") as handle:
        assert '  leaf-a: "%s"' % lock["leaf-a"] in handle.read()


def test_republishing_unchanged_set_sends_nothing(registry, built):
    before = os.stat(os.path.join(registry["work"], "images.lock.yaml")).st_mtime_ns
    result = publish(registry)
    assert result["changed"] is False
    assert result["pushed"] == [] and result["bytes_sent"] == 0 and result["blobs_sent"] == 0
    assert os.stat(os.path.join(registry["work"], "images.lock.yaml")).st_mtime_ns == before


def test_changed_image_gets_next_revision_and_floating_tag_moves(registry, built):
    rebuild_with(built, "base/mid/leaf-b", "tcib_stopsignal: SIGINT\n")
    check = publish(registry, check=True)
    assert check["pushed"] == ["leaf-b"]
    assert "latest-2" not in remote_tags(registry, "leaf-b")
    result = publish(registry)
    assert result["pushed"] == ["leaf-b"]
    assert sorted(result["unchanged"]) == ["base", "leaf-a", "mid"]
    assert sorted(remote_tags(registry, "leaf-b")) == ["latest", "latest-1", "latest-2"]
    assert remote_digest(registry, "leaf-b", "latest") == remote_digest(registry, "leaf-b", "latest-2")
    assert remote_digest(registry, "leaf-b", "latest-1") != remote_digest(registry, "leaf-b", "latest-2")
    # only leaf-b's own layer travelled: its parents' blobs were in the registry
    assert 0 < result["bytes_sent"] < 1_000_000


def test_report_between_revisions(registry, built):
    result = module("image_report", {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"],
                                     "name": "leaf-b"}, registry["work"])
    assert result["summary"] == "leaf-b: +0 -0 ~0 packages (latest-1 -> latest-2)"
    assert result["added"] == {} and result["updated"] == {}


def test_static_tag_is_published_once_and_never_overwritten(registry, built):
    first = publish(registry, tag="1.0.0", lock=os.path.join(registry["work"], "release"), images=["leaf-b"])
    assert first["pushed"] == ["leaf-b"]
    assert "1.0.0" in remote_tags(registry, "leaf-b")
    assert not [t for t in remote_tags(registry, "leaf-b") if t.startswith("1.0.0-")]
    again = publish(registry, tag="1.0.0", lock=os.path.join(registry["work"], "release"), images=["leaf-b"])
    assert again["changed"] is False
    digest = remote_digest(registry, "leaf-b", "1.0.0")
    rebuild_with(built, "base/mid/leaf-b", "tcib_labels:\n  release: other\n")
    refused = publish(registry, tag="1.0.0", lock=os.path.join(registry["work"], "release"), images=["leaf-b"])
    assert refused.get("failed") is True
    assert "static tag 1.0.0" in refused["msg"] and "never overwritten" in refused["msg"]
    assert remote_digest(registry, "leaf-b", "1.0.0") == digest


def test_revisions_compare_as_numbers(registry, built):
    for number in range(3, 11):  # latest-3 .. latest-10, all the current content of leaf-b's latest-2
        assert skopeo(registry, "copy", "docker://%s/%s/leaf-b:latest-2" % (ENDPOINT, REMOTE_NS),
                      "docker://%s/%s/leaf-b:latest-%d" % (ENDPOINT, REMOTE_NS, number)).returncode == 0
    result = publish(registry, images=["leaf-b"])  # leaf-b changed (label) since latest-2
    assert result["pushed"] == ["leaf-b"]
    assert result["images"][0]["revision"] == 11
    assert "latest-11" in remote_tags(registry, "leaf-b")


def test_cull_keeps_latest_and_digests_still_referenced(registry, built):
    # latest-1 is old content; latest-2..latest-10 share one digest with the static tag 1.0.0 (same
    # content), so deleting any of them would delete the release too; latest-11 is the newest.
    result = module("image_cull", {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"],
                                   "images": ["leaf-b"], "max_age_days": 0,
                                   "lock_files": [os.path.join(registry["work"], "release.yaml")]},
                    registry["work"])
    assert result.get("failed") is not True, result
    deleted = set(result["images"][0]["deleted"])
    assert deleted == {"latest-1"}
    assert remote_digest(registry, "leaf-b", "latest-2") == remote_digest(registry, "leaf-b", "1.0.0")
    tags = remote_tags(registry, "leaf-b")
    assert "latest-1" not in tags
    assert {"latest", "latest-11", "1.0.0"} | {"latest-%d" % n for n in range(2, 11)} <= set(tags)
    again = module("image_cull", {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"],
                                  "images": ["leaf-b"], "max_age_days": 0}, registry["work"])
    assert again["changed"] is False


def test_garbage_collection_frees_culled_blobs_and_registry_comes_back(registry, built):
    data = registry["vars"]["registry_data_dir"]

    def blob_bytes():
        total = 0
        for root, _dirs, files in os.walk(os.path.join(data, "docker", "registry", "v2", "blobs")):
            total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
        return total

    before = blob_bytes()
    rc, output = playbook("registry_gc", registry["vars"], registry["work"])
    assert rc == 0, output[-3000:]
    assert blob_bytes() < before  # latest-1 of leaf-b (culled) had a layer nothing else uses
    assert remote_digest(registry, "leaf-b", "latest-11") is not None  # answers again, kept data intact


def test_promote_and_rollback(registry, built):
    lock = os.path.join(registry["work"], "images.lock.yaml")
    args = {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"], "lock_file": lock}
    first = module("image_promote", args, registry["work"])
    assert first["changed"] is True
    assert remote_digest(registry, "leaf-b", "deployed") == remote_digest(registry, "leaf-b", "latest-11")
    assert module("image_promote", args, registry["work"])["changed"] is False
    rebuild_with(built, "base/mid/leaf-a", "tcib_stopsignal: SIGINT\n")
    publish(registry)
    old_deployed = remote_digest(registry, "leaf-a", "deployed")
    second = module("image_promote", args, registry["work"])
    assert [r["name"] for r in second["images"] if r["action"] == "promoted"] == ["leaf-a"]
    assert remote_digest(registry, "leaf-a", "previous") == old_deployed
    assert remote_digest(registry, "leaf-a", "deployed") == remote_digest(registry, "leaf-a", "latest-2")
    back = module("image_promote", dict(args, action="rollback", images=["leaf-a"]), registry["work"])
    assert back["changed"] is True
    assert remote_digest(registry, "leaf-a", "deployed") == old_deployed


def test_registry_down_fails_cleanly_and_rerun_completes(registry, built):
    lock_yaml = os.path.join(registry["work"], "images.lock.yaml")
    before_lock = open(lock_yaml, encoding="utf-8").read()
    before_floating = remote_digest(registry, "mid", "latest")
    rebuild_with(built, "base/mid", "tcib_stopsignal: SIGINT\n")  # mid and both leaves change
    subprocess.run(["start-stop-daemon", "--stop", "--pidfile", registry["vars"]["registry_pid_file"], "--retry",
                    "TERM/10/KILL/5"], check=True, capture_output=True)
    failed = publish(registry)
    assert failed.get("failed") is True
    assert "nothing was moved" in failed["msg"]
    assert registry["password"] not in json.dumps(failed)
    assert open(lock_yaml, encoding="utf-8").read() == before_lock
    rc, output = playbook("registry", registry["vars"], registry["work"])  # starts it again
    assert rc == 0, output[-2000:]
    assert remote_digest(registry, "mid", "latest") == before_floating
    done = publish(registry)
    assert sorted(done["pushed"]) == ["leaf-a", "leaf-b", "mid"]
    assert open(lock_yaml, encoding="utf-8").read() != before_lock


def test_concurrent_publishers_never_mint_the_same_revision(registry, built):
    rebuild_with(built, "base/mid/leaf-a", "tcib_labels:\n  concurrency: test\n")
    before = remote_tags(registry, "leaf-a")
    locks = [os.path.join(registry["work"], "concurrent-%d" % i) for i in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda lock: publish(registry, lock=lock, images=["leaf-a"]), locks))
    actions = sorted(r["images"][0]["action"] for r in results)
    assert actions == ["pushed", "unchanged"], results
    new = sorted(set(remote_tags(registry, "leaf-a")) - set(before))
    assert len(new) == 1
    refs = {r["lock"]["leaf-a"] for r in results}
    assert len(refs) == 1  # both publishers report the same revision and digest


def test_images_built_with_docker_publish_from_the_daemon(registry, built, tmp_path):
    """engine docker: built in the Docker daemon, copied from it (skopeo docker-daemon:), same revisions."""
    work = str(tmp_path / "docker")
    rc, output = playbook("build", {"image_build_definitions_path": built["definitions"], "image_build_engine": "docker",
                                    "image_build_namespace": LOCAL_NS, "image_build_include": ["base"],
                                    "image_build_work_dir": work}, work)
    try:
        assert rc == 0, output[-3000:]
        local = json.loads(subprocess.run(["docker", "image", "inspect", LOCAL_NS + "/base:latest"],
                                          capture_output=True, text=True, check=True).stdout)[0]
        args = {"registry": ENDPOINT, "namespace": REMOTE_NS + "-docker", "local_namespace": LOCAL_NS,
                "authfile": registry["authfile"], "images": ["base"], "engine": "docker"}
        first = module("image_publish", args, registry["work"])
        assert first["changed"] and first["pushed"] == ["base"], first
        remote = json.loads(skopeo(registry, "inspect", "docker://%s/%s-docker/base:latest-1"
                                   % (ENDPOINT, REMOTE_NS)).stdout)
        assert remote["Labels"]["containergen.fingerprint"] == local["Config"]["Labels"]["containergen.fingerprint"]
        again = module("image_publish", args, registry["work"])
        assert not again["changed"] and again["pushed"] == [] and again["bytes_sent"] == 0, again
    finally:
        subprocess.run(["docker", "rmi", "--force", LOCAL_NS + "/base:latest"], capture_output=True, check=False)
