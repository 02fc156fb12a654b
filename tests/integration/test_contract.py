# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kolla's runtime contract in the real base image: built with the collection's playbook on the
default profile (debian13), then started with podman the way kolla-ansible starts images: a
read-only config directory with config.json, KOLLA_CONFIG_STRATEGY, a service user.

Host-side listeners (python3 of this host, run as nobody) stand in for services in the health
check tests: the base has no server of its own. Ports 41980-41989 on 127.0.0.1."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "images"))
import test_kolla_set_configs as host_tests  # noqa: E402  pylint: disable=wrong-import-position,import-error
NAMESPACE = "localhost/cg-contract-it-%s" % uuid.uuid4().hex[:8]
REF = NAMESPACE + "/base:latest"
PREFIX = "cg-contract-it-"
PORT = 41980
NOBODY = 65534

pytestmark = pytest.mark.integration

KOLLA_IDS = {"kolla": 42400, "glance": 42415, "keystone": 42425, "mysql": 42434, "neutron": 42435, "nova": 42436,
             "rabbitmq": 42439, "haproxy": 42454, "memcached": 42457, "redis": 42460, "placement": 42482,
             "valkey": 42494}


def sh(argv, check=True, timeout=120):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("%s: rc %d\n%s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr))
    return proc


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    work = tmp_path_factory.mktemp("contract")
    variables = {"image_build_include": ["base"], "image_build_namespace": NAMESPACE,
                 "image_build_work_dir": str(work), "image_build_profile": "debian13", "image_build_timeout": 900}
    (work / "vars.json").write_text(json.dumps(variables))
    proc = subprocess.run(["ansible-playbook", "containergen.images.build", "-e", "@%s" % (work / "vars.json")],
                          cwd=str(REPO), capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    yield REF
    names = sh(["podman", "ps", "-a", "--format", "{{.Names}}"], check=False).stdout.split()
    mine = [name for name in names if name.startswith(PREFIX)]
    if mine:
        sh(["podman", "rm", "--force"] + mine, check=False)
    sh(["podman", "rmi", "--force", REF], check=False)


def config_dir(tmp_path, document, files=None):
    directory = tmp_path / "config_files"
    directory.mkdir(exist_ok=True)
    for name, text in (files or {}).items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
        (directory / name).chmod(0o644)
    (directory / "config.json").write_text(json.dumps(document))
    return directory


def run_args(name, directory, user="nova", strategy="COPY_ALWAYS", extra=()):
    return ["podman", "run", "--name", PREFIX + name, "--user", user, "--network", "host",
            "-e", "KOLLA_CONFIG_STRATEGY=" + strategy, "-v", "%s:/var/lib/kolla/config_files:ro" % directory] + \
        list(extra)


def wait_for_log(container, text, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        logs = sh(["podman", "logs", container], check=False)
        if text in logs.stdout + logs.stderr:
            return logs.stdout + logs.stderr
        time.sleep(0.2)
    raise AssertionError("%s: %r not in its log:\n%s" % (container, text, logs.stdout + logs.stderr))


def in_container(container, *argv, user="root"):
    return sh(["podman", "exec", "--user", user, container] + list(argv)).stdout


NOVA_CONFIG = {
    "command": "sleep infinity",
    "config_files": [
        {"source": "/var/lib/kolla/config_files/nova.conf", "dest": "/etc/nova/nova.conf",
         "owner": "nova", "perm": "0600"},
        {"source": "/var/lib/kolla/config_files/policy/*.yaml", "dest": "/etc/nova/", "owner": "nova:kolla",
         "perm": "0640"},
        {"source": "/var/lib/kolla/config_files/absent.conf", "dest": "/etc/nova/absent.conf",
         "owner": "nova", "perm": "0600", "optional": True}],
    "permissions": [{"path": "/var/log/kolla/nova", "owner": "nova:nova", "recurse": True}],
    "directories": [{"path": "/var/log/kolla/nova", "owner": "nova", "perm": "0750"}],
}
NOVA_FILES = {"nova.conf": "[DEFAULT]\ntransport_url = rabbit://secret@x\n", "policy/policy.yaml": "{}\n"}


def test_image_entrypoint_cmd_and_size(image):
    info = json.loads(sh(["podman", "image", "inspect", image]).stdout)[0]
    assert info["Config"]["Entrypoint"] == ["dumb-init", "--single-child", "--"]
    assert info["Config"]["Cmd"] == ["kolla_start"]
    size_mb = info["Size"] / 1e6
    print("base image size: %.1f MB" % size_mb)
    assert size_mb <= 100, size_mb


def test_service_runs_as_only_child_of_init_with_its_config_and_stops_on_sigterm(image, tmp_path):
    directory = config_dir(tmp_path, NOVA_CONFIG, NOVA_FILES)
    name = PREFIX + "nova"
    sh(run_args("nova", directory) + ["-d", image])
    logs = wait_for_log(name, "Running command: 'sleep infinity'")
    assert "Copying /var/lib/kolla/config_files/nova.conf to /etc/nova/nova.conf" in logs
    processes = [line.split(None, 3) for line in in_container(
        name, "ps", "-eo", "pid=,ppid=,user=,args=").splitlines()]
    processes = [p for p in processes if not p[3].startswith("ps ")]
    assert [p[3] for p in processes if p[0] == "1"] == ["dumb-init --single-child -- kolla_start"]
    children = [p for p in processes if p[1] == "1"]
    assert [(p[2], p[3]) for p in children] == [("nova", "sleep infinity")]
    assert len(processes) == 2, processes
    stat = in_container(name, "stat", "-c", "%n %a %U %G", "/etc/nova/nova.conf", "/etc/nova/policy.yaml",
                        "/run_command", "/var/log/kolla/nova").splitlines()
    assert stat == ["/etc/nova/nova.conf 600 nova nova", "/etc/nova/policy.yaml 640 nova kolla",
                    "/run_command 644 root root", "/var/log/kolla/nova 750 nova nova"]
    assert sh(["podman", "exec", name, "test", "-e", "/etc/nova/absent.conf"], check=False).returncode == 1
    # the config still matches: kolla_set_configs --check (as kolla-ansible's config check runs it)
    assert sh(["podman", "exec", "--user", "nova", name, "sudo", "-E", "kolla_set_configs", "--check"],
              check=False).returncode == 0
    # root's kolla_set_configs ignores the caller's environment: a $HOME/.jq redefining a builtin
    # (here: keys, which the validation uses) would otherwise change what root copies
    hijack = sh(["podman", "exec", "--user", "nova", "-e", "HOME=/tmp", name, "sh", "-c",
                 "echo 'def keys: [\"x\"];' > /tmp/.jq && sudo -E kolla_set_configs --check"], check=False)
    assert hijack.returncode == 0, hijack.stdout + hijack.stderr
    started = time.monotonic()
    sh(["podman", "stop", "-t", "10", name])
    elapsed = time.monotonic() - started
    state = json.loads(sh(["podman", "inspect", name]).stdout)[0]["State"]
    print("stop after SIGTERM: %.2f s, exit code %s" % (elapsed, state["ExitCode"]))
    assert elapsed < 10
    assert state["ExitCode"] == 143  # SIGTERM reached the service (SIGKILL would give 137)


def test_copy_once_keeps_the_config_across_a_restart(image, tmp_path):
    directory = config_dir(tmp_path, NOVA_CONFIG, NOVA_FILES)
    name = PREFIX + "once"
    sh(run_args("once", directory, strategy="COPY_ONCE") + ["-d", image])
    wait_for_log(name, "Running command")
    sh(["podman", "stop", "-t", "10", name])
    (directory / "nova.conf").write_text("[DEFAULT]\nchanged = true\n")
    sh(["podman", "start", name])
    wait_for_log(name, "already configured")
    assert "transport_url" in in_container(name, "cat", "/etc/nova/nova.conf")
    assert json.loads(sh(["podman", "inspect", name]).stdout)[0]["State"]["Running"]
    sh(["podman", "rm", "--force", name])


def test_kolla_user_and_group_ids(image):
    out = sh(["podman", "run", "--rm", "--entrypoint", "getent", image, "passwd"] + sorted(KOLLA_IDS)).stdout
    entries = {line.split(":")[0]: line.split(":") for line in out.splitlines()}
    assert {name: int(entry[2]) for name, entry in entries.items()} == KOLLA_IDS
    assert all(entry[2] == entry[3] for entry in entries.values())
    assert entries["nova"][5:] == ["/var/lib/nova", "/usr/sbin/nologin"]
    groups = sh(["podman", "run", "--rm", "--entrypoint", "id", image, "-nG", "mysql"]).stdout.split()
    assert groups == ["mysql", "kolla"]
    kolla = sh(["podman", "run", "--rm", "--entrypoint", "getent", image, "group", "kolla"]).stdout.strip()
    assert kolla.startswith("kolla:x:42400:")
    # no uid is shared (Debian's package scripts had given 100 to several users)
    uids = [line.split(":")[2] for line in sh(
        ["podman", "run", "--rm", "--entrypoint", "getent", image, "passwd"]).stdout.splitlines()]
    assert len(uids) == len(set(uids))


def test_sudo_allows_a_service_user_only_the_two_contract_commands(image):
    out = sh(["podman", "run", "--rm", "--user", "glance", "--entrypoint", "sudo", image, "-n", "-l"]).stdout
    allowed = out.split("may run the following commands", 1)[1].splitlines()[1:]
    assert [line.strip() for line in allowed if line.strip()] == [
        "(root) SETENV: NOPASSWD: /usr/local/bin/kolla_set_configs",
        "(root) NOPASSWD: /usr/local/bin/kolla_copy_cacerts"]
    denied = sh(["podman", "run", "--rm", "--user", "glance", "--entrypoint", "sudo", image, "-n", "id"],
                check=False)
    assert denied.returncode == 1
    modes = sh(["podman", "run", "--rm", "--entrypoint", "stat", image, "-c", "%n %a %U %G",
                "/etc/sudoers.d/kolla_sudoers", "/var/log/kolla", "/var/lib/kolla/config_files",
                "/usr/local/bin/kolla_start", "/usr/local/bin/kolla_set_configs",
                "/usr/local/bin/kolla_extend_start"]).stdout.splitlines()
    assert modes == ["/etc/sudoers.d/kolla_sudoers 440 root root", "/var/log/kolla 2775 root kolla",
                     "/var/lib/kolla/config_files 755 root root", "/usr/local/bin/kolla_start 755 root root",
                     "/usr/local/bin/kolla_set_configs 755 root root",
                     "/usr/local/bin/kolla_extend_start 644 root root"]


X_CONF = {"source": "/var/lib/kolla/config_files/x.conf", "dest": "/etc/x.conf", "perm": "0600"}


@pytest.mark.parametrize("document, files, expected", [
    ("{not json", {}, "invalid JSON: jq: parse error: "),
    ({"command": "sleep 1", "config_files": [dict(X_CONF, owner="nova")]},
     {}, "config_files[0].source: /var/lib/kolla/config_files/x.conf not found"),
    ({"command": "sleep 1", "config_files": [dict(X_CONF, owner="nobody-cg")]},
     {"x.conf": "x"}, "config_files[0].owner: unknown user nobody-cg"),
])
def test_bad_config_stops_before_the_service_with_one_line(image, tmp_path, document, files, expected):
    directory = config_dir(tmp_path, {}, files)
    (directory / "config.json").write_text(document if isinstance(document, str) else json.dumps(document))
    proc = sh(run_args("bad", directory) + ["--rm", image], check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kolla_set_configs: /var/lib/kolla/config_files/config.json: " + expected), lines
    assert "Running command" not in proc.stdout


def test_without_config_or_strategy_the_base_exits_1_with_a_clear_line(image, tmp_path):
    proc = sh(["podman", "run", "--rm", image], check=False)
    assert proc.returncode == 1
    assert "config.json: config file not found" in proc.stderr
    directory = config_dir(tmp_path, {"command": "true"})
    proc = sh(["podman", "run", "--rm", "--user", "nova", "-v", "%s:/var/lib/kolla/config_files:ro" % directory,
               image], check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "kolla_set_configs: KOLLA_CONFIG_STRATEGY=: must be COPY_ALWAYS or COPY_ONCE"


def test_deployer_ca_certificates_become_trusted(image, tmp_path):
    directory = config_dir(tmp_path, {"command": "sleep infinity"})
    (directory / "ca-certificates").mkdir()
    sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=cg-contract-ca",
        "-keyout", str(tmp_path / "ca.key"), "-out", str(directory / "ca-certificates" / "site.crt")])
    (directory / "ca-certificates" / "site.crt").chmod(0o644)
    name = PREFIX + "ca"
    sh(run_args("ca", directory) + ["-d", image])
    wait_for_log(name, "Running command")
    assert in_container(name, "ls", "/usr/local/share/ca-certificates").split() == ["kolla-customca-site.crt"]
    bundle = in_container(name, "cat", "/etc/ssl/certs/ca-certificates.crt")
    assert (directory / "ca-certificates" / "site.crt").read_text().strip() in bundle
    sh(["podman", "rm", "--force", name])


@pytest.fixture
def host_listeners():
    """An HTTP server (TCP, port PORT), a client holding a connection to it, and a UNIX socket server,
    all run as nobody so that a container user nobody may read their /proc entries."""
    socket_dir = pathlib.Path(tempfile.mkdtemp(prefix="cg-contract-"))
    os.chown(socket_dir, NOBODY, NOBODY)
    socket_path = socket_dir / "svc.sock"
    drop = ["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups"]
    server = subprocess.Popen(drop + ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", str(PORT)],
                              cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes = [server]
    try:
        for dummy in range(100):
            if subprocess.run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/" % PORT],
                              check=False).returncode == 0:
                break
            assert server.poll() is None, "the host listener on port %d did not start" % PORT
            time.sleep(0.1)
        else:
            raise AssertionError("the host listener on port %d does not answer" % PORT)
        client = ("import socket, time  # cg_contract_client\n"
                  "s = socket.create_connection(('127.0.0.1', %d))\ntime.sleep(120)\n" % PORT)
        processes.append(subprocess.Popen(drop + ["/usr/bin/python3", "-c", client]))
        unix = ("import socket, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(%r)\ns.listen(1)\ntime.sleep(120)\n"
                % str(socket_path))
        processes.append(subprocess.Popen(drop + ["/usr/bin/python3", "-c", unix], cwd="/"))
        for dummy in range(100):
            if socket_path.exists():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        yield {"socket": str(socket_path)}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(socket_dir, ignore_errors=True)


def test_healthcheck_helpers_with_kollas_command_lines(image, host_listeners):
    def check(*argv):
        return sh(["podman", "run", "--rm", "--network", "host", "--pid", "host", "--user", str(NOBODY),
                   "--entrypoint", argv[0], image] + list(argv[1:]), check=False)

    ok = check("healthcheck_curl", "http://127.0.0.1:%d/" % PORT)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().startswith("200 127.0.0.1:%d" % PORT)
    assert check("healthcheck_curl", "http://127.0.0.1:%d/" % (PORT + 1)).returncode == 1
    assert check("healthcheck_curl", "http://127.0.0.1:%d/missing" % PORT).returncode == 1
    assert check("healthcheck_listen", "http.server", str(PORT)).returncode == 0
    assert check("healthcheck_listen", "http.server", str(PORT + 1), str(PORT)).returncode == 0
    assert check("healthcheck_listen", "http.server", str(PORT + 1)).returncode == 1
    assert check("healthcheck_listen", "no-such-process-cg", str(PORT)).returncode == 1
    assert check("healthcheck_port", "cg_contract_client", str(PORT)).returncode == 0
    assert check("healthcheck_port", "cg_contract_client", str(PORT + 1)).returncode == 1
    # a listening socket is not a connection
    assert check("healthcheck_port", "http.server --bind", str(PORT + 2)).returncode == 1
    assert check("healthcheck_socket", "python3", host_listeners["socket"]).returncode == 0
    assert check("healthcheck_socket", "python3", host_listeners["socket"] + ".other").returncode == 1
    assert check("healthcheck_socket", "sleep", host_listeners["socket"]).returncode == 1


# ---- kolla_set_configs's host tests again, run inside the image (its dash, jq and coreutils) -------

class ImageScratch(host_tests.Scratch):
    """The host tests' scratch directory, with the script run by podman in the built base as root;
    the directory is mounted at the same path, so paths and owners read the same on both sides."""

    def __init__(self, root: pathlib.Path, image_ref: str):
        super().__init__(root)
        self.image = image_ref

    def run(self, *args: str, strategy: str | None = "COPY_ALWAYS", env: dict | None = None):
        environ = {"KOLLA_SET_CONFIGS_TEST_ROOT": str(self.root), "KOLLA_CONFIG_FILE": str(self.config)}
        if strategy:
            environ["KOLLA_CONFIG_STRATEGY"] = strategy
        environ.update(env or {})
        argv = ["podman", "run", "--rm", "--network", "none", "--user", "root", "-v", "%s:%s" % (self.root, self.root),
                "--entrypoint", "/usr/local/bin/kolla_set_configs"]
        for key, value in sorted(environ.items()):
            argv += ["-e", "%s=%s" % (key, value)]
        return subprocess.run(argv + [self.image] + list(args), capture_output=True, text=True, timeout=120,
                              check=False)


@pytest.fixture
def scratch(image, tmp_path):
    return ImageScratch(tmp_path, image)


for _name in dir(host_tests):
    if _name.startswith("test_"):
        globals()["test_in_image_" + _name[len("test_"):]] = getattr(host_tests, _name)
