# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIGINT/SIGTERM to the command: forwarded to ansible-playbook (a stand-in script here, started
through ansible-runner), waited for until the build process it started has finished cleaning up;
one line, exit 130/143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from containergen_cli import core, main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# ansible-playbook's shape: the module runs in another session (ansible's workers call setsid), so
# only ansible-playbook's forwarding reaches it; ansible-playbook exits at once, the module takes a
# second to clean up (as image_build removes its working containers) and then writes a marker.
PLAYBOOK = """
import os, signal, subprocess, sys, time
module = subprocess.Popen([sys.executable, "-c", '''
import os, signal, sys, time
got = []
signal.signal(signal.SIGINT, lambda n, f: got.append(n))
signal.signal(signal.SIGTERM, lambda n, f: got.append(n))
open(sys.argv[1] + ".ready", "w").close()
while not got:
    time.sleep(0.05)
time.sleep(1.0)
open(sys.argv[1], "w").write(str(got[0]))
''', sys.argv[1]], start_new_session=True)
def forward(signum, frame):
    os.kill(module.pid, signum)
    sys.exit(99)
signal.signal(signal.SIGINT, forward)
signal.signal(signal.SIGTERM, forward)
print("playbook output", flush=True)
module.wait()
"""

CLI = """
import json, os, sys, time
sys.path.insert(0, %(repo)r)
from containergen_cli import core
result = core._run_interruptible([sys.executable, %(playbook)r, %(marker)r], dict(os.environ))
print(json.dumps({"result": list(result), "module_done": os.path.exists(%(marker)r)}))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_is_forwarded_and_the_build_waited_for(tmp_path, signum):
    playbook = tmp_path / "ansible-playbook"
    playbook.write_text(PLAYBOOK)
    marker = str(tmp_path / "module-done")
    cli = subprocess.Popen([sys.executable, "-c", CLI % {"repo": REPO, "playbook": str(playbook), "marker": marker}],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not os.path.exists(marker + ".ready") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(marker + ".ready")
    start = time.monotonic()
    cli.send_signal(signum)
    out, err = cli.communicate(timeout=30)
    elapsed = time.monotonic() - start
    assert cli.returncode == 0, err
    report = json.loads(out)
    returncode, stdout, dummy, received = report["result"]
    assert received == signum and returncode == 99 and stdout == "playbook output\n"
    # the module got the signal once, through ansible-playbook, and had finished when the call returned
    assert report["module_done"] and open(marker, encoding="utf-8").read() == str(int(signum))
    assert 0.9 < elapsed < 10


def test_without_a_signal_nothing_is_waited_for(tmp_path):
    result = core._run_interruptible([sys.executable, "-c", "import sys; print('ok'); sys.exit(3)"], dict(os.environ))
    assert result == (3, "ok\n", "", None)


def test_handlers_restored_after_the_run():
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    core._run_interruptible([sys.executable, "-c", "pass"], dict(os.environ))
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.parametrize("exc, code", [(core.Interrupted(signal.SIGINT), 130), (core.Interrupted(signal.SIGTERM), 143),
                                       (KeyboardInterrupt(), 130)])
def test_one_line_and_the_signal_exit_status(monkeypatch, capsys, exc, code):
    def interrupted(args, out, err):
        raise exc

    monkeypatch.setitem(main.COMMANDS, "build", interrupted)
    assert main.main(["build"]) == code
    captured = capsys.readouterr()
    assert captured.err == "containergen build: interrupted\n"
    assert captured.out == ""
    assert main.main(["build", "--json"]) == code
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"command": "build", "error": "interrupted", "exit_code": code}


def test_killed_playbook_is_one_line(monkeypatch):
    monkeypatch.setattr(core, "_run_interruptible", lambda argv, env, on_event=None, tick=None: (-9, "", "", None))
    with pytest.raises(core.CLIError) as info:
        core.run_playbook("build", {})
    assert str(info.value) == "ansible-playbook was killed by SIGKILL; the build stopped"
    assert not isinstance(info.value, core.Interrupted)
    # ansible-runner gives no exit status for a process a signal killed
    monkeypatch.setattr(core, "_run_interruptible", lambda argv, env, on_event=None, tick=None: (None, "", "", None))
    with pytest.raises(core.CLIError) as info:
        core.run_playbook("build", {})
    assert str(info.value) == "ansible-playbook was killed by a signal; the build stopped"


def test_playbook_dies_with_the_command(tmp_path):
    """PR_SET_PDEATHSIG: ansible-playbook gets SIGTERM when the command is killed outright."""
    pidfile = tmp_path / "pid"
    cli = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, sys
        sys.path.insert(0, %r)
        from containergen_cli import core
        core._run_interruptible([sys.executable, "-c",
            "import os, time; open(%r, 'w').write(str(os.getpid())); time.sleep(60)"], dict(os.environ))
    """ % (REPO, str(pidfile)))])
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    cli.kill()
    cli.wait()
    deadline = time.monotonic() + 10
    while core._start_time(child) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert core._start_time(child) is None
