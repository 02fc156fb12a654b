# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Progress events of a build: one JSON object a line in the events file of the work dir.

The build writes them (the pipeline: the build lock and the base; the scheduler: an image's start
and finish; the engine: the step an image is at) and never reads them; whoever shows progress
(the command line) follows the file and never writes it. Each event has "t" (epoch seconds) and
"event", one of:

  lock_wait  {pid, since, lock}          another build holds the host's build lock
  lock       {waited}                    this build holds it now
  base       {ref, state, seconds}       state "start", then present|bootstrapped|pulled|interrupted
  plan       {images, threads}           the images the scheduler goes through, in plan order
  start      {image, attempt}            an image's build starts (or starts again after a transient failure)
  step       {image, step}               the step it is at: package install, run 2/3, copy, cleanup, commit
  finish     {image, status, seconds, error, log, container}
  end        {seconds, counts}
"""

from __future__ import annotations

import json
import os
import threading
import time
import typing as t

EVENTS_FILE = "events.jsonl"
EVENTS = ("lock_wait", "lock", "base", "plan", "start", "step", "finish", "end")


class EventLog(object):
    """Appends events to path (created empty); path None keeps nothing. Safe across threads."""

    def __init__(self, path: t.Optional[str] = None, clock: t.Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._handle: t.Optional[t.TextIO] = None
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._handle = open(path, "w", encoding="utf-8")  # pylint: disable=consider-using-with

    def emit(self, event: str, **fields: t.Any) -> None:
        if event not in EVENTS:
            raise ValueError("unknown progress event %r" % event)
        record = dict(fields, t=round(self.clock(), 3), event=event)
        with self._lock:
            if self._handle is not None:
                # one write of a whole line: a follower never sees half an event it would keep
                self._handle.write(json.dumps(record, sort_keys=True) + "\n")
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def parse(line: str) -> t.Optional[t.Dict[str, t.Any]]:
    """One event of a line, or None (a line of something else)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("event") not in EVENTS:
        return None
    return record


class Follower(object):
    """Reads the events appended to a file since the last read (the file may not exist yet; one
    written anew starts over)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.position = 0
        self.partial = ""
        self.identity: t.Optional[t.Tuple[int, int]] = None

    def read(self) -> t.List[t.Dict[str, t.Any]]:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self.identity or stat.st_size < self.position:
                    self.identity, self.position, self.partial = identity, 0, ""
                handle.seek(self.position)
                chunk = handle.read()
                self.position = handle.tell()
        except OSError:
            return []
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()  # not yet a whole line
        return [event for event in (parse(line) for line in lines if line.strip()) if event is not None]


def install_prefix(profile: t.Mapping[str, t.Any]) -> str:
    """The words of the profile's package install command before its package list."""
    install = str((profile.get("package_manager") or {}).get("install") or "")
    return " ".join(install.split("{{", 1)[0].split())


# The first line of the step that takes the omitted packages out (tcib_omit_packages, see _omit).
OMIT_MARKER = "# containergen: omit packages"


def run_step_label(command: t.Any, prefix: str, number: int, count: int) -> str:
    """What a RUN step is called in progress: the package install (the profile's install command,
    as tcib_install renders it), "omit packages" for the omissions step, else "run N/M"."""
    text = " ".join(command.split()) if isinstance(command, str) else " ".join(str(word) for word in command)
    if prefix and text.startswith(prefix):
        return "package install"
    if OMIT_MARKER in text:
        return "omit packages"
    return "run %d/%d" % (number, count) if count > 1 else "run"


# ---- the host's build lock ----------------------------------------------------------------------

def write_holder(handle: t.Any, clock: t.Callable[[], float] = time.time) -> None:
    """Record this process in the lock file it has just locked (flock keeps no owner or time)."""
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "since": round(clock(), 3)}) + "\n")
    handle.flush()


def lock_holder(path: str, locks_file: str = "/proc/locks") -> t.Tuple[t.Optional[int], t.Optional[float]]:
    """(pid, since) of the process holding the flock on path: the pid from the kernel's lock table,
    the time from what the holder recorded (None when it recorded none or is another process)."""
    recorded: t.Dict[str, t.Any] = {}
    try:
        stat = os.stat(path)
        with open(path, encoding="utf-8", errors="replace") as handle:
            recorded = json.loads(handle.read() or "{}")
    except (OSError, ValueError):
        stat = None
    if not isinstance(recorded, dict):
        recorded = {}
    pid: t.Optional[int] = None
    if stat is not None:
        device = "%02x:%02x:%d" % (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
        try:
            with open(locks_file, encoding="utf-8") as handle:
                for line in handle:
                    words = line.split()
                    # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; blocked waiters are "-> ..."
                    if len(words) >= 6 and words[1] == "FLOCK" and words[5] == device:
                        pid = int(words[4])
                        break
        except (OSError, ValueError):
            pid = None
    if pid is None:
        pid = recorded.get("pid") if isinstance(recorded.get("pid"), int) else None
    since = recorded.get("since") if recorded.get("pid") == pid and pid is not None else None
    return pid, since if isinstance(since, (int, float)) else None
