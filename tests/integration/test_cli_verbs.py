# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""push, diff, promote, rollback, cull and delete through the real `containergen` console script (and the
`openstack containergen image` plugin) against a real TLS registry with htpasswd auth: three small local
images become revisions latest-1..4 of one repository; each verb's --json document is checked against
what skopeo then reads from the registry."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(REPO, ".venv", "bin")
RUN_ID = uuid.uuid4().hex[:8]
REGISTRY_PORT = 5475
LOCAL = "localhost/cg-verbs-%s" % RUN_ID
NAME = "verbs%s" % RUN_ID
PACKAGES = [{"a": "1", "b": "1", "c": "1"}, {"a": "1", "b": "2", "d": "1"}, {"a": "2", "d": "1"}]

pytestmark = pytest.mark.integration


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd="/", check=False, **kwargs)


def containergen(*words, tool="containergen"):
    """The verb's --json document; the command must succeed with nothing but progress on stderr."""
    argv = [os.path.join(BIN, tool)] + (["containergen", "image"] if tool == "openstack" else []) + list(words)
    proc = run(argv + (["-f", "json"] if tool == "openstack" else ["--json"]))
    assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def digest(env, tag):
    proc = run(["skopeo", "inspect", "--authfile", env["authfile"],
                "docker://%s/containergen/%s:%s" % (env["registry"], NAME, tag)])
    return json.loads(proc.stdout)["Digest"] if proc.returncode == 0 else None


def registry_tags(env):
    proc = run(["skopeo", "list-tags", "--authfile", env["authfile"],
                "docker://%s/containergen/%s" % (env["registry"], NAME)])
    assert proc.returncode == 0, proc.stderr
    return sorted(json.loads(proc.stdout)["Tags"])


@pytest.fixture(scope="module")
def env(tls_registry, tmp_path_factory):
    """Three local images (scratch, distinct version manifests) tagged latest-1..3 in our namespace; latest is
    latest-1 again."""
    base = tmp_path_factory.mktemp("verbs")
    refs = []
    try:
        for number, packages in enumerate(PACKAGES, 1):
            container = run(["buildah", "from", "scratch"]).stdout.strip()
            try:
                assert run(["buildah", "config", "--label", "containergen.manifest=%s" % json.dumps(packages),
                            "--label", "containergen.manifest.sha256=%d" % number, "--label",
                            "containergen.fingerprint=%d" % number, container]).returncode == 0
                ref = "%s/%s:latest-%d" % (LOCAL, NAME, number)
                assert run(["buildah", "commit", "--quiet", container, ref]).returncode == 0
                refs.append(ref)
            finally:
                run(["buildah", "rm", container])
        assert run(["buildah", "tag", refs[0], "%s/%s:latest" % (LOCAL, NAME)]).returncode == 0
        refs.append("%s/%s:latest" % (LOCAL, NAME))
        yield dict(tls_registry, base=str(base))
    finally:
        for ref in refs:
            run(["podman", "rmi", "--force", ref])


def registry_options(env):
    return ["--registry", env["registry"], "--authfile", env["authfile"]]


def lock_file(env, name, tag):
    path = os.path.join(env["base"], name)
    with open(path + ".json", "w", encoding="utf-8") as handle:
        ref = "%s/containergen/%s:%s@%s" % (env["registry"], NAME, tag, digest(env, tag))
        json.dump({"images": {ref.split(":%s@" % tag)[0]: ref}}, handle)
    return path


def test_verbs_against_a_tls_registry_with_auth(env):
    credentials = ["--username", env["user"], "--password-file", env["password_file"]]
    # push: tripleoclient's flags; the password from a file; the tag kept, --append-tag appended
    dry = containergen("push", "--local", "%s/%s:latest-1" % (LOCAL, NAME), "--registry-url", env["registry"],
                       "--namespace", "containergen", "--dry-run", *credentials)
    assert dry["action"] == "would push" and digest(env, "latest-1") is None
    pushed = []
    for local_tag, append in (("latest-1", ""), ("latest-2", ""), ("latest-3", ""), ("latest", "-4")):
        cleanup = ["--cleanup"] if local_tag == "latest" else []
        document = containergen("push", "--local", "%s/%s:%s" % (LOCAL, NAME, local_tag), "--registry-url",
                                env["registry"], "--namespace", "containergen", "--append-tag=" + append, *credentials,
                                *cleanup)
        assert document["action"] == "pushed" and document["cleanup"] == bool(cleanup)
        assert document["destination"] == "%s/containergen/%s:%s%s" % (env["registry"], NAME, local_tag, append)
        pushed.append(document["digest"])
    # --cleanup removed the pushed local name only (latest-1 names the same image and stays)
    assert run(["podman", "image", "exists", "%s/%s:latest" % (LOCAL, NAME)]).returncode == 1
    assert run(["podman", "image", "exists", "%s/%s:latest-1" % (LOCAL, NAME)]).returncode == 0
    assert [digest(env, "latest-%d" % n) for n in (1, 2, 3, 4)] == pushed
    assert len(set(pushed)) == 3 and pushed[0] == pushed[3]
    assert registry_tags(env) == ["latest-1", "latest-2", "latest-3", "latest-4"]
    # a registry source (tripleoclient's default): registry to registry, into another namespace
    mirrored = containergen("push", "%s/containergen/%s:latest-2" % (env["registry"], NAME), "--registry-url",
                            env["registry"], "--namespace", "mirror", "--source-username", env["user"],
                            "--source-password-file", env["password_file"], *credentials)
    assert (mirrored["destination"], mirrored["digest"]) == ("%s/mirror/%s:latest-2" % (env["registry"], NAME),
                                                             pushed[1])

    # diff: a local image against a registry revision, and a lock file entry against a revision
    changes = containergen("diff", "local:%s/%s:latest-1" % (LOCAL, NAME), "registry:%s:latest-3" % NAME,
                           *registry_options(env))
    assert (changes["added"], changes["removed"], changes["updated"]) == (
        {"d": "1"}, {"b": "1", "c": "1"}, {"a": ["1", "2"]})
    lock2 = lock_file(env, "lock2", "latest-2")
    changes = containergen("diff", "lock:%s:%s" % (lock2, NAME), "docker://%s/containergen/%s:latest-3"
                           % (env["registry"], NAME), "--authfile", env["authfile"])
    assert changes["a"]["digest"] == pushed[1]
    assert (changes["removed"], changes["updated"]) == ({"b": "2"}, {"a": ["1", "2"]})
    rows = containergen("diff", "registry:%s:latest-1" % NAME, "registry:%s:latest-2" % NAME, *registry_options(env),
                        tool="openstack")
    assert rows == [{"change": "~", "package": "b", "old": "1", "new": "2"},
                    {"change": "-", "package": "c", "old": "1", "new": ""},
                    {"change": "+", "package": "d", "old": "", "new": "1"}]

    # promote: deployed -> latest-2; then latest-1 (previous keeps latest-2)
    assert containergen("promote", "--lock-file", lock2, *registry_options(env))["images"][0]["action"] == "promoted"
    assert digest(env, "deployed") == pushed[1] and digest(env, "previous") is None
    checked = containergen("promote", "--lock-file", lock_file(env, "lock1", "latest-1"), "--check",
                           *registry_options(env))
    assert checked["images"][0]["action"] == "would promote" and digest(env, "deployed") == pushed[1]
    containergen("promote", "--lock-file", os.path.join(env["base"], "lock1"), *registry_options(env))
    assert (digest(env, "deployed"), digest(env, "previous")) == (pushed[0], pushed[1])

    # rollback (through the OpenStack plugin, -f json): deployed and previous swap
    rows = containergen("rollback", NAME, *registry_options(env), tool="openstack")
    assert [(row["name"], row["action"]) for row in rows] == [(NAME, "rolled back")]
    assert (digest(env, "deployed"), digest(env, "previous")) == (pushed[1], pushed[0])

    # cull: latest-3 is the only revision no other tag and no kept lock file shares
    lock3 = lock_file(env, "lock3", "latest-3")
    kept = containergen("cull", NAME, "--max-age-days", "0", "--lock-file", lock3, "--check", *registry_options(env))
    assert kept["images"][0]["deleted"] == []
    culled = containergen("cull", NAME, "--max-age-days", "0", *registry_options(env))
    assert culled["images"][0]["deleted"] == ["latest-3"]
    assert registry_tags(env) == ["deployed", "latest-1", "latest-2", "latest-4", "previous"]

    # delete: the registry deletes by digest, so every tag of latest-4's digest goes (named in the result)
    refused = run([os.path.join(BIN, "containergen"), "delete", "%s/containergen/%s:latest-4" % (env["registry"], NAME),
                   "--authfile", env["authfile"]], stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and refused.stderr.strip().endswith("--yes: not given, and there is no terminal "
                                                                       "to ask on")
    deleted = containergen("delete", "%s/containergen/%s:latest-4" % (env["registry"], NAME), "--yes",
                           *credentials)
    assert deleted["digest"] == pushed[0]
    assert sorted(deleted["tags_removed"]) == ["latest-1", "latest-4", "previous"]
    assert deleted["artifacts_deleted"] == []  # none was attached
    assert registry_tags(env) == ["deployed", "latest-2"]


@pytest.mark.parametrize("argv,code,text", [
    (["push", "--local", "%s/%s:latest-1" % (LOCAL, NAME), "--username", "publisher", "--password-file", "WRONG"], 1,
     "authentication required"),
    (["push", "--local", "%s/%s:v9" % (LOCAL, NAME), "--username", "publisher", "--password-file", "RIGHT"], 1,
     "no such image"),
    (["diff", "registry:%s:latest-2" % NAME, "registry:nosuch:latest-1", "--authfile", "AUTH"], 1,
     "no such repository"),
    (["rollback", "nosuch", "--authfile", "AUTH"], 1, "no 'previous' tag in"),
    (["cull", "nosuch", "--authfile", "AUTH"], 1, "nosuch: no such repository"),
    (["delete", "containergen/nosuch:1", "--yes", "--authfile", "AUTH"], 1, "no such image"),
])
def test_registry_failures_are_one_line(env, argv, code, text):
    wrong = os.path.join(env["base"], "wrong-password")
    with open(wrong, "w", encoding="utf-8") as handle:
        handle.write("not-the-password\n")
    values = {"WRONG": wrong, "RIGHT": env["password_file"], "AUTH": env["authfile"]}
    argv = [values.get(word, word) for word in argv]
    where = ["--registry-url" if argv[0] in ("push", "delete") else "--registry", env["registry"]]
    for json_flag in ([], ["--json"]):
        proc = run([os.path.join(BIN, "containergen")] + argv + where + json_flag)
        assert proc.returncode == code, (proc.stdout[-1000:], proc.stderr[-2000:])
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and text in lines[0] and "Traceback" not in proc.stderr, proc.stderr
        if json_flag:
            assert text in json.loads(proc.stdout)["error"]


def test_list_and_show_read_the_lock_file_and_the_registry(env):
    """list --registry-status: a locked revision the registry holds is present, then missing once deleted; the
    image (cron of the definitions tree, in a namespace of its own) is absent from the local store."""
    namespace = "listshow-%s" % RUN_ID
    target = "%s/%s/cron" % (env["registry"], namespace)
    assert run(["skopeo", "copy", "--quiet", "--authfile", env["authfile"],
                "containers-storage:%s/%s:latest-1" % (LOCAL, NAME), "docker://%s:latest-1" % target]).returncode == 0
    path = os.path.join(env["base"], "listshow.lock")
    with open(path + ".json", "w", encoding="utf-8") as handle:
        json.dump({"images": {target: "%s:latest-1@%s" % (target, digest_of(env, target + ":latest-1"))}}, handle)
    options = ["--include", "cron", "--namespace", namespace, "--lock-file", path, "--registry-status",
               *registry_options(env)]
    rows = {row["name"]: row for row in containergen("list", *options)["images"]}
    cron = rows["cron"]
    assert (cron["local"], cron["revision"], cron["registry"]) == ("absent", "latest-1", "present")
    assert rows["base"]["registry"] == "unpublished"
    plugin = {row["name"]: row for row in containergen("list", *options, tool="openstack")}
    assert plugin["cron"]["registry"] == "present" and plugin["cron"]["digest"] == rows["cron"]["digest"]
    assert run(["skopeo", "delete", "--authfile", env["authfile"], "docker://%s:latest-1" % target]).returncode == 0
    rows = {row["name"]: row for row in containergen("list", *options)["images"]}
    assert rows["cron"]["registry"] == "missing"


def digest_of(env, ref):
    proc = run(["skopeo", "inspect", "--authfile", env["authfile"], "docker://" + ref])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["Digest"]
