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
import shutil
import subprocess
import threading
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RUN_ID = uuid.uuid4().hex[:8]
PORT = 5110
REGISTRY_PORT = PORT  # the tls_registry fixture's port for this module
REGISTRY_STATE_DIR = "/var/tmp/cgtest-registry-%s" % RUN_ID
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
def registry(tls_registry):
    with open(tls_registry["password_file"], encoding="utf-8") as handle:
        return dict(tls_registry, password=handle.read().strip())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("build")
    definitions = str(work / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    # force: built here, never tagged from an image of the same fingerprint that another run or namespace
    # left in this host's shared store (its labels, e.g. the version manifest, are not this build's)
    rc, output = playbook("build", {"image_build_definitions_path": definitions, "image_build_namespace": LOCAL_NS,
                                    "image_build_work_dir": str(work / "w"), "image_build_force": True}, str(work))
    assert rc == 0, output[-3000:]
    for name in ("base", "mid", "leaf-a", "leaf-b"):
        manifest = json.loads(local_labels(name)["containergen.manifest"])
        assert "dumb-init" in manifest and "dpkg" in manifest, (name, sorted(manifest))
    yield {"definitions": definitions, "work": str(work)}
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=False).stdout.split()
    doomed = [ref for ref in out if ref.startswith(LOCAL_NS + "/")]
    if doomed:
        subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)


def local_labels(name):
    out = subprocess.run(["podman", "image", "inspect", "%s/%s:latest" % (LOCAL_NS, name)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0]["Labels"]


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


def repo(name, namespace=REMOTE_NS):
    return "%s/%s/%s" % (ENDPOINT, namespace, name)


def read_lock(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["images"]


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
    assert lock[repo("leaf-a")] == "%s/%s/leaf-a:latest-1@%s" % (ENDPOINT, REMOTE_NS, digest)
    with open(os.path.join(registry["work"], "images.lock.yaml"), encoding="utf-8") as handle:
        assert '  "%s": "%s"' % (repo("leaf-a"), lock[repo("leaf-a")]) in handle.read()


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
    # A stop signal changes the configuration only: the bit-for-bit reproducible rebuild has the very
    # layers of latest-1, so no layer travels (bytes_sent and blobs_sent count layers), only the new
    # config and manifest.
    assert result["blobs_sent"] == 0 and result["bytes_sent"] == 0, result
    old, new = (json.loads(skopeo(registry, "inspect", "--raw", "docker://%s:%s" % (repo("leaf-b"), tag)).stdout)
                for tag in ("latest-1", "latest-2"))
    assert [layer["digest"] for layer in new["layers"]] == [layer["digest"] for layer in old["layers"]]
    assert new["config"]["digest"] != old["config"]["digest"]
    config = json.loads(skopeo(registry, "inspect", "--config", "docker://%s:latest-2" % repo("leaf-b")).stdout)
    assert config["config"]["StopSignal"] == "SIGINT"


def test_report_between_revisions(registry, built):
    result = module("image_report", {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"],
                                     "name": "leaf-b"}, registry["work"])
    assert result["summary"] == "leaf-b: +0 -0 ~0 packages (latest-1 -> latest-2)"
    assert result["added"] == {} and result["removed"] == {} and result["updated"] == {}
    # both revisions carry this build's full version manifest (the equality above is not of two empty ones)
    labels = [json.loads(skopeo(registry, "inspect", "docker://%s:%s" % (repo("leaf-b"), tag)).stdout)["Labels"]
              for tag in ("latest-1", "latest-2")]
    assert labels[0]["containergen.manifest"] == labels[1]["containergen.manifest"] \
        == local_labels("leaf-b")["containergen.manifest"]
    assert "dumb-init" in json.loads(labels[0]["containergen.manifest"])


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
    assert "no floating tag was moved and the lock file is unchanged" in failed["msg"]
    assert "no new revision was pushed" in failed["msg"]
    assert registry["password"] not in json.dumps(failed)
    assert open(lock_yaml, encoding="utf-8").read() == before_lock
    rc, output = playbook("registry", registry["vars"], registry["work"])  # starts it again
    assert rc == 0, output[-2000:]
    assert remote_digest(registry, "mid", "latest") == before_floating
    done = publish(registry)
    assert sorted(done["pushed"]) == ["leaf-a", "leaf-b", "mid"]
    assert open(lock_yaml, encoding="utf-8").read() != before_lock


def stop_registry(registry):
    subprocess.run(["start-stop-daemon", "--stop", "--pidfile", registry["vars"]["registry_pid_file"], "--retry",
                    "TERM/10/KILL/5"], check=True, capture_output=True)


def start_registry(registry):
    rc, output = playbook("registry", registry["vars"], registry["work"])
    assert rc == 0, output[-2000:]


def hold_registry_down_when_pushing(registry, name, found):
    """Stop the registry as soon as a skopeo copy to NAME:... starts (the fault is real: the push dies)."""
    needle = "docker://%s:" % repo(name)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not found.get("stop"):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as handle:
                    argv = handle.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]) == "skopeo" and "copy" in argv and \
                    any(a.startswith(needle) for a in argv):
                stop_registry(registry)
                found["stopped"] = True
                return
        time.sleep(0.01)


def test_failure_during_the_third_push_moves_no_floating_tag(registry, built):
    """base, mid, leaf-a and leaf-b all change; the registry goes down during leaf-a's push (the third)."""
    lock_yaml = os.path.join(registry["work"], "images.lock.yaml")
    before_lock = open(lock_yaml, encoding="utf-8").read()
    names = ["base", "mid", "leaf-a", "leaf-b"]
    before = {name: remote_digest(registry, name, "latest") for name in names}
    revisions = {name: max(int(t.rsplit("-", 1)[1]) for t in remote_tags(registry, name) if t.startswith("latest-"))
                 for name in names}
    rebuild_with(built, "base", "tcib_labels:\n  fault: third-push\n")
    found = {}
    watcher = threading.Thread(target=hold_registry_down_when_pushing, args=(registry, "leaf-a", found))
    watcher.start()
    try:
        failed = publish(registry, images=names)
    finally:
        found["stop"] = True
        watcher.join()
    assert found.get("stopped") is True
    start_registry(registry)
    assert failed.get("failed") is True, failed
    message = failed["msg"]
    assert message.startswith("publishing failed at leaf-a (image 3 of 4), no floating tag was moved and the lock "
                              "file is unchanged: "), message
    assert "pushed and verified (now in the registry, harmless, reused by a rerun): base:latest-%d, mid:latest-%d;" % (
        revisions["base"] + 1, revisions["mid"] + 1) in message
    assert "a rerun pushes what is missing, then moves every floating tag latest of the set" in message
    assert "\n" not in message and registry["password"] not in json.dumps(failed)
    assert {name: remote_digest(registry, name, "latest") for name in names} == before
    assert open(lock_yaml, encoding="utf-8").read() == before_lock
    # the revisions pushed before the fault are there (and are what the rerun reuses)
    assert "latest-%d" % (revisions["base"] + 1) in remote_tags(registry, "base")
    assert "latest-%d" % (revisions["leaf-a"] + 1) not in remote_tags(registry, "leaf-a")
    done = publish(registry, images=names)
    assert done.get("failed") is not True, done
    assert sorted(done["pushed"]) == ["leaf-a", "leaf-b"]
    actions = {r["name"]: r["action"] for r in done["images"]}
    assert actions == {"base": "retagged", "mid": "retagged", "leaf-a": "pushed", "leaf-b": "pushed"}
    for name in names:
        newest = "latest-%d" % (revisions[name] + 1)
        assert remote_digest(registry, name, "latest") == remote_digest(registry, name, newest)
    lock = read_lock(os.path.join(registry["work"], "images.lock.json"))
    assert lock[repo("base")].startswith("%s:latest-%d@" % (repo("base"), revisions["base"] + 1))


def test_another_namespace_into_the_same_lock_file_keeps_the_default_set(registry, built):
    lock_base = os.path.join(registry["work"], "images.lock")
    default_set = read_lock(lock_base + ".json")
    assert sorted(default_set) == sorted(repo(n) for n in ("base", "mid", "leaf-a", "leaf-b"))
    # a lock file written before entries were keyed by repository: image name keys, migrated on the way
    old_yaml = "---\nimages:\n" + "".join('  %s: "%s"\n' % (key.rsplit("/", 1)[1], ref)
                                          for key, ref in sorted(default_set.items()))
    with open(lock_base + ".yaml", "w", encoding="utf-8") as handle:
        handle.write(old_yaml)
    with open(lock_base + ".json", "w", encoding="utf-8") as handle:
        json.dump({"images": {k.rsplit("/", 1)[1]: v for k, v in default_set.items()}}, handle)
    other = REMOTE_NS + "-x"
    result = module("image_publish", {"registry": ENDPOINT, "namespace": other, "local_namespace": LOCAL_NS,
                                      "authfile": registry["authfile"], "images": ["base"], "lock_file": lock_base},
                    registry["work"])
    assert result.get("failed") is not True, result
    assert result["pushed"] == ["base"]
    merged = read_lock(lock_base + ".json")
    assert merged == dict(default_set, **{repo("base", other): result["lock"][repo("base", other)]})
    with open(lock_base + ".yaml", encoding="utf-8") as handle:
        text = handle.read()
    assert '  "%s": "%s"' % (repo("base"), default_set[repo("base")]) in text
    assert '  "%s": ' % repo("base", other) in text
    # promote still works for each set, from the shared lock file
    promoted = module("image_promote", {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"],
                                        "lock_file": lock_base + ".yaml"}, registry["work"])
    assert promoted.get("failed") is not True, promoted
    assert sorted(r["name"] for r in promoted["images"]) == ["base", "leaf-a", "leaf-b", "mid"]
    for name in ("base", "leaf-a", "leaf-b", "mid"):
        assert remote_digest(registry, name, "deployed") == default_set[repo(name)].rsplit("@", 1)[1]
    promoted_x = module("image_promote", {"registry": ENDPOINT, "namespace": other, "authfile": registry["authfile"],
                                          "lock_file": lock_base + ".yaml"}, registry["work"])
    assert [(r["name"], r["action"]) for r in promoted_x["images"]] == [("base", "promoted")]
    culled = module("image_cull", {"registry": ENDPOINT, "namespace": REMOTE_NS, "authfile": registry["authfile"],
                                   "images": ["base"], "max_age_days": 0, "lock_files": [lock_base + ".yaml"]},
                    registry["work"], check=True)
    assert culled.get("failed") is not True, culled
    assert "latest-%s" % default_set[repo("base")].split(":latest-")[1].split("@")[0] not in culled["images"][0]["deleted"]


def test_two_publishers_of_different_sets_into_one_lock_file_lose_nothing(registry, built, tmp_path):
    """Different namespaces and publish lock dirs, so that only the lock file's own lock orders them."""
    lock_base = str(tmp_path / "shared" / "images.lock")
    jobs = [(REMOTE_NS + "-c1", "leaf-a", str(tmp_path / "l1")), (REMOTE_NS + "-c2", "leaf-b", str(tmp_path / "l2"))]

    def one(job):
        namespace, name, lock_dir = job
        return module("image_publish", {"registry": ENDPOINT, "namespace": namespace, "local_namespace": LOCAL_NS,
                                        "authfile": registry["authfile"], "images": [name], "lock_file": lock_base,
                                        "lock_dir": lock_dir}, registry["work"])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, jobs))
    assert all(r.get("failed") is not True for r in results), results
    lock = read_lock(lock_base + ".json")
    assert sorted(lock) == [repo("leaf-a", REMOTE_NS + "-c1"), repo("leaf-b", REMOTE_NS + "-c2")]
    for namespace, name, _lock_dir in jobs:
        assert lock[repo(name, namespace)] == results[jobs.index((namespace, name, _lock_dir))]["lock"][repo(name, namespace)]
    assert sorted(os.listdir(str(tmp_path / "shared"))) == ["images.lock.json", "images.lock.yaml"]


def test_cli_publishes_from_a_local_namespace_and_tag(registry, built, tmp_path):
    subprocess.run(["podman", "tag", LOCAL_NS + "/base:latest", LOCAL_NS + "/base:cli"], check=True)
    work = str(tmp_path / "cli")
    proc = subprocess.run([os.path.join(REPO, ".venv", "bin", "containergen"), "publish", "--registry", ENDPOINT,
                           "--namespace", REMOTE_NS + "-cli", "--local-namespace", LOCAL_NS, "--local-tag", "cli",
                           "--image", "base", "--authfile", registry["authfile"], "--work-dir", work,
                           "--lock-file", os.path.join(work, "images.lock"), "--json"],
                          capture_output=True, text=True, timeout=600, cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["pushed"] == ["base"]
    assert summary["images"][0]["source"] == LOCAL_NS + "/base:cli"
    assert sorted(json.loads(skopeo(registry, "list-tags", "docker://" + repo("base", REMOTE_NS + "-cli")).stdout)["Tags"]) \
        == ["latest", "latest-1"]
    lock = read_lock(os.path.join(work, "images.lock.json"))
    assert list(lock) == [repo("base", REMOTE_NS + "-cli")]


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
    refs = {r["lock"][repo("leaf-a")] for r in results}
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
