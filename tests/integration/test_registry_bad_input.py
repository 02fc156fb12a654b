# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The registry role refuses bad settings before it changes anything.

Each case runs the collection's playbook containergen.images.registry with its variables in a 0600
file, and expects a non-zero exit, a message naming the setting, and no configuration directory.
Every path and port is test-specific (never the production defaults, where a registry may run),
and client configuration is off, so even a role that wrongly went ahead would touch nothing shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORT = 5463  # and 5464 for the debug server: not 5000 (default), 5110 (test_publish), 5443 (molecule)

pytestmark = pytest.mark.integration


def _env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", os.path.join(REPO, ".cache", "collections"))
    env.setdefault("ANSIBLE_CONFIG", os.path.join(REPO, "ansible.cfg"))
    env["NO_COLOR"] = "1"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


@pytest.fixture
def registry_run(tmp_path):
    """Returns run(overrides) -> (rc, output, paths); stops a registry a broken role might have started."""
    root = tmp_path / ("reg-%s" % uuid.uuid4().hex[:8])
    paths = {
        "registry_config_dir": str(root / "etc"),
        "registry_data_dir": str(root / "data"),
        "registry_log_file": str(root / "log" / "registry.log"),
        "registry_pid_file": str(root / "run" / "registry.pid"),
        "registry_authfile": str(root / "auth" / "auth.json"),
    }

    def run(overrides):
        variables = {
            "registry_port": PORT,
            "registry_configure_clients": False,
            "registry_bcrypt_cost": 4,
            "registry_users": [{"name": "tester", "password": "throwaway-test-only-%s" % uuid.uuid4().hex}],
        }
        variables.update(paths)
        variables.update(overrides)
        vars_file = tmp_path / "vars.json"
        fd = os.open(str(vars_file), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(variables, handle)
        assert os.stat(str(vars_file)).st_mode & 0o777 == 0o600
        proc = subprocess.run(["ansible-playbook", "containergen.images.registry", "-e", "@" + str(vars_file)],
                              cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300, check=False)
        return proc.returncode, proc.stdout + proc.stderr, paths

    yield run
    if os.path.exists(paths["registry_pid_file"]):
        subprocess.run(["start-stop-daemon", "--stop", "--quiet", "--pidfile", paths["registry_pid_file"],
                        "--retry", "TERM/10/KILL/5"], check=False)


def _assert_refused(rc, output, paths, *names):
    assert rc != 0, output[-3000:]
    for name in names:
        assert name in output, "%r not in the output:\n%s" % (name, output[-3000:])
    assert not os.path.exists(paths["registry_config_dir"]), output[-3000:]
    assert not os.path.exists(paths["registry_data_dir"])
    assert not os.path.exists(paths["registry_authfile"])


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def test_empty_password_is_refused(registry_run):
    rc, output, paths = registry_run({"registry_users": [{"name": "tester", "password": ""}]})
    _assert_refused(rc, output, paths, "registry_users", "non-empty password")


def test_unknown_storage_driver_is_refused(registry_run):
    rc, output, paths = registry_run({"registry_storage_driver": "ftp"})
    _assert_refused(rc, output, paths, "registry_storage_driver", "ftp")


def test_certificate_and_key_that_do_not_match_are_refused(registry_run, tmp_path):
    tls = tmp_path / "operator-tls"
    tls.mkdir()
    cert_key, other_key, cert = str(tls / "cert.key"), str(tls / "other.key"), str(tls / "cert.crt")
    for key in (cert_key, other_key):
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        os.chmod(key, 0o600)
    _openssl("req", "-x509", "-new", "-key", cert_key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    rc, output, paths = registry_run({"registry_tls_cert": cert, "registry_tls_key": other_key,
                                      "registry_tls_ca": cert})
    # The role's message names the files given in registry_tls_key and registry_tls_cert.
    _assert_refused(rc, output, paths, "registry_tls_key (%s) does not match registry_tls_cert (%s)" % (other_key, cert))


@pytest.mark.parametrize("address", ["0.0.0.0:%d" % (PORT + 1), "192.0.2.1:5001", ":5001", "127.0.0.1"])
def test_debug_listener_off_loopback_is_refused(registry_run, address):
    rc, output, paths = registry_run({"registry_debug_address": address})
    _assert_refused(rc, output, paths, "registry_debug_address %s: must be a loopback HOST:PORT" % address)


def test_tls_off_without_the_acknowledgement_is_refused(registry_run):
    rc, output, paths = registry_run({"registry_tls": False})
    _assert_refused(rc, output, paths, "registry_tls", "registry_tls_disable_i_understand_the_risk")
