# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The eight infra images run their service under kolla's runtime contract, as kolla-ansible 2025.1
starts them.

One build (the build playbook, debian13) of base and the infra images; then, per image, a container
is started the way kolla-ansible starts it: host networking, a config.json and the service's files
mounted read-only at /var/lib/kolla/config_files, KOLLA_CONFIG_STRATEGY=COPY_ALWAYS, the image's own
command (kolla_start). The service is spoken to with its own protocol or client; the image's
healthcheck must pass, must fail while the service is frozen (SIGSTOP: nothing answers), and pass
again once it runs; `podman stop -t 10` must end it by SIGTERM well before the 10 s kill.
Time from `podman run` to healthy is printed as a table (pytest -s).

Ports 21000-21999 on loopback; containers, volumes and config copies are removed at teardown.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from typing import Callable, Dict, List, Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "infra")
NAMESPACE = "localhost/cg-infra"
WORK_DIR = "/var/tmp/cg-infra/test-build"
IMAGES = ["mariadb", "rabbitmq", "memcached", "redis", "haproxy", "rsyslog", "cron", "chrony"]
# Service user, uid (= gid) and the process that serves, per image. kolla 23 kolla/common/users.py;
# chrony: kolla's retired chrony id; haproxy, cron, rsyslog and chrony run as root as in kolla.
USERS = {
    "mariadb": ("mysql", 42434), "rabbitmq": ("rabbitmq", 42439), "memcached": ("memcached", 42457),
    "redis": ("redis", 42460), "haproxy": ("haproxy", 42454), "chrony": ("_chrony", 42406),
}
IMAGE_USER = {"mariadb": "mysql", "rabbitmq": "rabbitmq", "memcached": "memcached", "redis": "redis",
              "haproxy": "root", "rsyslog": "root", "cron": "root", "chrony": "root"}
PROCESS = {"mariadb": "mariadbd", "rabbitmq": "beam.smp", "memcached": "memcached", "redis": "redis-server",
           "haproxy": "haproxy", "rsyslog": "rsyslogd", "cron": "cron", "chrony": "chronyd"}
# Seconds a service gets to become healthy (rabbitmq and the mariadb bootstrap are the slow ones on
# a loaded 2-core machine).
READY_TIMEOUT = 180
DB_PASSWORD = "cg-infra-" + secrets.token_hex(8)
REDIS_PASSWORD = "cg-infra-redis-test"  # tests/integration/fixtures/infra/redis/redis.conf

pytestmark = pytest.mark.integration

TIMINGS: Dict[str, float] = {}
STOPS: Dict[str, str] = {}


def ref(name: str) -> str:
    return "%s/%s:latest" % (NAMESPACE, name)


def podman(*args: str, check: bool = True, timeout: float = 120, env: Optional[dict] = None
           ) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman"] + list(args), capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)
    if check and proc.returncode != 0:
        raise AssertionError("podman %s: rc=%d\n%s%s" % (" ".join(args), proc.returncode, proc.stdout, proc.stderr))
    return proc


def healthcheck(name: str) -> int:
    return podman("healthcheck", "run", name, check=False, timeout=90).returncode


def logs(name: str) -> str:
    proc = podman("logs", name, check=False)
    return proc.stdout + proc.stderr


def wait_for(what: str, probe: Callable[[], bool], timeout: float, name: Optional[str] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        if name and podman("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip() != "true":
            raise AssertionError("%s: the container stopped before %s\n%s" % (name, what, logs(name)[-4000:]))
        time.sleep(0.5)
    raise AssertionError("%s: not %s after %d s\n%s" % (name or "", what, timeout, logs(name)[-4000:] if name else ""))


@pytest.fixture(scope="module")
def built() -> Dict[str, dict]:
    """Build base and the infra images once (unchanged images are skipped by the build itself)."""
    os.makedirs(WORK_DIR, exist_ok=True)
    variables = {
        "image_build_include": IMAGES,
        "image_build_namespace": NAMESPACE,
        "image_build_work_dir": WORK_DIR,
        "image_build_profile": "debian13",
        "image_build_timeout": 1500,
    }
    vars_file = os.path.join(WORK_DIR, "vars.json")
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    proc = subprocess.run(["ansible-playbook", "containergen.images.build", "-e", "@" + vars_file], cwd=REPO,
                          capture_output=True, text=True, timeout=3600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    with open(os.path.join(WORK_DIR, "summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    status = {r["name"]: r["status"] for r in summary["images"]}
    assert summary["images_failed"] == [], status
    assert set(IMAGES) <= set(status), status
    return {name: json.loads(podman("image", "inspect", ref(name)).stdout)[0] for name in IMAGES}


@pytest.fixture(scope="module", autouse=True)
def timing_table():
    yield
    if TIMINGS:
        print("\nrun to healthy: seconds from podman run until the service answers and the image's healthcheck passes")
        print("stop: seconds of `podman stop -t 10` (SIGTERM) and the exit code")
        print("%-10s %14s %14s" % ("image", "run to healthy", "stop (code)"))
        for name in IMAGES:
            if name in TIMINGS:
                print("%-10s %14.1f %14s" % (name, TIMINGS[name], STOPS.get(name, "-")))


class Runner:
    """Starts containers and volumes and removes every one of them at teardown."""

    def __init__(self, tmp_path) -> None:
        self.tmp_path = tmp_path
        self.containers: List[str] = []
        self.volumes: List[str] = []

    def config_dir(self, image: str) -> str:
        target = os.path.join(str(self.tmp_path), "%s-%s" % (image, uuid.uuid4().hex[:6]))
        shutil.copytree(os.path.join(FIXTURES, image), target)
        return target

    def volume(self, image: str) -> str:
        name = "cg-infra-%s-%s" % (image, uuid.uuid4().hex[:8])
        self.volumes.append(name)
        podman("volume", "create", name)
        return name

    def run(self, image: str, config: str, env: Optional[Dict[str, str]] = None,
            volumes: Optional[List[str]] = None, detach: bool = True, timeout: float = 120
            ) -> subprocess.CompletedProcess:
        """`podman run` as kolla-ansible does; env values travel in podman's environment, not argv."""
        name = "cg-infra-%s-%s" % (image, uuid.uuid4().hex[:8])
        self.containers.append(name)
        argv = ["run", "--name", name, "--network", "host", "-v", "%s:/var/lib/kolla/config_files:ro" % config,
                "-e", "KOLLA_CONFIG_STRATEGY=COPY_ALWAYS"]
        child_env = dict(os.environ)
        for key, value in (env or {}).items():
            argv += ["-e", key]
            child_env[key] = value
        for volume in volumes or []:
            argv += ["-v", volume]
        argv += (["-d"] if detach else []) + [ref(image)]
        proc = podman(*argv, check=detach, timeout=timeout, env=child_env)
        proc.name = name  # type: ignore[attr-defined]
        return proc

    def cleanup(self) -> None:
        for name in self.containers:
            podman("rm", "--force", "--volumes", "--time", "0", name, check=False)
        for name in self.volumes:
            podman("volume", "rm", "--force", name, check=False)


@pytest.fixture
def runner(tmp_path, request) -> Runner:
    made = Runner(tmp_path)
    request.addfinalizer(made.cleanup)
    return made


# What the test sees of each service, from outside the image's own healthcheck.

def mariadb_query(name: str, sql: str, password: str = DB_PASSWORD) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYSQL_PWD=password)
    return podman("exec", "-e", "MYSQL_PWD", name, "mariadb", "-h", "127.0.0.1", "-P", "21306", "-uroot",
                  "-sN", "-e", sql, check=False, env=env)


def amqp_answers() -> bool:
    """AMQP 0-9-1 handshake: the broker answers the protocol header with a Connection.Start frame."""
    try:
        with socket.create_connection(("127.0.0.1", 21672), timeout=3) as conn:
            conn.sendall(b"AMQP\x00\x00\x09\x01")
            frame = conn.recv(7)
            return len(frame) == 7 and frame[0] == 1  # frame type 1: method
    except OSError:
        return False


def memcached_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 21211), timeout=3) as conn:
            conn.sendall(b"stats\r\n")
            return conn.recv(4096).startswith(b"STAT pid ")
    except OSError:
        return False


def redis_command(*words: str, lines: int = 2) -> bytes:
    """AUTH then one command (RESP); returns the raw replies once `lines` reply lines arrived."""
    payload = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w.encode()), w.encode()) for w in words)
    with socket.create_connection(("127.0.0.1", 21379), timeout=3) as conn:
        conn.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(REDIS_PASSWORD), REDIS_PASSWORD.encode()) + payload)
        reply = b""
        while reply.count(b"\r\n") < lines:
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply


def redis_answers() -> bool:
    try:
        return redis_command("PING") == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def syslog_answers(name: str, marker: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
        conn.sendto(("<14>cg-infra-test: %s" % marker).encode(), ("127.0.0.1", 21514))
    return marker in logs(name)


def start_healthy(runner: Runner, image: str, ready: Callable[[str], bool], config: Optional[str] = None,
                  env: Optional[Dict[str, str]] = None, volumes: Optional[List[str]] = None) -> str:
    """Start the image; returns its name once the service answers and the image's healthcheck passes."""
    started = time.monotonic()
    name = runner.run(image, config or runner.config_dir(image), env=env, volumes=volumes).name
    wait_for("answering", lambda: ready(name), READY_TIMEOUT, name)
    wait_for("healthy", lambda: healthcheck(name) == 0, 60, name)
    TIMINGS.setdefault(image, time.monotonic() - started)
    return name


def assert_health_follows_service(name: str, image: str) -> None:
    """Frozen service (nothing answers): the healthcheck fails; running again: it passes."""
    podman("exec", "--user", "root", name, "pkill", "-STOP", "-x", PROCESS[image])
    try:
        assert healthcheck(name) != 0, "%s: healthcheck passed while %s was stopped" % (image, PROCESS[image])
    finally:
        podman("exec", "--user", "root", name, "pkill", "-CONT", "-x", PROCESS[image])
    wait_for("healthy again", lambda: healthcheck(name) == 0, 60, name)


def assert_stops_on_sigterm(name: str, image: Optional[str] = None) -> None:
    started = time.monotonic()
    podman("stop", "--time", "10", name, timeout=60)
    seconds = time.monotonic() - started
    code = int(podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip())
    if image:
        STOPS.setdefault(image, "%.1f (%d)" % (seconds, code))
    # 0: the service shut down on SIGTERM; 143: it ended by SIGTERM's default action. 137 would be
    # the SIGKILL that follows the 10 s grace period.
    assert seconds < 9.5 and code in (0, 143), "stop took %.1f s, exit code %d\n%s" % (seconds, code, logs(name)[-3000:])


# The images as built.

@pytest.mark.parametrize("image", IMAGES)
def test_image_runs_kolla_start_as_its_service_user(built, image):
    config = built[image]["Config"]
    assert config.get("Cmd") == ["kolla_start"], config.get("Cmd")
    assert config.get("User") == IMAGE_USER[image]
    assert (built[image].get("Healthcheck") or {}).get("Test"), "%s has no healthcheck" % image
    if image in USERS:
        user, uid = USERS[image]
        out = podman("run", "--rm", "--user", "root", "--entrypoint", "id", ref(image), user).stdout
        assert out.startswith("uid=%d(%s) gid=%d(%s)" % (uid, user, uid, user)), out
        if user != "_chrony":
            assert "42400(kolla)" in out, out
    # No user with an id picked by a package script (Debian's dynamic range starts at 100).
    passwd = podman("run", "--rm", "--user", "root", "--entrypoint", "getent", ref(image), "passwd").stdout
    dynamic = [line for line in passwd.splitlines() if 100 <= int(line.split(":")[2]) < 42400]
    assert dynamic == [], dynamic


def test_no_per_deployment_state_in_the_images(built):
    # mariadb: no initialized datadir; rabbitmq: no Erlang cookie.
    out = podman("run", "--rm", "--user", "root", "--entrypoint", "find", ref("mariadb"), "/var/lib/mysql",
                 "-mindepth", "1").stdout
    assert out.strip() == "", out
    podman("run", "--rm", "--user", "root", "--entrypoint", "test", ref("rabbitmq"),
           "!", "-e", "/var/lib/rabbitmq/.erlang.cookie")
    out = podman("run", "--rm", "--user", "root", "--entrypoint", "find", ref("rabbitmq"), "/", "-xdev",
                 "-name", ".erlang.cookie").stdout
    assert out.strip() == "", out


# Each service, started as kolla-ansible starts it.

def test_mariadb_bootstraps_an_empty_datadir_and_keeps_it(built, runner):
    volume = runner.volume("mariadb")
    mount = ["%s:/var/lib/mysql" % volume]
    name = start_healthy(runner, "mariadb", lambda n: mariadb_query(n, "SELECT 1").stdout.strip() == "1",
                         env={"DB_ROOT_PASSWORD": DB_PASSWORD}, volumes=mount)
    assert "ready for connections" in logs(name)  # the server's own log reaches podman logs
    assert mariadb_query(name, "SHOW STATUS LIKE 'wsrep_local_state_comment'").stdout.split() == [
        "wsrep_local_state_comment", "Synced"]
    # kolla-ansible's healthcheck command, with its environment.
    env = dict(os.environ, MYSQL_PASSWORD=DB_PASSWORD)
    check = podman("exec", "-e", "MYSQL_USERNAME=root", "-e", "MYSQL_PASSWORD", "-e", "MYSQL_HOST=127.0.0.1",
                   "-e", "MYSQL_PORT=21306", name, "clustercheck", check=False, env=env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert mariadb_query(name, "CREATE DATABASE cgtest; CREATE TABLE cgtest.t (v VARCHAR(20));"
                               "INSERT INTO cgtest.t VALUES ('kept')").returncode == 0
    assert_health_follows_service(name, "mariadb")
    assert_stops_on_sigterm(name, "mariadb")

    # Second start on the same datadir: no bootstrap (the first password still holds), data kept.
    again = runner.run("mariadb", runner.config_dir("mariadb"), env={"DB_ROOT_PASSWORD": "not-used-again"},
                       volumes=mount).name
    wait_for("answering", lambda: mariadb_query(again, "SELECT v FROM cgtest.t").stdout.strip() == "kept",
             READY_TIMEOUT, again)
    assert "mariadb: initializing" not in logs(again)
    assert_stops_on_sigterm(again)


def test_mariadb_empty_datadir_without_password_fails_clearly(built, runner):
    volume = runner.volume("mariadb")
    proc = runner.run("mariadb", runner.config_dir("mariadb"), volumes=["%s:/var/lib/mysql" % volume], detach=False)
    assert proc.returncode != 0
    assert "DB_ROOT_PASSWORD is not set" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_mariadb_kolla_bootstrap_one_shot(built, runner):
    volume = runner.volume("mariadb")
    mount = ["%s:/var/lib/mysql" % volume]
    proc = runner.run("mariadb", runner.config_dir("mariadb"), volumes=mount, detach=False, timeout=300,
                      env={"KOLLA_BOOTSTRAP": "", "DB_ROOT_PASSWORD": DB_PASSWORD, "DB_MAX_TIMEOUT": "120"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert DB_PASSWORD not in proc.stdout + proc.stderr
    # The first Galera node starts as kolla-ansible starts it: BOOTSTRAP_ARGS appended to the command.
    name = runner.run("mariadb", runner.config_dir("mariadb"), volumes=mount,
                      env={"BOOTSTRAP_ARGS": "--wsrep-new-cluster"}).name
    wait_for("answering", lambda: mariadb_query(name, "SELECT 1").stdout.strip() == "1", READY_TIMEOUT, name)
    assert "Running command: '/usr/bin/mariadbd-safe --wsrep-new-cluster'" in logs(name)
    # KOLLA_UPGRADE one-shot against the running server; the password never reaches argv or the log.
    upgrade = runner.run("mariadb", runner.config_dir("mariadb"), detach=False, timeout=300, env={
        "KOLLA_UPGRADE": "", "DB_HOST": "127.0.0.1", "DB_PORT": "21306", "DB_ROOT_PASSWORD": DB_PASSWORD})
    assert upgrade.returncode == 0, upgrade.stdout[-3000:] + upgrade.stderr[-3000:]
    assert DB_PASSWORD not in upgrade.stdout + upgrade.stderr
    assert_stops_on_sigterm(name)


def test_rabbitmq_cookie_from_config_and_broker_stops_on_sigterm(built, runner):
    config = runner.config_dir("rabbitmq")
    cookie = secrets.token_hex(16).upper()
    with open(os.path.join(config, "erlang.cookie"), "w", encoding="utf-8") as handle:
        handle.write(cookie)
    name = start_healthy(runner, "rabbitmq", lambda n: amqp_answers(), config=config)
    assert podman("exec", name, "cat", "/var/lib/rabbitmq/.erlang.cookie").stdout == cookie
    assert podman("exec", name, "stat", "-c", "%a %U", "/var/lib/rabbitmq/.erlang.cookie").stdout.split() == [
        "600", "rabbitmq"]
    assert podman("exec", name, "rabbitmq-diagnostics", "-q", "ping", timeout=60).returncode == 0
    assert "Server startup complete" in logs(name)
    # The Erlang VM is the init's only child: it is what receives SIGTERM.
    tree = podman("exec", name, "ps", "-o", "pid=,ppid=,comm=", "-e").stdout.split("\n")
    assert any(line.split()[1:] == ["1", "beam.smp"] for line in tree if line.strip()), tree
    assert http_status("http://127.0.0.1:21615/api/overview") == 401  # management plugin from enabled_plugins
    assert_health_follows_service(name, "rabbitmq")
    assert_stops_on_sigterm(name, "rabbitmq")


def test_rabbitmq_cookie_from_kolla_bootstrap_and_environment(built, runner):
    """kolla-ansible's flow: a KOLLA_BOOTSTRAP one-shot writes RABBITMQ_CLUSTER_COOKIE into the data
    volume; the service then runs with the same environment and no cookie in config.json."""
    config = runner.config_dir("rabbitmq")
    with open(os.path.join(config, "config.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    data["config_files"] = [f for f in data["config_files"] if not f["dest"].endswith(".erlang.cookie")]
    with open(os.path.join(config, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    cookie = secrets.token_hex(16).upper()
    mount = ["%s:/var/lib/rabbitmq" % runner.volume("rabbitmq")]
    proc = runner.run("rabbitmq", config, volumes=mount, detach=False,
                      env={"KOLLA_BOOTSTRAP": "", "RABBITMQ_CLUSTER_COOKIE": cookie})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert cookie not in proc.stdout + proc.stderr
    name = runner.run("rabbitmq", config, volumes=mount, env={"RABBITMQ_CLUSTER_COOKIE": cookie}).name
    wait_for("answering", amqp_answers, READY_TIMEOUT, name)
    assert podman("exec", name, "cat", "/var/lib/rabbitmq/.erlang.cookie").stdout == cookie
    assert podman("exec", name, "stat", "-c", "%a %U", "/var/lib/rabbitmq/.erlang.cookie").stdout.split() == [
        "400", "rabbitmq"]
    assert_stops_on_sigterm(name)


def test_memcached(built, runner):
    name = start_healthy(runner, "memcached", lambda n: memcached_answers())
    # kolla-ansible's own healthcheck command line for this service works in the image too.
    assert podman("exec", name, "healthcheck_listen", "memcached", "21211", check=False).returncode == 0
    assert_health_follows_service(name, "memcached")
    assert_stops_on_sigterm(name, "memcached")


def test_redis_saves_its_data(built, runner):
    volume = runner.volume("redis")
    name = start_healthy(runner, "redis", lambda n: redis_answers(), volumes=["%s:/var/lib/redis" % volume])
    assert redis_command("SET", "cg-infra", "kept") == b"+OK\r\n+OK\r\n"
    assert "Ready to accept connections" in logs(name)
    assert podman("exec", name, "healthcheck_listen", "redis-server", "21379", check=False).returncode == 0
    assert_health_follows_service(name, "redis")
    assert_stops_on_sigterm(name, "redis")
    assert "DB saved on disk" in logs(name)
    again = runner.run("redis", runner.config_dir("redis"), volumes=["%s:/var/lib/redis" % volume]).name
    wait_for("answering", redis_answers, READY_TIMEOUT, again)
    assert redis_command("GET", "cg-infra", lines=3) == b"+OK\r\n$4\r\nkept\r\n"
    assert_stops_on_sigterm(again)


def test_haproxy(built, runner):
    name = start_healthy(runner, "haproxy", lambda n: http_status("http://127.0.0.1:21181/") == 200)
    # stats (auth required) and a service from services.d/ answer as well.
    assert http_status("http://127.0.0.1:21180/") == 401
    wait_for("proxying", lambda: http_status("http://127.0.0.1:21182/") == 200, 30, name)
    assert podman("exec", name, "healthcheck_curl", "http://127.0.0.1:21181", check=False).returncode == 0
    assert_health_follows_service(name, "haproxy")
    assert_stops_on_sigterm(name, "haproxy")


def test_rsyslog(built, runner):
    marker = "hello-%s" % uuid.uuid4().hex[:8]
    name = start_healthy(runner, "rsyslog", lambda n: syslog_answers(n, marker))
    assert_health_follows_service(name, "rsyslog")
    assert_stops_on_sigterm(name, "rsyslog")


def test_cron(built, runner):
    name = start_healthy(runner, "cron", lambda n: "cron: logrotate runs daily" in logs(n)
                         and podman("exec", n, "pgrep", "-x", "cron", check=False).returncode == 0)
    assert podman("exec", name, "stat", "-c", "%a %U", "/etc/logrotate.conf").stdout.split() == ["600", "root"]
    assert_health_follows_service(name, "cron")
    assert_stops_on_sigterm(name, "cron")


def test_cron_runs_jobs(built, runner):
    """A job from /etc/cron.d (supplied through config.json) runs within its minute: cron's PAM
    session works in a container."""
    config = runner.config_dir("cron")
    marker = "cg-infra-cron-%s" % uuid.uuid4().hex[:8]
    with open(os.path.join(config, "cg-infra-test"), "w", encoding="utf-8") as handle:
        handle.write("* * * * * root echo %s > /proc/1/fd/1\n" % marker)
    with open(os.path.join(config, "config.json"), encoding="utf-8") as handle:
        data = json.load(handle)
    data["config_files"].append({"source": "/var/lib/kolla/config_files/cg-infra-test",
                                 "dest": "/etc/cron.d/cg-infra-test", "owner": "root", "perm": "0644"})
    with open(os.path.join(config, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    name = runner.run("cron", config).name
    wait_for("running the job", lambda: marker in logs(name), 75, name)
    assert_stops_on_sigterm(name)


def test_chrony(built, runner):
    name = start_healthy(runner, "chrony", lambda n: podman(
        "exec", n, "chronyc", "-n", "-h", "127.0.0.1", "-p", "21323", "tracking", check=False).returncode == 0)
    assert "chronyd version" in logs(name)
    assert_health_follows_service(name, "chrony")
    assert_stops_on_sigterm(name, "chrony")
