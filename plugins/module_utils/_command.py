# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The one wrapper through which every buildah, podman, skopeo and mmdebstrap call goes.

argv lists only (never a shell string); a timeout kills the whole process group; output can go
to a per-image log file. Secrets travel on stdin (``data``), never on argv.
"""

from __future__ import annotations

import os
import signal
import subprocess
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
    try:
        out, err = proc.communicate(input=data.encode() if isinstance(data, str) else data, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise CommandTimeout(argv, timeout)
    return proc.returncode, (out or b"").decode("utf-8", "replace"), (err or b"").decode("utf-8", "replace")


class Runner(object):
    """Runs commands with a shared deadline and an optional log file; raises CommandError on failure."""

    def __init__(self, run=None, deadline=None, log=None, env=None):
        self._run = run or run_command
        self.deadline = deadline
        self.log = log
        self.env = dict(env or {})

    def child(self, deadline=None, log=None):
        return Runner(self._run, deadline, log, self.env)

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
        if self.log is not None:
            self.log.write(("$ %s\n" % " ".join(argv)).encode())
            self.log.flush()
        rc, out, err = self._run(list(argv), timeout=timeout, env=environ or None, data=data, log=log)
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
