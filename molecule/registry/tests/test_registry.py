# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifier of the molecule "registry" scenario: the registry that converge.yml set up on this machine.

Runs through testinfra's local backend (the scenario's host has ansible_connection local). The
password is read from the 0600 file prepare.yml wrote; it is never printed, never put on a command
line and never part of an assert expression (pytest would show it on failure).
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.request

import pytest
import yaml

with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vars", "main.yml"),
          encoding="utf-8") as _handle:
    V = yaml.safe_load(_handle)

PORT = V["registry_port"]
ENDPOINT = "%s:%s" % (V["registry_hostname"], PORT)
URL = "https://%s/v2/" % ENDPOINT
TLS_DIR = os.path.join(V["registry_config_dir"], "tls")
CA = os.path.join(TLS_DIR, "ca.crt")
AUTHFILE = V["registry_authfile"]
USER = V["molecule_registry_user"]
COST = "%02d" % V["registry_bcrypt_cost"]


def _password():
    with open(V["molecule_registry_password_file"], encoding="utf-8") as handle:
        return handle.read().strip()


def _status(url, cafile=None, authenticated=False):
    """HTTP status of a GET (TLS verified against cafile when given); the password stays in here."""
    request = urllib.request.Request(url)
    if authenticated:
        token = base64.b64encode(("%s:%s" % (USER, _password())).encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:  # nosec B310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _contains_password(text):
    return _password() in text


def _our_registry_processes(host):
    return [p for p in host.process.filter(comm="docker-registry")
            if os.path.join(V["registry_config_dir"], "config.yml") in p.args]


def test_password_file_is_private(host):
    secret = host.file(V["molecule_registry_password_file"])
    assert secret.mode == 0o600 and secret.user == "root"
    assert host.file(os.path.dirname(V["molecule_registry_password_file"])).mode == 0o700
    assert len(_password()) >= 16


def test_registry_listens_on_its_tls_port_only(host):
    """No debug listener: distribution's would serve /debug/pprof and /debug/vars without authentication."""
    assert host.socket("tcp://127.0.0.1:%s" % PORT).is_listening
    assert not host.socket("tcp://127.0.0.1:%s" % V["molecule_registry_former_debug_port"]).is_listening
    pids = [p.pid for p in _our_registry_processes(host)]  # the pid file names the supervisor
    assert len(pids) == 1
    listening = [line.split()[3] for line in host.check_output("ss -H -ltnp").splitlines()
                 if "pid=%d," % pids[0] in line]
    assert [address.rsplit(":", 1)[1] for address in listening] == [str(PORT)]
    config = host.file(os.path.join(V["registry_config_dir"], "config.yml")).content_string
    assert "debug:" not in config


def test_registry_runs_supervised_as_its_own_user(host):
    processes = _our_registry_processes(host)
    assert len(processes) == 1
    assert processes[0].user == "docker-registry"
    pid = int(host.file(V["registry_pid_file"]).content_string.strip())
    assert processes[0].ppid == pid  # the role's supervisor, from the scenario's pid file


def test_tls_verifies_against_the_generated_ca(host):
    out = host.run("curl -sS -o /dev/null -w '%%{http_code}' --cacert %s %s", CA, URL)
    assert out.rc == 0, out.stderr
    assert out.stdout == "401"  # TLS handshake verified; the registry wants credentials
    # the certificate's SAN also covers 127.0.0.1
    out = host.run("curl -sS -o /dev/null -w '%%{http_code}' --cacert %s https://127.0.0.1:%s/v2/", CA, str(PORT))
    assert out.rc == 0 and out.stdout == "401", out.stderr


def test_tls_fails_without_the_ca(host):
    out = host.run("curl -sS -o /dev/null %s", URL)
    assert out.rc == 60, out.stderr  # curl: peer certificate cannot be authenticated
    with pytest.raises(urllib.error.URLError) as info:
        _status(URL)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)


def test_certificates(host):
    key = host.file(os.path.join(TLS_DIR, "server.key"))
    assert key.mode == 0o600 and key.user == "docker-registry"
    assert host.file(os.path.join(TLS_DIR, "ca.key")).mode == 0o600
    out = host.run("openssl verify -CAfile %s %s", CA, os.path.join(TLS_DIR, "server.crt"))
    assert out.rc == 0, out.stdout + out.stderr
    text = host.check_output("openssl x509 -noout -text -in %s", os.path.join(TLS_DIR, "server.crt"))
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text


def test_clients_trust_the_ca_through_certs_d(host):
    ca = host.file(CA).content_string
    for certs_d in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
        trusted = host.file("%s/%s/ca.crt" % (certs_d, ENDPOINT))
        assert trusted.mode == 0o644
        assert trusted.content_string == ca


def test_anonymous_request_is_refused(host):
    assert _status(URL, cafile=CA) == 401
    headers = host.check_output("curl -sS -D - -o /dev/null --cacert %s %s", CA, URL)
    assert 'www-authenticate: basic realm="containergen-registry"' in headers.lower()


def test_wrong_password_is_refused():
    request = urllib.request.Request(URL)
    request.add_header("Authorization", "Basic " + base64.b64encode(b"molecule:not-the-password").decode())
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=CA), timeout=10)  # nosec B310
    assert info.value.code == 401


def test_authenticated_request_is_accepted():
    assert _status(URL, cafile=CA, authenticated=True) == 200


def test_health_is_checked_on_the_tls_listener_and_debug_paths_are_not_served():
    """Healthy: authenticated /v2/ answers 200 (distribution answers 503 on every path while its storage
    check fails). The debug handlers are not on the TLS listener, with or without credentials."""
    assert _status(URL, cafile=CA, authenticated=True) == 200
    for path in ("/debug/pprof/", "/debug/pprof/cmdline", "/debug/vars", "/debug/health"):
        url = URL.replace("/v2/", path)
        assert _status(url, cafile=CA, authenticated=True) == 404, path


def test_htpasswd_holds_bcrypt_entries_only(host):
    htpasswd = host.file(os.path.join(V["registry_config_dir"], "htpasswd"))
    assert htpasswd.mode == 0o640 and htpasswd.group == "docker-registry"
    lines = [line for line in htpasswd.content_string.splitlines() if line.strip()]
    assert [line.split(":", 1)[0] for line in lines] == [USER]
    for line in lines:
        digest = line.split(":", 1)[1]
        assert digest.startswith("$2")
        assert digest.split("$")[2] == COST


def test_authfile_holds_the_test_user(host):
    authfile = host.file(AUTHFILE)
    assert authfile.mode == 0o600 and authfile.user == "root"
    auths = json.loads(authfile.content_string)["auths"]
    assert list(auths) == [ENDPOINT]
    user, colon, password = base64.b64decode(auths[ENDPOINT]["auth"]).decode().partition(":")
    assert user == USER and colon == ":"
    matches = password == _password()
    assert matches, "the authfile does not hold the test user's password"


def test_skopeo_push_and_pull_back(host):
    """Push through the role's authfile and the certs.d trust (no TLS switch off), then read it back."""
    digest_file = os.path.join(V["molecule_registry_root"], "pushed.digest")
    out = host.run("skopeo copy --quiet --authfile %s --digestfile %s containers-storage:%s docker://%s",
                   AUTHFILE, digest_file, V["molecule_registry_image"], V["molecule_registry_push_ref"])
    assert out.rc == 0, out.stderr
    pushed = host.file(digest_file).content_string.strip()
    assert pushed.startswith("sha256:")

    inspected = json.loads(host.check_output("skopeo inspect --authfile %s docker://%s",
                                             AUTHFILE, V["molecule_registry_push_ref"]))
    assert inspected["Digest"] == pushed

    out = host.run("podman pull --quiet --authfile %s %s", AUTHFILE, V["molecule_registry_push_ref"])
    assert out.rc == 0, out.stderr
    pulled = json.loads(host.check_output("podman image inspect %s", V["molecule_registry_push_ref"]))[0]
    original = json.loads(host.check_output("podman image inspect %s", V["molecule_registry_image"]))[0]
    # the same image came back: same config digest (image ID), same layers, and the pushed manifest
    assert pulled["Id"] == original["Id"]
    assert pulled["RootFS"]["Layers"] == original["RootFS"]["Layers"]
    assert pulled["Config"]["Cmd"] == ["/hello.txt"]
    repository = V["molecule_registry_push_ref"].rsplit(":", 1)[0]
    assert "%s@%s" % (repository, pushed) in pulled["RepoDigests"]


def test_anonymous_pull_is_refused(host):
    out = host.run("skopeo inspect --no-creds docker://%s", V["molecule_registry_push_ref"])
    assert out.rc != 0
    assert "unauthorized" in out.stderr.lower() or "authentication required" in out.stderr.lower(), out.stderr


def test_password_is_not_in_config_processes_or_log(host):
    config = host.file(os.path.join(V["registry_config_dir"], "config.yml")).content_string
    assert "htpasswd" in config  # the right file
    in_config = _contains_password(config)
    assert not in_config, "the password appears in the registry configuration"

    processes = host.check_output("ps -eww -o args")
    assert "docker-registry serve" in processes
    in_ps = _contains_password(processes)
    assert not in_ps, "the password appears in the process list"

    log = host.file(V["registry_log_file"]).content_string
    assert "/v2/" in log  # the access log saw the requests of the tests above
    in_log = _contains_password(log)
    assert not in_log, "the password appears in the registry log"
