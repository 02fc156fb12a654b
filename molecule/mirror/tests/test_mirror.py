# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verifier of the molecule "mirror" scenario: the apt-cacher-ng that converge.yml set up on this machine.

Runs through testinfra's local backend (the scenario's host has ansible_connection local). Every
request names the test port explicitly and ignores proxy settings of the environment.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request

import yaml

with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vars", "main.yml"),
          encoding="utf-8") as _handle:
    V = yaml.safe_load(_handle)

ADDRESS = V["mirror_bind_address"]
PORT = V["mirror_port"]
PROXY = "http://%s:%s" % (ADDRESS, PORT)
CONFIG = os.path.join(V["mirror_config_dir"], "acng.conf")
TRANSFER_LOG = os.path.join(V["mirror_log_dir"], "apt-cacher.log")
CACHED = V["molecule_mirror_package_cached"]


def _no_proxy_status(url):
    """HTTP status of a GET straight to url (no proxy from the environment)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:  # nosec B310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def _supervisor_pid(host):
    return int(host.file(V["mirror_pid_file"]).content_string.strip())


def _our_processes(host):
    return [p for p in host.process.filter(comm="apt-cacher-ng") if V["mirror_config_dir"] in p.args]


def _transfers(host, kind):
    """Lines of the transfer log (time|kind|bytes|client|path) of one kind (I: from upstream, O: to a client)
    for the test package."""
    log = host.file(TRANSFER_LOG)
    if not log.exists:
        return []
    return [line for line in log.content_string.splitlines()
            if line.split("|")[1:2] == [kind] and line.endswith("|" + CACHED)]


def _wait_for_transfers(host, counts, timeout=15):
    """Wait until the log holds at least counts ({kind: n}) lines; return the lines by kind."""
    deadline = time.monotonic() + timeout
    while True:
        found = {kind: _transfers(host, kind) for kind in ("I", "O")}
        if all(len(found[kind]) >= n for kind, n in counts.items()) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _fetch(host, dest):
    out = host.run("curl -sS -f --noproxy '' -x %s -o %s -w '%%{http_code}' %s",
                   PROXY, dest, V["molecule_mirror_package_url"])
    assert out.rc == 0, out.stderr
    assert out.stdout == "200"
    return host.check_output("sha256sum %s", dest).split()[0]


def test_listens_on_the_test_port_only(host):
    assert host.socket("tcp://%s:%s" % (ADDRESS, PORT)).is_listening
    listening = host.check_output("ss -Hltnp")
    ours = [line for line in listening.splitlines() if ":%s " % PORT in line]
    assert len(ours) == 1 and "%s:%s" % (ADDRESS, PORT) in ours[0], listening
    assert '"apt-cacher-ng"' in ours[0]


def test_runs_as_its_user_under_the_supervisor(host):
    processes = _our_processes(host)
    assert len(processes) == 1, [p.args for p in processes]
    assert processes[0].user == "apt-cacher-ng"
    assert processes[0].args.split()[:3] == ["/usr/sbin/apt-cacher-ng", "-c", V["mirror_config_dir"]]
    supervisor = _supervisor_pid(host)
    assert processes[0].ppid == supervisor  # the role's supervisor, from the scenario's pid file
    assert "/usr/local/libexec/containergen/supervise" in host.process.get(pid=supervisor).args
    assert host.run("start-stop-daemon --status --pidfile %s", V["mirror_pid_file"]).rc == 0


def test_no_unix_socket_of_its_own(host):
    """The scenario's empty SocketPath: the test instance left the default Unix socket alone."""
    pid = _our_processes(host)[0].pid
    unix = host.check_output("ss -Hlxp")
    assert "pid=%d," % pid not in unix, unix


def test_report_page_answers():
    status, body = _no_proxy_status("%s/acng-report.html" % PROXY)
    assert status == 200
    assert "apt-cacher" in body.lower()


def test_configuration_file(host):
    config = host.file(CONFIG)
    assert config.is_file
    assert config.mode == 0o644 and config.user == "root" and config.group == "root"
    lines = config.content_string.splitlines()
    assert "BindAddress: %s" % ADDRESS in lines
    assert "Port: %s" % PORT in lines
    assert "CacheDir: %s" % V["mirror_cache_dir"] in lines
    assert "LogDir: %s" % V["mirror_log_dir"] in lines
    assert "VerboseLog: 1" in lines


def test_directories(host):
    for path in (V["mirror_cache_dir"], V["mirror_log_dir"]):
        directory = host.file(path)
        assert directory.is_directory and directory.user == "apt-cacher-ng" and directory.group == "apt-cacher-ng"
    assert host.file(V["mirror_config_dir"]).user == "root"


def test_second_fetch_is_served_from_the_cache(host, tmp_path):
    """Fetch a real package twice through the proxy: downloaded from upstream once (|I|), served twice (|O|)."""
    cached = host.file(os.path.join(V["mirror_cache_dir"], CACHED))
    assert not cached.exists, "not a fresh mirror: run verify after a fresh converge (molecule test)"
    assert not _transfers(host, "I") and not _transfers(host, "O")

    first = _fetch(host, str(tmp_path / "first.deb"))
    after_first = _wait_for_transfers(host, {"I": 1, "O": 1})
    assert len(after_first["I"]) == 1, after_first  # downloaded from upstream
    assert len(after_first["O"]) == 1, after_first  # and sent to the client
    package = host.check_output("dpkg-deb -f %s Package", str(tmp_path / "first.deb"))
    assert package == V["molecule_mirror_package_name"]

    # the file is in the cache, the same bytes as the client got
    assert cached.is_file and cached.user == "apt-cacher-ng"
    assert host.check_output("sha256sum %s", cached.path).split()[0] == first
    assert int(after_first["I"][0].split("|")[2]) >= cached.size > 0  # logged bytes include the headers

    second = _fetch(host, str(tmp_path / "second.deb"))
    after_second = _wait_for_transfers(host, {"O": 2})
    assert len(after_second["O"]) == 2, after_second  # sent to the client again
    time.sleep(1)
    assert _transfers(host, "I") == after_first["I"]  # but not downloaded again: a cache hit
    assert second == first
    client = [line.split("|")[3] for line in after_second["O"]]
    assert client == ["127.0.0.1", "127.0.0.1"]


def test_transfer_log_format(host):
    """Every line of the transfer log is time|kind|bytes|client|path."""
    lines = [line for line in host.file(TRANSFER_LOG).content_string.splitlines() if line]
    assert lines
    for line in lines:
        assert re.match(r"^\d+\|[IO]\|\d+\|[^|]+\|\S+$", line), line
