# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad command lines, through the real `containergen` console script: each one exits 2 with exactly one
line on stderr naming the option, before anything runs (no image, no working container, nothing in
the work dir). The modules reject the same values with the parameter name (the role/playbook path)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTAINERGEN = os.path.join(REPO, ".venv", "bin", "containergen")
RUN_ID = uuid.uuid4().hex[:8]
IMAGE = "badinput%s" % RUN_ID  # the definitions' only image: a working container of it would be ours
NAMESPACE = "cg-pub-bad-%s" % RUN_ID

pytestmark = pytest.mark.integration

# (command, option named on stderr, the bad part of the command line)
CASES = [
    ("build", "--threads", ["--threads", "0"]),
    ("build", "--threads", ["--threads", "-1"]),
    ("build", "--threads", ["--threads", "65"]),
    ("build", "--threads", ["--threads", "two"]),
    ("plan", "--threads", ["--threads", "0"]),
    ("build", "--label", ["--label", "=x"]),
    ("build", "--label", ["--label", "novalue"]),
    ("build", "--tag", ["--tag", "a:b"]),
    ("build", "--tag", ["--tag", ""]),
    ("plan", "--tag", ["--tag", "a" * 129]),
    ("build", "--namespace", ["--namespace", "has space"]),
    ("build", "--namespace", ["--namespace", "UPPER"]),
    ("build", "--prefix", ["--prefix", "a b"]),
    ("build", "--base", ["--base", "bad ref!"]),
    ("build", "--build-timeout", ["--build-timeout", "0"]),
    ("build", "--build-timeout", ["--build-timeout", "-5"]),
    ("build", "--registry", ["--push", "--registry", "http://localhost:5000"]),
    ("build", "--registry", ["--registry", "localhost:99999"]),
    ("build", "--tcib-extras", ["--tcib-extras", "tcib_python_version"]),
    ("build", "--tcib-extras", ["--tcib-extras", "python_version=3.11"]),
    ("build", "--tcib-extras", ["--tcib-extras", "tcib_packages=vim"]),
    ("build", "--volume", ["--volume", "relative:/wheels"]),
    ("build", "--volume", ["--volume", "/srv"]),
    ("build", "--volume", ["--volume", "/srv:/srv:rw,bogus"]),
    ("build", "--config-path", ["--config-path", "/nonexistent/defs"]),
    ("build", "--extra-config", ["--extra-config", "/nonexistent/extra.yaml"]),
    ("build", "--config-file", ["--config-file", "/nonexistent/tripleo_containers.yaml"]),
    ("build", "--include", ["--include", "("]),
    ("build", "--exclude", ["--exclude", "[a-"]),
    ("build", "--engine", ["--engine", "podman"]),
    ("build", "--profile", ["--profile", "nosuch"]),
    ("build", "--distro", ["--distro", "nosuch", "--release", "1"]),
    ("build", "--docker-host", ["--engine", "docker", "--docker-host", "docker.sock"]),
    ("build", "--repo-dir", ["--repo-dir", "/nonexistent/repos"]),
    ("build", "--authfile", ["--push", "--authfile", "/nonexistent/auth.json"]),
    ("build", "--work-dir", ["--work-dir", "/etc/hostname/work"]),
    ("publish", "--tag", ["--tag", "a:b"]),
    ("publish", "--namespace", ["--namespace", "UPPER"]),
    ("publish", "--namespace", ["--namespace", "a b"]),
    ("publish", "--local-namespace", ["--local-namespace", "localhost/has space"]),
    ("publish", "--local-tag", ["--local-tag", ""]),
    ("publish", "--image", ["--image", "Keystone"]),
    ("publish", "--registry", ["--registry", "localhost:5000/ns"]),
    ("publish", "--lock-file", ["--lock-file", "/etc/hostname/images.lock"]),
    ("publish", "--authfile", ["--authfile", "/nonexistent/auth.json"]),
    ("report", "NAME", ["Bad Name"]),
    ("report", "--old", ["keystone", "--old", "a:b"]),
    # graph, diff and the registry verbs
    ("graph", "--format", ["--format", "png"]),
    ("graph", "--threads", ["--threads", "0"]),
    ("graph", "--output", ["--output", "/etc/hostname/graph.svg"]),
    ("diff", "A", ["keystone", "local:keystone"]),
    ("diff", "B", ["local:keystone", "registry:Bad:1"]),
    ("diff", "B", ["local:keystone", "lock:/srv/images.lock:"]),
    ("diff", "--registry", ["local:a", "local:b", "--registry", "http://localhost:5000"]),
    ("diff", "--authfile", ["local:a", "local:b", "--authfile", "/nonexistent/auth.json"]),
    ("push", "--password", ["localhost:5000/ns/x", "--password", "secret"]),
    ("push", "--source-password", ["localhost:5000/ns/x", "--source-password", "secret"]),
    ("push", "--username", ["localhost:5000/ns/x", "--username", "publisher"]),
    ("push", "--password-file", ["localhost:5000/ns/x", "--username", "u", "--password-file", "/nonexistent/pw"]),
    ("push", "IMAGE", ["x:1"]),
    ("push", "IMAGE", ["localhost:5000/ns/x@sha256:" + "1" * 64]),
    ("push", "--append-tag", ["--local", "x", "--append-tag=:bad"]),
    ("push", "--registry-url", ["--local", "x", "--registry-url", "localhost:5000/ns"]),
    ("delete", "IMAGE", ["localhost:5000/ns/x"]),
    ("delete", "--registry-url", ["ns/x:1", "--registry-url", "http://localhost:5000"]),
    ("promote", "--lock-file", ["--lock-file", "/nonexistent/images.lock"]),
    ("promote", "--namespace", ["--namespace", "UPPER"]),
    ("rollback", "IMAGE", ["Bad"]),
    ("rollback", "IMAGE", []),
    ("rollback", "--lock-file", ["--lock-file", "/nonexistent/images.lock"]),
    ("cull", "--max-age-days", ["keystone", "--max-age-days", "-1"]),
    ("cull", "--max-age-days", ["keystone", "--max-age-days", "soon"]),
    ("cull", "--tag", ["keystone", "--tag", "a:b"]),
    ("cull", "--authfile", ["keystone", "--authfile", "/nonexistent/auth.json"]),
    ("cull", "IMAGE", ["Bad"]),
]


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd="/", check=False, **kwargs)


@pytest.fixture(scope="module")
def definitions(tmp_path_factory):
    root = tmp_path_factory.mktemp("defs")
    image_dir = root / IMAGE
    image_dir.mkdir()
    (image_dir / (IMAGE + ".yaml")).write_text("tcib_actions:\n  - run: 'true'\ntcib_packages:\n  common: [dumb-init]\n")
    return str(root)


def ours():
    """Local images in our namespace and working containers of our image (whatever else runs on the host)."""
    images = [ref for ref in run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"]).stdout.split()
              if ref.startswith("localhost/%s/" % NAMESPACE)]
    containers = [name for name in run(["buildah", "containers", "--format", "{{.ContainerName}}"]).stdout.split()
                  if name.startswith("cg-%s-" % IMAGE)]
    return images + containers


def command_line(command, bad, definitions, work):
    """The bad part plus what a real run needs (unless the bad part sets it)."""
    given = {arg for arg in bad if arg.startswith("--")}
    if command in ("plan", "build", "graph"):
        base = {"--config-path": definitions, "--namespace": NAMESPACE, "--work-dir": work}
    elif command in ("push", "delete"):
        base = {"--registry-url": "127.0.0.1:5329"}
    elif command == "publish":
        base = {"--local-namespace": "localhost/" + NAMESPACE, "--work-dir": work, "--registry": "127.0.0.1:5329",
                "--lock-file": os.path.join(work, "images.lock")}
    else:
        base = {"--registry": "127.0.0.1:5329"}
    extra = [item for option, value in base.items() if option not in given for item in (option, value)]
    return [CONTAINERGEN, command] + bad + extra


@pytest.mark.parametrize("command,option,bad", CASES, ids=["%s %s" % (c[0], " ".join(c[2])) for c in CASES])
def test_bad_command_line_is_refused_before_anything_runs(command, option, bad, definitions, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    proc = run(command_line(command, bad, definitions, str(work)))
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.match(r"containergen %s: %s[ :]" % (command, re.escape(option)), lines[0]), lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert os.listdir(str(work)) == []
    assert ours() == []


def test_corpus_is_large_enough():
    assert len(CASES) >= 30
    assert len({(c[0], tuple(c[2])) for c in CASES}) == len(CASES)


def test_good_command_line_still_runs(definitions, tmp_path):
    """The same options with good values pass the checks (plan only reads)."""
    proc = run([CONTAINERGEN, "plan", "--config-path", definitions, "--namespace", NAMESPACE, "--work-dir",
                str(tmp_path), "--threads", "64", "--label", "a.b/c=x=y", "--tag", "2025.1", "--prefix", "os-",
                "--tcib-extras", "tcib_python_version=3.11", "--include", IMAGE[:4] + ".*", "--base",
                "localhost/cg-pub/base:1", "--json"])
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert [(i["ref"], i["from"]) for i in plan["images"]] == [("localhost/%s/os-%s:2025.1" % (NAMESPACE, IMAGE),
                                                               "localhost/cg-pub/base:1")]


def module(name, args):
    proc = subprocess.run(
        ["ansible", "localhost", "-m", "containergen.images." + name, "-a", json.dumps(args), "-e",
         "ansible_python_interpreter=" + os.path.join(REPO, ".venv", "bin", "python")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"), check=False)
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


@pytest.mark.parametrize("name,args,message", [
    ("image_plan", {"tag": "a:b"}, "tag a:b: must be 1-128 characters"),
    ("image_plan", {"namespace": "localhost/has space"}, "namespace 'localhost/has space': must be"),
    ("image_plan", {"labels": {"": "x"}}, "labels: key '': must be a non-empty key"),
    ("image_plan", {"template_vars": {"python": "3"}}, "template_vars: key python: must be tcib_NAME"),
    ("image_build", {"threads": 0}, "threads 0: must be a whole number from 1 to 64"),
    ("image_build", {"volumes": ["rel:/x"]}, "volumes: rel:/x: must be HOST:CONTAINER[:OPTIONS]"),
    ("image_publish", {"registry": "localhost:5329", "namespace": "UPPER"}, "namespace UPPER: must be lower case"),
    ("image_publish", {"registry": "http://x"}, "registry http://x: must be HOST[:PORT]"),
    ("image_publish", {"registry": "localhost:5329", "local_tag": "a:b"}, "local_tag a:b: must be"),
    ("image_promote", {"registry": "localhost:5329", "namespace": "A B", "lock_file": "/nonexistent"},
     "namespace 'A B': must be lower case"),
])
def test_modules_refuse_the_same_values_with_the_parameter_name(name, args, message, definitions):
    if name in ("image_plan", "image_build"):
        args = dict(args, definitions_path=definitions, profiles_path=os.path.join(REPO, "vars", "profiles"),
                    namespace=args.get("namespace", "localhost/" + NAMESPACE))
    result = module(name, args)
    assert result.get("failed") is True, result
    assert result["msg"].startswith(message), result["msg"]
    assert ours() == []


def test_several_definition_problems_are_one_a_line(tmp_path):
    """Bad definitions (not options): exit 1, a count on the first line, then each problem naming its file."""
    for name, text in (("a", "tcib_usr: x\n"), ("b", "tcib_packages: 3\n")):
        (tmp_path / "defs" / name).mkdir(parents=True)
        (tmp_path / "defs" / name / (name + ".yaml")).write_text(text)
    proc = run([CONTAINERGEN, "plan", "--config-path", str(tmp_path / "defs"), "--namespace", NAMESPACE])
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == "containergen plan: invalid image definitions (2 problems):"
    assert [line.split(":")[0] for line in lines[1:]] == [str(tmp_path / "defs" / "a" / "a.yaml"),
                                                          str(tmp_path / "defs" / "b" / "b.yaml")]
    assert "key 'tcib_usr'" in lines[1] and "key 'tcib_packages'" in lines[2]
