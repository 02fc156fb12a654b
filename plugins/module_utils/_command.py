# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The one wrapper through which every buildah, podman, skopeo and mmdebstrap call goes.

argv lists only (never a shell string); a timeout kills the whole process group; output can go
to a per-image log file. Secrets travel on stdin (``data``), never on argv.

A build can be interrupted (a signal, or the death of the ansible-playbook that started it): a
``Cancel`` given to the Runner stops it from starting commands and kills the process groups of the
commands it is running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time


class CommandError(Exception):
    def __init__(self, argv, rc, output):
        self.argv, self.rc, self.output = list(argv), rc, output
        tail = (output or "").strip().splitlines()[-5:]
        super().__init__("%s exited with %s%s" % (argv[0] + " " + (argv[1] if len(argv) > 1 else ""), rc,
                                                  (": " + " | ".join(tail)) if tail else ""))


class CommandTimeout(CommandError):
    def __init__(self, argv, seconds, output=""):
        CommandError.__init__(self, argv, None, output)
        self.args = ("%s %s timed out after %.0f s (process group killed)" % (argv[0], argv[1] if len(argv) > 1 else "",
                                                                              seconds),)


class Cancelled(CommandError):
    """The command was not started, or was killed, because the build was interrupted."""

    def __init__(self, argv, reason):
        CommandError.__init__(self, argv, None, "")
        self.args = (reason,)


class Cancel(object):
    """A build's stop switch, shared by its Runners.

    ``request`` only sets a flag, so a signal handler may call it; ``terminate`` (called by the
    scheduler and the watcher thread) kills the process groups of the commands still running:
    SIGTERM first, SIGKILL for those still there after ``grace`` seconds.
    """

    def __init__(self, grace: float = 5.0) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._groups: dict[int, float | None] = {}  # process group -> when SIGTERM was sent
        self.grace = grace
        self.reason = ""
        self.signum: int | None = None

    def request(self, reason: str = "interrupted", signum: int | None = None) -> None:
        if not self._event.is_set():
            self.reason, self.signum = reason, signum
        self._event.set()

    def set(self, reason: str = "interrupted", signum: int | None = None) -> None:
        self.request(reason, signum)
        self.terminate()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def register(self, pgid: int) -> None:
        """A command started: kill it at once when the build is already interrupted (closes the race
        between a Runner's check and the start of its command)."""
        with self._lock:
            self._groups[pgid] = None
        if self.is_set():
            self.terminate()

    def unregister(self, pgid: int) -> None:
        with self._lock:
            self._groups.pop(pgid, None)

    def running(self) -> int:
        with self._lock:
            return len(self._groups)

    def terminate(self) -> None:
        if not self.is_set():
            return
        now = time.monotonic()
        with self._lock:
            for pgid, sent in list(self._groups.items()):
                if sent is None:
                    self._groups[pgid] = now
                    _killpg(pgid, signal.SIGTERM)
                elif now - sent >= self.grace:
                    _killpg(pgid, signal.SIGKILL)


def _killpg(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def interruptible(cancel: Cancel, watch_parents: bool = False, poll: float = 0.5):
    """While the body runs, SIGINT, SIGTERM and SIGHUP (and, with watch_parents, the death of the
    process that started this one: see watched_ancestors) interrupt cancel instead of killing
    the process or raising KeyboardInterrupt in one thread while the others go on building.

    A watcher thread kills the commands still running once cancel is set (escalating to SIGKILL).
    Signal handlers can only be installed from the main thread; elsewhere only the watcher runs.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            cancel.request("interrupted by %s" % signal.Signals(signum).name, signum)
        for signum in INTERRUPT_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    stop = threading.Event()
    watched = watched_ancestors() if watch_parents else []
    watcher = threading.Thread(target=_watch, args=(cancel, watched, stop, poll), name="interrupt-watcher",
                               daemon=True)
    watcher.start()
    try:
        yield cancel
    finally:
        stop.set()
        watcher.join()
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def _watch(cancel: Cancel, watched: list, stop: threading.Event, poll: float) -> None:
    parent = os.getppid()
    while not stop.wait(poll):
        if not cancel.is_set() and watched:
            gone = [pid for pid, started in watched if _process_start(pid) != started]
            if gone or os.getppid() != parent:
                cancel.request("interrupted: the process that started the build (pid %d) is gone"
                               % (gone[0] if gone else parent))
        cancel.terminate()


def _process_start(pid: int) -> str | None:
    """The start time of a live process (None when it is gone or a zombie): a pid can be reused."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X", "x") else fields[19]


def _parent_of(pid: int) -> int:
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8", errors="replace") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _is_ansible(pid: int) -> bool:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            words = handle.read().split(b"\0")[:2]
    except OSError:
        return False
    return any(os.path.basename(word).startswith(b"ansible") for word in words)


def watched_ancestors(pid: int | None = None) -> list[tuple[int, str]]:
    """The processes whose death interrupts a build: [(pid, start time)].

    A module runs under /bin/sh under an ansible worker (a fork of ansible-playbook, in its own
    session) under ansible-playbook; when only ansible-playbook is killed, the worker and the shell
    live on and nobody reads the result: so every ancestor up to the topmost of the first run of
    ansible processes is watched. Outside ansible, only the parent is."""
    chain = []
    current = _parent_of(pid or os.getpid())
    while current > 1 and len(chain) < 32:
        started = _process_start(current)
        if started is None:
            break
        chain.append((current, started, _is_ansible(current)))
        current = _parent_of(current)
    first = next((i for i, entry in enumerate(chain) if entry[2]), None)
    if first is None:
        return [(p, s) for p, s, dummy in chain[:1]]
    last = first
    while last + 1 < len(chain) and chain[last + 1][2]:
        last += 1
    return [(p, s) for p, s, dummy in chain[:last + 1]]


def kill_leftover_groups(match, wait: float = 5.0) -> list[int]:
    """SIGKILL the process groups of processes whose argv (a list of str) match(argv) accepts, and
    wait up to wait seconds for them to go: what a killed build left running (no build runs while
    the caller holds the host build lock). Returns the process groups killed."""
    groups = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as handle:
                argv = [word.decode("utf-8", "replace") for word in handle.read().split(b"\0")[:-1]]
            if argv and match(argv):
                groups[os.getpgid(int(name))] = int(name)
        except (OSError, ValueError):
            continue
    for pgid in groups:
        _killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + wait
    while any(_process_start(pid) is not None for pid in groups.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return sorted(groups)


# The Cancel of the Runner calling run_command in this thread: run_command registers the process
# group it starts there (the seam's signature stays argv, timeout, env, data, log).
_CURRENT = threading.local()


def run_command(argv, timeout=None, env=None, data=None, log=None):
    """Run argv; return (rc, stdout, stderr). The seam unit tests replace.

    log: an open binary file; when given, stdout and stderr go there instead of being captured
    (stdout is still returned when the caller needs it: pass log=None then).
    """
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise TypeError("argv must be a list of strings, got %r" % (argv,))
    environ = dict(os.environ)
    environ.update(env or {})
    stdout = log if log is not None else subprocess.PIPE
    stderr = subprocess.STDOUT if log is not None else subprocess.PIPE
    proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, env=environ, start_new_session=True)
    cancel = getattr(_CURRENT, "cancel", None)
    if cancel is not None:
        cancel.register(proc.pid)
    try:
        out, err = proc.communicate(input=data.encode() if isinstance(data, str) else data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise CommandTimeout(argv, timeout)
    finally:
        if cancel is not None:
            cancel.unregister(proc.pid)
    return proc.returncode, (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")


class Runner(object):
    """Runs commands with a shared deadline and an optional log file; raises CommandError on failure."""

    def __init__(self, run=None, deadline=None, log=None, env=None, cancel=None):
        self._run = run or run_command
        self.deadline = deadline
        self.log = log
        self.env = dict(env or {})
        self.cancel: Cancel | None = cancel

    def child(self, deadline=None, log=None, cancel=True):
        """A Runner with its own deadline and log; cancel=False gives one for cleanup commands,
        which must run also (and especially) after the build was interrupted."""
        return Runner(self._run, deadline, log, self.env, self.cancel if cancel is True else cancel or None)

    def __call__(self, argv, check=True, timeout=None, data=None, capture=True, env=None):
        """Run argv. capture=False sends output to the log file (when there is one)."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(argv, 0)
            timeout = left if timeout is None else min(timeout, left)
        environ = dict(self.env)
        environ.update(env or {})
        log = None if capture else self.log
        cancel = self.cancel
        if cancel is not None and cancel.is_set():
            raise Cancelled(argv, cancel.reason)
        if self.log is not None:
            self.log.write(("$ %s\n" % " ".join(argv)).encode())
            self.log.flush()
        previous = getattr(_CURRENT, "cancel", None)
        _CURRENT.cancel = cancel
        try:
            rc, out, err = self._run(list(argv), timeout=timeout, env=environ or None, data=data, log=log)
        finally:
            _CURRENT.cancel = previous
        if cancel is not None and cancel.is_set():
            # Killed by the interrupt, or finished just as it came: either way the build stops here.
            if self.log is not None:
                self.log.write(("# %s\n" % cancel.reason).encode())
                self.log.flush()
            raise Cancelled(argv, cancel.reason)
        if self.log is not None and capture and (err or (rc != 0 and out)):
            self.log.write(((out if rc != 0 else "") + err).encode())
            self.log.flush()
        if check and rc != 0:
            output = out + err
            if log is not None:
                output = _tail_of(self.log)
            raise CommandError(argv, rc, output)
        return rc, out, err


def _tail_of(handle, size=4096):
    """The last bytes written to a log file, for error messages."""
    try:
        handle.flush()
        with open(handle.name, "rb") as reader:
            reader.seek(0, os.SEEK_END)
            reader.seek(max(0, reader.tell() - size))
            return reader.read().decode("utf-8", "replace")
    except (OSError, AttributeError):
        return ""
