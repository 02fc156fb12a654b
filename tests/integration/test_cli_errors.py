# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failures the operator meets after the options parse (registry down, wrong password, no such
repository, too few revisions, bad lock files, bad definitions, an unreachable Docker daemon) and bad
command lines test_cli_bad_input.py does not cover, through the real `containergen` console script and
a real TLS registry with htpasswd auth (set up by the registry role): each is one line on stderr, no
traceback, the documented exit status, and with --json exactly one error document on stdout."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTAINERGEN = os.path.join(REPO, ".venv", "bin", "containergen")
RUN_ID = uuid.uuid4().hex[:8]
PORT = 5361
REGISTRY_PORT = PORT  # the tls_registry fixture's port for this module
REGISTRY_STATE_DIR = "/var/tmp/cg-cli/registry-%s" % RUN_ID
REGISTRY = "localhost:%d" % PORT
DOWN = "localhost:5362"  # nothing listens there
LOCAL = "localhost/cg-cli-%s" % RUN_ID
NAME = "one%s" % RUN_ID  # one revision of it is pushed to the registry

pytestmark = pytest.mark.integration


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd="/", check=False, **kwargs)


def authfile(path, user, password):
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    path.write_text(json.dumps({"auths": {REGISTRY: {"auth": token}}}))
    os.chmod(str(path), 0o600)
    return str(path)


@pytest.fixture(scope="module")
def env(tls_registry, tmp_path_factory):
    base = tmp_path_factory.mktemp("clierrors")
    with open(tls_registry["password_file"], encoding="utf-8") as handle:
        password = handle.read().strip()
    container = None
    try:
        # an empty image, one revision of it in the registry
        container = run(["buildah", "from", "scratch"]).stdout.strip()
        # the labels publish reads before it goes to the registry
        assert run(["buildah", "config", "--label", "containergen.manifest.sha256=0", "--label",
                    "containergen.fingerprint=0", container]).returncode == 0
        assert run(["buildah", "commit", "--quiet", container, "%s/%s:latest" % (LOCAL, NAME)]).returncode == 0
        copied = run(["skopeo", "copy", "--authfile", tls_registry["authfile"],
                      "containers-storage:%s/%s:latest" % (LOCAL, NAME),
                      "docker://%s/containergen/%s:latest-1" % (REGISTRY, NAME)])
        assert copied.returncode == 0, copied.stderr
        defs = base / "defs"
        for name, text in (("badyaml", "tcib_packages: [\n"), ("badtype", "tcib_packages: 3\n")):
            (defs / name / name).mkdir(parents=True)
            (defs / name / name / (name + ".yaml")).write_text(text)
        (base / "bad.yaml").write_text("{\n")
        (base / "noimages.yaml").write_text("container_images: []\n")
        (base / "garbage.json").write_text("{")
        (base / "onlybase.json").write_text(json.dumps(
            {"images": {"%s/containergen/base" % REGISTRY: "%s/containergen/base:latest-1@sha256:%s"
                        % (REGISTRY, "1" * 64)}}))
        (base / "lock.json").write_text(json.dumps(
            {"images": {"%s/containergen/mariadb" % REGISTRY: "%s/containergen/mariadb:latest-1@sha256:%s"
                        % (REGISTRY, "2" * 64)}}))
        yield {"base": str(base), "auth": tls_registry["authfile"],
               "wrong": authfile(base / "wrong.json", "publisher", "not-" + password),
               "nobody": authfile(base / "nobody.json", "nobody", password),
               "defs": str(defs)}
    finally:
        if container:
            run(["buildah", "rm", container])
        run(["podman", "rmi", "--force", "%s/%s:latest" % (LOCAL, NAME)])


def report(*words, auth="auth"):
    return (["report"] + list(words) + ["--registry", REGISTRY], {"--authfile": auth})


# (argv, {option: fixture key}, exit status, text the error line holds)
CASES = [
    # registry
    (["report", NAME, "--registry", DOWN], {}, 1, "connection refused"),
    report(NAME, auth="wrong") + (1, "authentication required"),
    report(NAME, auth="nobody") + (1, "authentication required"),
    (["report", NAME, "--registry", REGISTRY, "--authfile", "/nonexistent/auth.json"], {}, 2, "--authfile"),
    report("nosuchimage") + (1, "no such repository %s/containergen/nosuchimage" % REGISTRY),
    report("nosuchimage", "--new", "latest-2") + (1, "no such repository"),
    report(NAME, "--namespace", "elsewhere") + (1, "no such repository %s/elsewhere/%s" % (REGISTRY, NAME)),
    report(NAME) + (1, "1 revision of latest in %s/containergen/%s, two are needed" % (REGISTRY, NAME)),
    report(NAME, "--new", "latest-1") + (1, "no revision of latest before latest-1 to compare with: give --old"),
    report(NAME, "--old", "latest-1") + (1, "no revision of latest after latest-1 to compare with: give --new"),
    report(NAME, "--old", "latest-1", "--new", "latest-7") + (1, "latest-7 does not exist"),
    report(NAME, "--tag", "zed") + (1, "0 revisions of zed"),
    (["publish", "--check", "--registry", DOWN, "--image", NAME, "--local-namespace", LOCAL], {}, 1,
     "connection refused"),
    (["publish", "--check", "--registry", REGISTRY, "--image", NAME, "--local-namespace", LOCAL],
     {"--authfile": "wrong"}, 1, "authentication required"),
    (["publish", "--check", "--registry", REGISTRY, "--image", "nosuchimage", "--local-namespace", LOCAL],
     {"--authfile": "auth"}, 1, "local image %s/nosuchimage:latest does not exist" % LOCAL),
    (["publish", "--registry", REGISTRY, "--local-namespace", LOCAL + "-none"], {"--authfile": "auth"}, 1,
     "no containergen image under %s-none/*:latest to publish" % LOCAL),
    (["publish", "--registry", REGISTRY, "--work-dir", "/proc/cg-cli"], {}, 2, "--work-dir /proc/cg-cli"),
    # the registry verbs (graph, diff, push, delete, promote, rollback, cull)
    (["rollback", NAME, "--registry", DOWN], {}, 1, "connection refused"),
    (["rollback", NAME, "--registry", REGISTRY], {"--authfile": "wrong"}, 1, "authentication required"),
    (["rollback", NAME, "--registry", REGISTRY], {"--authfile": "auth"}, 1,
     "%s: no 'previous' tag in %s/containergen/%s: nothing to roll back to" % (NAME, REGISTRY, NAME)),
    (["cull", NAME, "--registry", DOWN], {}, 1, "connection refused"),
    (["cull", "nosuchimage", "--registry", REGISTRY], {"--authfile": "auth"}, 1,
     "nosuchimage: no such repository %s/containergen/nosuchimage in the registry" % REGISTRY),
    (["promote", "--registry", REGISTRY], {"--lock-file": "lock", "--authfile": "auth"}, 1,
     "mariadb: %s/containergen/mariadb:latest-1 is no longer" % REGISTRY),
    (["promote", "--registry", DOWN], {"--lock-file": "lock"}, 1, "lock file has no entry in %s/containergen" % DOWN),
    (["diff", "registry:%s:latest-1" % NAME, "registry:%s:latest-9" % NAME, "--registry", REGISTRY],
     {"--authfile": "auth"}, 1, "%s/containergen/%s:latest-9 does not exist" % (REGISTRY, NAME)),
    (["diff", "registry:%s:latest-1" % NAME, "local:%s/%s:latest" % (LOCAL, NAME), "--registry", DOWN], {}, 1,
     "connection refused"),
    (["diff", "registry:%s:latest-1" % NAME, "local:%s/%s:latest" % (LOCAL, NAME), "--registry", REGISTRY],
     {"--authfile": "auth"}, 1, "has no containergen.manifest label"),
    (["delete", "%s/containergen/%s:latest-1" % (DOWN, NAME), "--yes"], {}, 1, "connection refused"),
    (["delete", "%s/containergen/%s:latest-1" % (REGISTRY, NAME), "--yes"], {"--authfile": "wrong"}, 1,
     "authentication required"),
    (["push", "--local", "%s/%s:latest" % (LOCAL, NAME), "--registry-url", DOWN], {}, 1, "connection refused"),
    (["push", "--local", "%s/%s:latest" % (LOCAL, NAME), "--registry-url", REGISTRY], {"--authfile": "nobody"}, 1,
     "authentication required"),
    (["push", "--local", "%s/nosuch:latest" % LOCAL, "--registry-url", REGISTRY], {"--authfile": "auth"}, 1,
     "containers-storage:%s/nosuch:latest: no such image" % LOCAL),
    (["graph", "--output", "/proc/cg-cli/graph.svg"], {}, 2, "--output /proc/cg-cli/graph.svg"),
    # lock files and exports
    (["export", "--format", "tripleo", "--lock-file", "/nonexistent/images.lock"], {}, 1, "no lock file"),
    (["export", "--format", "tripleo"], {"--lock-file": "garbage"}, 1, "not a lock file"),
    (["export", "--format", "kolla-ansible"], {"--lock-file": "onlybase"}, 1, "no service image in it"),
    (["export", "--format", "helm"], {}, 2, "--format helm: must be one of tripleo, kolla-ansible"),
    (["export", "--format", "tripleo", "--output", "/proc/cg-cli/out.yaml"], {"--lock-file": "lock"}, 2,
     "--output /proc/cg-cli/out.yaml: No such file or directory"),
    (["export"], {}, 2, "the following arguments are required: --format"),
    # the command line
    ([], {}, 2, "the following arguments are required: command"),
    (["nosuch"], {}, 2, "nosuch"),
    (["plan", "--threads"], {}, 2, "--threads: expected one argument"),
    (["report"], {}, 2, "the following arguments are required: name"),
    (["plan", "--bogus"], {}, 2, "unrecognized arguments: --bogus"),
    (["build", "--work-dir", "/proc/cg-cli"], {}, 2, "--work-dir /proc/cg-cli: cannot create it"),
    (["build", "--push", "--json-x"], {}, 2, "unrecognized arguments: --json-x"),
    # definitions
    (["plan", "--include", "nosuchimage"], {}, 1, "'nosuchimage' matches no image"),
    (["plan"], {"--config-path": "badyaml"}, 1, "invalid YAML"),
    (["plan"], {"--config-path": "badtype"}, 1, "key 'tcib_packages'"),
    (["build", "--skip-build"], {"--config-path": "badtype"}, 1, "key 'tcib_packages'"),
    (["plan"], {"--extra-config": "bad"}, 1, "invalid YAML"),
    (["plan"], {"--config-file": "bad"}, 2, "--config-file"),
    (["plan"], {"--config-file": "noimages"}, 2, "no container_images entries"),
    # engines
    (["plan", "--engine", "docker", "--docker-host", "tcp://127.0.0.1:5369"], {}, 1,
     "cannot reach the Docker daemon at tcp://127.0.0.1:5369"),
    (["plan", "--engine", "docker", "--docker-host", "unix:///nonexistent/docker.sock"], {}, 1,
     "cannot reach the Docker daemon at unix:///nonexistent/docker.sock"),
]

FILES = {"auth": "auth", "wrong": "wrong", "nobody": "nobody"}


def resolve(env, option, key):
    if option == "--config-path":
        return os.path.join(env["defs"], key)
    if option in ("--extra-config", "--config-file"):
        return os.path.join(env["base"], key + ".yaml")
    if option == "--lock-file":
        return os.path.join(env["base"], key)
    return env[key]


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("argv,given,code,text", CASES, ids=[" ".join(c[0])[:60] or "(none)" for c in CASES])
def test_failure_is_one_line_and_one_json_document(env, tmp_path, argv, given, code, text):
    extra = [item for option, key in given.items() for item in (option, resolve(env, option, key))]
    if argv and argv[0] in ("plan", "build", "publish") and "--work-dir" not in argv:
        extra += ["--work-dir", str(tmp_path / "work")]
    for json_flag in ([], ["--json"]):
        proc = run([CONTAINERGEN] + argv + extra + json_flag)
        assert proc.returncode == code, (proc.returncode, proc.stdout[-1000:], proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, proc.stderr
        assert text in lines[0], lines[0]
        assert lines[0].startswith("containergen")
        if json_flag:
            document = json.loads(proc.stdout)
            assert document["exit_code"] == code
            assert text in document["error"]
        else:
            assert proc.stdout == ""


def test_report_of_two_revisions_works_against_the_same_registry(env):
    """The good path of the same fixture: a second revision makes report answer."""
    copied = run(["skopeo", "copy", "--authfile", env["auth"], "containers-storage:%s/%s:latest" % (LOCAL, NAME),
                  "docker://%s/containergen/%s:latest-2" % (REGISTRY, NAME)])
    assert copied.returncode == 0, copied.stderr
    try:
        proc = run([CONTAINERGEN, "report", NAME, "--registry", REGISTRY, "--authfile", env["auth"], "--json"])
        assert proc.returncode == 0, proc.stderr
        document = json.loads(proc.stdout)
        assert (document["old"], document["new"]) == ("latest-1", "latest-2")
    finally:
        run(["skopeo", "delete", "--authfile", env["auth"], "docker://%s/containergen/%s:latest-2" % (REGISTRY, NAME)])
