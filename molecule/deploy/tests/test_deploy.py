# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifier of the molecule "deploy" scenario: the control plane converge.yml started.

Runs through testinfra's local backend. The admin password is read from the 0600 file prepare.yml
wrote and handed to the client in its environment (OS_PASSWORD), never on a command line. The tests
run in file order; the last one stops every container.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(SCENARIO, "vars", "main.yml"), encoding="utf-8") as _handle:
    V = yaml.safe_load(_handle)


def _path(key):
    """A path variable of vars/main.yml, its "{{ deploy_root }}" resolved (the only variable paths use)."""
    return V[key].replace("{{ deploy_root }}", V["deploy_root"])


ROOT = V["deploy_root"]
SECRETS = _path("deploy_secrets_dir")
PREFIX = V["deploy_prefix"]
ADDRESS = V["deploy_address"]
SERVICES = [item["name"] for item in V["deploy_infra"] + V["deploy_openstack"]]
COPY_ONCE = V["deploy_copy_once"]
# vars/main.yml reads the same variable (its value there is a template).
NAMESPACE = os.environ.get("CG_DEPLOY_NAMESPACE") or "localhost/cg-deploy"
OPENSTACK = os.path.join(os.path.dirname(sys.executable), "openstack")


def _secret(name):
    with open(os.path.join(SECRETS, name), encoding="utf-8") as handle:
        return handle.read().strip()


def _client_env():
    env = dict(os.environ)
    env.update({
        "OS_AUTH_URL": "http://%s:%s/v3" % (ADDRESS, V["deploy_ports"]["keystone"]),
        "OS_USERNAME": "admin", "OS_PASSWORD": _secret("admin"), "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": V["deploy_region"], "OS_IDENTITY_API_VERSION": "3", "OS_INTERFACE": "public",
    })
    return env


def openstack(*args, parse=True):
    """Run the client; returns its parsed JSON output (or text)."""
    argv = [OPENSTACK] + list(args) + (["-f", "json"] if parse else [])
    proc = subprocess.run(argv, env=_client_env(), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, "openstack %s: rc=%s\n%s" % (" ".join(args), proc.returncode, proc.stderr[-3000:])
    return json.loads(proc.stdout) if parse else proc.stdout


def podman(*args, check=True):
    proc = subprocess.run(["podman"] + list(args), capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, "podman %s: rc=%s\n%s" % (" ".join(args), proc.returncode, proc.stderr)
    return proc


def wait_healthy(name, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if podman("healthcheck", "run", PREFIX + name, check=False).returncode == 0:
            return True
        time.sleep(1)
    return False


def test_token_issue():
    token = openstack("token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]


def test_catalog_list():
    catalog = {entry["Type"]: entry for entry in openstack("catalog", "list")}
    for kind in ("identity", "image", "placement", "compute", "network"):
        assert kind in catalog, sorted(catalog)


def test_image_create_and_download_byte_identical(tmp_path):
    source = tmp_path / "random.img"
    data = os.urandom(3 * 1024 * 1024 + 17)
    source.write_bytes(data)
    name = "cgdeploy-%d" % os.getpid()
    image = openstack("image", "create", "--disk-format", "raw", "--container-format", "bare", "--file",
                      str(source), name)
    try:
        assert openstack("image", "show", image["id"])["status"] == "active"
        target = tmp_path / "downloaded.img"
        openstack("image", "save", "--file", str(target), image["id"], parse=False)
        assert hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    finally:
        openstack("image", "delete", image["id"], parse=False)


def test_compute_services_up():
    deadline = time.monotonic() + 90
    while True:
        services = {entry["Binary"]: entry for entry in openstack("compute", "service", "list")}
        up = {binary for binary, entry in services.items() if entry["State"] == "up"}
        if {"nova-conductor", "nova-scheduler"} <= up or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert {"nova-conductor", "nova-scheduler"} <= up, services


def test_network_create_and_list():
    name = "cgdeploy-net-%d" % os.getpid()
    network = openstack("network", "create", name)
    try:
        assert network["status"] == "ACTIVE"
        assert name in [entry["Name"] for entry in openstack("network", "list")]
    finally:
        openstack("network", "delete", network["id"], parse=False)


@pytest.mark.parametrize("name", SERVICES)
def test_container_healthy(name):
    proc = podman("healthcheck", "run", PREFIX + name, check=False)
    assert proc.returncode == 0, "%s unhealthy: %s %s" % (name, proc.stdout, proc.stderr)


def test_copy_once_restart_keeps_config():
    """Started with COPY_ONCE: a changed source is not copied again on restart."""
    container = PREFIX + COPY_ONCE
    conf = {"glance-api": ("glance-api.conf", "/etc/glance/glance-api.conf")}[COPY_ONCE]
    env = podman("inspect", "--format", "{{json .Config.Env}}", container).stdout
    assert "KOLLA_CONFIG_STRATEGY=COPY_ONCE" in env
    before = podman("exec", "--user", "root", container, "sha256sum", conf[1]).stdout.split()[0]
    source = os.path.join(_path("deploy_config_dir"), COPY_ONCE, conf[0])
    with open(source, encoding="utf-8") as handle:
        original = handle.read()
    try:
        with open(source, "a", encoding="utf-8") as handle:
            handle.write("\n# changed after the first start\n")
        podman("restart", "--time", "10", container)
        assert wait_healthy(COPY_ONCE), podman("logs", "--tail", "40", container).stderr
        after = podman("exec", "--user", "root", container, "sha256sum", conf[1]).stdout.split()[0]
        assert after == before
    finally:
        with open(source, "w", encoding="utf-8") as handle:
            handle.write(original)


def test_timings_recorded():
    with open(_path("deploy_timings_file"), encoding="utf-8") as handle:
        timings = json.load(handle)
    assert sorted(timings) == sorted(SERVICES)
    for name in SERVICES:
        print("deploy: %-15s podman run to healthy %6.1f s" % (name, timings[name]))


def test_every_container_stops_within_10s_of_sigterm():
    """Last: podman stop sends the image's stop signal (SIGTERM) and SIGKILL only after 10 s."""
    results = {}
    for name in reversed(SERVICES):
        signal = podman("inspect", "--format", "{{.Config.StopSignal}}", PREFIX + name).stdout.strip()
        started = time.monotonic()
        podman("stop", "--time", "10", PREFIX + name)
        elapsed = time.monotonic() - started
        code = int(podman("inspect", "--format", "{{.State.ExitCode}}", PREFIX + name).stdout.strip())
        results[name] = (signal, elapsed, code)
        print("deploy: %-15s stop (%s) %5.1f s, exit code %s" % (name, signal, elapsed, code))
    # 0: the service exited by itself; 143: ended by the SIGTERM it did not handle; 142: ended by
    # oslo.service's own graceful_shutdown_timeout alarm (5 s in nova.conf); 137 would be podman's
    # SIGKILL after the 10 s.
    unclean = {name: r for name, r in results.items() if r[1] >= 10 or r[2] not in (0, 142, 143)}
    assert not unclean, unclean
    assert all(result[0] in ("SIGTERM", "15") for result in results.values()), results


@pytest.mark.parametrize("name", [item["name"] for item in V["deploy_openstack"]])
def test_image_healthcheck_fails_when_the_service_does_not_answer(name):
    """After the stop: the image's own healthcheck, with the service's configuration in place but
    nothing listening or connected, must fail."""
    image = "%s/%s:%s" % (NAMESPACE, [item["image"] for item in V["deploy_openstack"] if item["name"] == name][0],
                          V["deploy_tag"])
    test = json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", image).stdout)
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, test
    check = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    proc = podman("run", "--rm", "--network", "host", "--user", "root", "--env", "KOLLA_CONFIG_STRATEGY=COPY_ALWAYS",
                  "--volume", "%s/%s:/var/lib/kolla/config_files:ro" % (_path("deploy_config_dir"), name),
                  "--entrypoint", "/bin/bash", image, "-c", 'kolla_set_configs >/dev/null 2>&1 || exit 99; exec "$@"', "check",
                  *check, check=False)
    # 99: the configuration was not copied; 125-127: podman or the shell could not run the check
    assert proc.returncode not in (0, 99, 125, 126, 127), (name, proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.parametrize("name", SERVICES)
def test_image_holds_no_per_deployment_identity(name):
    """No machine-id, fernet or credential key, or Erlang cookie is made at build time."""
    image = "%s/%s:%s" % (NAMESPACE, [item["image"] for item in V["deploy_infra"] + V["deploy_openstack"]
                                      if item["name"] == name][0], V["deploy_tag"])
    paths = ["/etc/machine-id", "/var/lib/dbus/machine-id", "/var/lib/rabbitmq/.erlang.cookie"]
    proc = podman("run", "--rm", "--user", "root", "--entrypoint", "/bin/sh", image, "-c",
                  'for p in "$@" /etc/keystone/fernet-keys/* /etc/keystone/credential-keys/*; do '
                  '[ -s "$p" ] && echo "$p"; done; exit 0', "check", *paths)
    assert proc.stdout.split() == [], (name, proc.stdout)
