"""Live progress of a build, from the build's progress events (the collection's _progress: the
events.jsonl the build writes in its work dir; this side only reads it).

Two renderers of the same state: plain lines (stderr not a terminal, TERM=dumb, or asked for) and
rich's live display on a terminal (NO_COLOR is honoured by rich). Both take events and ticks with
the time they happen at, so that their output is a function of their input."""

from __future__ import annotations

import json
import os
import threading
import time
import typing as t

Event = t.Dict[str, t.Any]
# Plain mode: a line of the running images when nothing was printed for this long.
HEARTBEAT = 30.0
TIMINGS_FILE = "timings.json"


def duration(seconds: float) -> str:
    """12.3s, 4m05s, 1h02m."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "%.1fs" % seconds
    minutes = int(seconds // 60)
    if minutes < 60:
        return "%dm%02ds" % (minutes, int(seconds % 60))
    return "%dh%02dm" % (minutes // 60, minutes % 60)


def clock_time(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


# ---- the last runs' timings (ETA) ----------------------------------------------------------------

def load_timings(work_dir: str) -> t.Dict[str, float]:
    """Seconds each image took when it was last built: timings.json of the work dir (kept by
    save_timings), else the last build's summary.json."""
    for name in (TIMINGS_FILE, "summary.json"):
        try:
            with open(os.path.join(work_dir, name), encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if name == TIMINGS_FILE and isinstance(data, dict):
            return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}
        if isinstance(data, dict) and isinstance(data.get("images"), list):
            return {r["name"]: float(r["seconds"]) for r in data["images"]
                    if isinstance(r, dict) and r.get("status") == "built" and isinstance(r.get("seconds"), (int, float))}
    return {}


def save_timings(work_dir: str, summary: t.Mapping[str, t.Any]) -> None:
    """Add the images this build built to timings.json (an image skipped keeps its last time)."""
    timings = load_timings(work_dir)
    timings.update({r["name"]: r["seconds"] for r in summary.get("images") or []
                    if r.get("status") == "built" and isinstance(r.get("seconds"), (int, float))})
    path = os.path.join(work_dir, TIMINGS_FILE)
    try:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(timings, handle, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)
    except OSError:
        pass  # an ETA is a convenience: never a failure of the build


# ---- the state ------------------------------------------------------------------------------------

class State(object):
    """What the events say so far: the plan, the running images and their steps, what finished."""

    def __init__(self, timings: t.Optional[t.Mapping[str, float]] = None,
                 to_build: t.Optional[t.Iterable[str]] = None) -> None:
        self.timings = dict(timings or {})
        # the plan's images that will be built (the rest are up to date: they take no time)
        self.to_build = set(to_build) if to_build is not None else None
        self.images: t.List[str] = []
        self.threads = 1
        self.running: t.Dict[str, t.Dict[str, t.Any]] = {}  # name -> {start, step, step_start, attempt}
        self.finished: t.Dict[str, Event] = {}
        self.base: t.Optional[Event] = None
        self.lock_wait: t.Optional[Event] = None

    def apply(self, event: Event) -> None:
        kind, now = event["event"], float(event.get("t") or 0.0)
        if kind == "lock_wait":
            self.lock_wait = event
        elif kind == "lock":
            self.lock_wait = None
        elif kind == "base":
            self.base = dict(event, start=now) if event.get("state") == "start" else None
        elif kind == "plan":
            self.images = list(event.get("images") or [])
            self.threads = max(1, int(event.get("threads") or 1))
        elif kind == "start":
            self.running[event["image"]] = {"start": now, "step": "", "step_start": now,
                                            "attempt": event.get("attempt") or 1}
        elif kind == "step":
            entry = self.running.setdefault(event["image"], {"start": now, "attempt": 1})
            entry.update(step=event.get("step") or "", step_start=now)
        elif kind == "finish":
            self.running.pop(event["image"], None)
            self.finished[event["image"]] = event

    def counter(self) -> t.Tuple[int, int]:
        return len(self.finished), len(self.images)

    def eta(self, now: float) -> t.Optional[float]:
        """Seconds left from the last timings of the images still to build, spread over the threads
        but never less than the longest one left; None when no image left has a known time."""
        left = []
        for name in self.images:
            if name in self.finished or (self.to_build is not None and name not in self.to_build):
                continue
            if name not in self.timings:
                continue
            running = self.running.get(name)
            elapsed = now - running["start"] if running else 0.0
            left.append(max(0.0, self.timings[name] - elapsed))
        if not left:
            return None
        return max(*left, sum(left) / min(self.threads, len(left)))


# ---- the renderers --------------------------------------------------------------------------------

class Renderer(object):
    """Takes events (handle), the passing time (tick) and other text (message: -v's Ansible output)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.lock = threading.Lock()

    def handle(self, event: Event) -> None:
        with self.lock:
            self.state.apply(event)
            self.show(event)

    def show(self, event: Event) -> None:
        raise NotImplementedError

    def tick(self, now: float) -> None:
        pass

    def message(self, text: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def lock_wait_line(event: Event) -> str:
    pid, since = event.get("pid"), event.get("since")
    holder = "held by PID %d" % pid if pid else "held by another build"
    if pid and since:
        holder += " since %s" % clock_time(float(since))
    return "waiting for the build lock %s (%s)" % (holder, event.get("lock") or "")


def finish_line(state: State, event: Event) -> str:
    """The scheduler's line of a finished image (as in progress.log), with what helps next: the log
    of a failed image, its kept working container, and the ETA."""
    done, total = state.counter()
    line = "[%*d/%d] %-8s %-24s %6.1fs" % (
        len(str(total)), done, total, event.get("status", ""), event.get("image", ""), float(event.get("seconds") or 0.0))
    if event.get("error"):
        line += "  " + " ".join(str(event["error"]).split())[:300]
    if event.get("status") == "failed" and event.get("log"):
        line += "; log: " + event["log"]
    if event.get("container"):
        line += "; working container kept: " + event["container"]
    return line


class PlainRenderer(Renderer):
    """One line an event that matters; when nothing was printed for HEARTBEAT seconds, a line of
    the running images with their steps and elapsed times."""

    def __init__(self, state: State, out: t.TextIO, heartbeat: float = HEARTBEAT, title: str = "build") -> None:
        Renderer.__init__(self, state)
        self.out = out
        self.title = title
        self.heartbeat = heartbeat
        self.last: t.Optional[float] = None

    def write(self, line: str, now: t.Optional[float]) -> None:
        self.out.write(line + "\n")
        self.out.flush()
        if now is not None:
            self.last = now

    def show(self, event: Event) -> None:
        kind, now, state = event["event"], float(event.get("t") or 0.0), self.state
        if kind == "lock_wait":
            self.write(lock_wait_line(event), now)
        elif kind == "lock":
            self.write("build lock taken after %s" % duration(float(event.get("waited") or 0.0)), now)
        elif kind == "base" and event.get("state") not in ("start", "present"):
            self.write("base %s %s in %s" % (event.get("ref"), event.get("state"),
                                             duration(float(event.get("seconds") or 0.0))), now)
        elif kind == "plan":
            eta = state.eta(now)
            self.write("%s: %d images, %d at a time%s" % (
                self.title, len(state.images), state.threads, "; ETA %s (last run's timings)" % duration(eta) if eta else ""), now)
        elif kind == "start":
            attempt = event.get("attempt") or 1
            self.write("start    %s%s" % (event["image"], " (attempt %d)" % attempt if attempt > 1 else ""), now)
        elif kind == "step":
            entry = state.running.get(event["image"]) or {}
            self.write("step     %s: %s (+%s)" % (event["image"], event.get("step"),
                                                  duration(now - entry.get("start", now))), now)
        elif kind == "finish":
            line = finish_line(state, event)
            eta = state.eta(now)
            if eta and state.counter()[0] < len(state.images):
                line += "  ETA %s" % duration(eta)
            self.write(line, now)
        elif self.last is None:
            self.last = now

    def tick(self, now: float) -> None:
        with self.lock:
            if self.last is None:
                self.last = now
                return
            if now - self.last < self.heartbeat:
                return
            state, parts = self.state, []
            if state.lock_wait is not None:
                parts.append("still " + lock_wait_line(state.lock_wait))
            if state.base is not None:
                parts.append("base %s (%s)" % (state.base.get("ref"), duration(now - state.base["start"])))
            for name, entry in sorted(state.running.items(), key=lambda item: item[1]["start"]):
                parts.append("%s: %s %s" % (name, entry.get("step") or "starting",
                                            duration(now - entry.get("step_start", entry["start"]))))
            if not parts:
                self.last = now
                return
            done, total = state.counter()
            eta = state.eta(now)
            self.write("...      %s%s%s" % ("%d/%d done; " % (done, total) if total else "", ", ".join(parts),
                                            "; ETA %s" % duration(eta) if eta else ""), now)

    def message(self, text: str) -> None:
        with self.lock:
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()


class LiveRenderer(Renderer):
    """rich's live display: finished images, the lock and the base scroll above a table of the
    running images (step, elapsed) with the count and the ETA."""

    def __init__(self, state: State, out: t.TextIO, clock: t.Callable[[], float] = time.time) -> None:
        Renderer.__init__(self, state)
        from rich.console import Console  # pylint: disable=import-outside-toplevel
        from rich.live import Live  # pylint: disable=import-outside-toplevel
        self.clock = clock
        self.console = Console(file=out, highlight=False)
        self.live = Live(get_renderable=self.render, console=self.console, refresh_per_second=4, transient=True,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def render(self) -> t.Any:
        from rich.table import Table  # pylint: disable=import-outside-toplevel
        from rich.text import Text  # pylint: disable=import-outside-toplevel
        with self.lock:
            now, state = self.clock(), self.state
            table = Table.grid(padding=(0, 2))
            table.add_column(style="bold")
            table.add_column()
            table.add_column(justify="right")
            if state.lock_wait is not None:
                table.add_row("lock", lock_wait_line(state.lock_wait),
                              duration(now - float(state.lock_wait.get("t") or now)))
            if state.base is not None:
                table.add_row("base", str(state.base.get("ref")), duration(now - state.base["start"]))
            for name, entry in sorted(state.running.items(), key=lambda item: item[1]["start"]):
                table.add_row(name, entry.get("step") or "starting",
                              "%s (%s)" % (duration(now - entry.get("step_start", entry["start"])),
                                           duration(now - entry["start"])))
            done, total = state.counter()
            eta = state.eta(now)
            if total:
                table.add_row(Text("%d/%d done" % (done, total), style="dim"), "",
                              Text("ETA %s" % duration(eta), style="dim") if eta else "")
            return table

    def show(self, event: Event) -> None:
        kind = event["event"]
        if kind == "finish":
            event_status = event.get("status")
            style = {"failed": "red", "blocked": "yellow", "interrupted": "yellow", "built": "green"}.get(
                str(event_status), "")
            self.live.console.print(finish_line(self.state, event), style=style or None, markup=False,
                                    highlight=False)
        elif kind == "lock_wait":
            self.live.console.print(lock_wait_line(event), markup=False, highlight=False)
        elif kind == "base" and event.get("state") not in ("start", "present"):
            self.live.console.print("base %s %s in %s" % (event.get("ref"), event.get("state"),
                                                          duration(float(event.get("seconds") or 0.0))),
                                    markup=False, highlight=False)

    def message(self, text: str) -> None:
        self.live.console.print(text.rstrip("\n"), markup=False, highlight=False)

    def close(self) -> None:
        self.live.stop()


def use_live(stream: t.TextIO, environ: t.Optional[t.Mapping[str, str]] = None) -> bool:
    """The live display only on a terminal that can redraw (not TERM=dumb)."""
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and environ.get("TERM", "") not in ("dumb", "")


def renderer(out: t.TextIO, state: State, live: t.Optional[bool] = None, title: str = "build") -> Renderer:
    """The live display on a terminal that redraws, else plain lines; title names what runs (build, publish)."""
    if live is None:
        live = use_live(out)
    if live:
        try:
            return LiveRenderer(state, out)
        except ImportError:  # rich is a dependency; without it, plain lines
            pass
    return PlainRenderer(state, out, title=title)
