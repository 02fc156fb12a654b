# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds through a real apt-cacher-ng set up by the mirror role: packages come through the cache,
and nothing of the proxy setting stays in the image (config or files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RUN_ID = uuid.uuid4().hex[:8]
PORT = 3152
NAMESPACE = "localhost/cgmirror-%s" % RUN_ID

pytestmark = pytest.mark.integration


def playbook(name, variables, work):
    os.makedirs(work, exist_ok=True)
    vars_file = os.path.join(work, "vars-%s.json" % uuid.uuid4().hex[:6])
    with open(vars_file, "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    proc = subprocess.run(["ansible-playbook", "containergen.images." + name, "-e", "@" + vars_file], cwd=REPO,
                          capture_output=True, text=True, timeout=900, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("mirror"))
    state = "/var/tmp/cgtest-mirror-%s" % RUN_ID
    variables = {"mirror_port": PORT, "mirror_config_dir": state + "/etc", "mirror_cache_dir": state + "/cache",
                 "mirror_log_dir": state + "/log", "mirror_pid_file": state + "/acng.pid"}
    rc, output = playbook("mirror", variables, work)
    try:
        assert rc == 0, output[-3000:]
        yield {"vars": variables, "work": work, "log": state + "/log/apt-cacher.log"}
    finally:  # also when the setup failed half way
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", variables["mirror_pid_file"], "--retry",
                        "TERM/10/KILL/5", "--oknodo"], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
    out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                         text=True, check=False).stdout.split()
    doomed = [ref for ref in out if ref.startswith(NAMESPACE + "/")]
    if doomed:
        subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)


def transfers(log, marker, needle):
    with open(log, encoding="utf-8") as handle:
        return [line for line in handle if "|%s|" % marker in line and needle in line]


def build(mirror, run_label, tmp_path):
    definitions = str(tmp_path / "defs")
    shutil.copytree(os.path.join(FIXTURES, "chain"), definitions)
    return playbook("build", {
        "image_build_definitions_path": definitions, "image_build_namespace": NAMESPACE,
        "image_build_work_dir": str(tmp_path / "work"), "image_build_include": ["leaf-a"],
        "image_build_labels": {"mirror.run": run_label},
        "image_build_build_env": {"http_proxy": "http://127.0.0.1:%d" % PORT},
    }, str(tmp_path))


def test_mirror_role_is_idempotent(mirror):
    rc, output = playbook("mirror", mirror["vars"], mirror["work"])
    assert rc == 0, output[-2000:]
    assert "changed=0" in output


def test_build_downloads_through_the_mirror_then_hits_its_cache(mirror, tmp_path):
    rc, output = build(mirror, "first-%s" % RUN_ID, tmp_path / "one")
    assert rc == 0, output[-3000:]
    downloaded = transfers(mirror["log"], "I", "/dumb-init_")
    assert len(downloaded) == 1, "dumb-init was not fetched through the mirror"
    served = len(transfers(mirror["log"], "O", "/dumb-init_"))
    rc, output = build(mirror, "second-%s" % RUN_ID, tmp_path / "two")  # other label: a real rebuild
    assert rc == 0, output[-3000:]
    assert len(transfers(mirror["log"], "I", "/dumb-init_")) == 1  # no new download from upstream
    assert len(transfers(mirror["log"], "O", "/dumb-init_")) == served + 1  # served from the cache


def test_no_proxy_setting_stays_in_the_image(mirror, tmp_path):
    rc, output = build(mirror, "third-%s" % RUN_ID, tmp_path / "three")
    assert rc == 0, output[-3000:]
    for name in ("base", "mid", "leaf-a"):
        ref = "%s/%s:latest" % (NAMESPACE, name)
        config = json.loads(subprocess.run(["podman", "image", "inspect", ref], capture_output=True, text=True,
                                           check=True).stdout)[0]["Config"]
        assert not [e for e in config.get("Env") or [] if "proxy" in e.lower()], config["Env"]
        found = subprocess.run(
            ["podman", "run", "--rm", "--network", "none", "--entrypoint", "sh", ref, "-c",
             "grep -rIl -e ':%d' -e 'Acquire::http::Proxy' -e 'http_proxy' /etc /root /var/lib/apt 2>/dev/null; true"
             % PORT], capture_output=True, text=True, timeout=120, check=False)
        assert found.stdout.strip() == "", "%s keeps a proxy setting in %s" % (name, found.stdout)


PROXIED_PORT = 3154
# apt-cacher-ng 3.7 fails to reach a proxy on a port above 32767 (503 Connection refused): a fixed low port.
UPSTREAM_PROXY_PORT = 3155
PACKAGE = "http://deb.debian.org/debian/pool/main/h/hostname/hostname_3.23+nmu1_amd64.deb"


@pytest.fixture(scope="module")
def proxied_mirror(tmp_path_factory):
    """A second mirror whose upstream goes through bench/slow_proxy.py (unthrottled, in this process)."""
    sys.path.insert(0, os.path.join(REPO, "bench"))
    import slow_proxy  # pylint: disable=import-outside-toplevel,import-error

    upstream = slow_proxy.SlowProxy(("127.0.0.1", UPSTREAM_PROXY_PORT))
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    work = str(tmp_path_factory.mktemp("proxied"))
    state = "/var/tmp/cgtest-mirror-proxied-%s" % RUN_ID
    variables = {"mirror_port": PROXIED_PORT, "mirror_config_dir": state + "/etc",
                 "mirror_cache_dir": state + "/cache", "mirror_log_dir": state + "/log",
                 "mirror_pid_file": state + "/acng.pid", "mirror_service_manager": "supervised",
                 "mirror_upstream_proxy": "http://127.0.0.1:%d" % upstream.server_address[1]}
    try:
        rc, output = playbook("mirror", variables, work)
        assert rc == 0, output[-3000:]
        yield {"vars": variables, "work": work, "upstream": upstream, "config": state + "/etc/acng.conf"}
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", variables["mirror_pid_file"], "--retry",
                        "TERM/10/KILL/5", "--oknodo"], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
        upstream.shutdown()
        upstream.server_close()


def fetch_through(port, url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": "http://127.0.0.1:%d" % port}))
    with opener.open(url, timeout=60) as response:
        return response.read()


def test_upstream_proxy_is_used_and_the_role_stays_idempotent(proxied_mirror):
    with open(proxied_mirror["config"], encoding="utf-8") as handle:
        assert "Proxy: %s\n" % proxied_mirror["vars"]["mirror_upstream_proxy"] in handle.read()
    before = proxied_mirror["upstream"].stats.snapshot()
    first = fetch_through(PROXIED_PORT, PACKAGE)
    after_first = proxied_mirror["upstream"].stats.snapshot()
    assert after_first["requests"] > before["requests"]  # the download went through the upstream proxy
    assert after_first["body_bytes"] - before["body_bytes"] >= len(first) > 0
    assert fetch_through(PROXIED_PORT, PACKAGE) == first
    time.sleep(1)
    assert proxied_mirror["upstream"].stats.snapshot()["body_bytes"] == after_first["body_bytes"]  # a cache hit
    rc, output = playbook("mirror", proxied_mirror["vars"], proxied_mirror["work"])
    assert rc == 0, output[-2000:]
    assert "changed=0" in output
