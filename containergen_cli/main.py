"""The `containergen` command: plan | build | publish | report | export | list | show | render | graph | diff
| push | delete | promote | rollback | cull.

Output contract: with --json, stdout holds exactly one JSON document, on success and on failure
({"error": "...", "exit_code": N}); progress, tables shown alongside JSON and error lines go to stderr.
Exit status: 0 ok, 1 failed, 2 bad usage, 128 + signal when interrupted (130 SIGINT, 143 SIGTERM)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import sys
import typing as t

from containergen_cli import __version__, core, export, registry_verbs, sizes, views

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _document(summary: t.Dict[str, t.Any]) -> t.Dict[str, t.Any]:
    return {k: v for k, v in summary.items() if k != "table"}


def _print_summary(summary: t.Dict[str, t.Any], args: argparse.Namespace, out: t.TextIO) -> None:
    """The result on stdout: the JSON document with --json, else the summary's table."""
    if args.json:
        out.write(json.dumps(_document(summary), indent=2, sort_keys=True) + "\n")
    elif summary.get("table"):
        out.write(summary["table"] + "\n")


def _one_line(exc: BaseException) -> str:
    """An error of the library or the system as one line; a failed skopeo/podman call by its message."""
    if isinstance(exc, OSError) and exc.strerror:
        return "%s: %s" % (exc.filename, exc.strerror) if exc.filename else exc.strerror
    argv, output = getattr(exc, "argv", None), getattr(exc, "output", None)
    if argv and output:
        messages = re.findall(r'msg="((?:[^"\\]|\\.)*)"', output)
        if messages:
            target = next((arg for arg in reversed(argv) if "://" in arg or ":" in arg), "")
            return "%s %s%s: %s" % (os.path.basename(argv[0]), argv[1] if len(argv) > 1 else "",
                                    " " + target.split("://", 1)[-1] if target else "",
                                    " ".join(messages[-1].replace('\\"', '"').split()))
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def report_tags(registry: t.Any, name: str, tag: str, old: t.Optional[str], new: t.Optional[str]
                ) -> t.Tuple[str, str]:
    """The two tags to compare: --old/--new as given; a missing one from the revisions of --tag
    (--new alone: the revision before it; --old alone: the latest revision)."""
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    if old and new:
        return old, new
    tags = registry.list_tags(name)
    if not tags:
        raise core.CLIError("%s: no such repository %s in the registry" % (name, registry.repo(name)))
    numbers = _publish.revisions(tags, tag)
    revs = ["%s-%d" % (tag, number) for number in numbers]
    if new:
        before = revs[:revs.index(new)] if new in revs else [rev for rev in revs if rev != new]
        if not before:
            raise core.CLIError("%s: no revision of %s before %s to compare with: give --old" % (name, tag, new))
        return before[-1], new
    if old:
        if not revs or revs[-1] == old:
            raise core.CLIError("%s: no revision of %s after %s to compare with: give --new" % (name, tag, old))
        return old, revs[-1]
    if len(revs) < 2:
        raise core.CLIError("%s: %d revision%s of %s in %s, two are needed (or give --old and --new)"
                            % (name, len(revs), "" if len(revs) == 1 else "s", tag, registry.repo(name)))
    return revs[-2], revs[-1]


def report(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
    stage = core.stage_options()
    from ansible_collections.containergen.images.plugins.module_utils import _pipeline, _publish  # pylint: disable=import-outside-toplevel
    authfile = args.authfile if args.authfile != core.DEFAULT_AUTHFILE or os.path.exists(args.authfile) else None
    registry = _pipeline.registry_client(stage.RegistryOptions.from_params(
        {"registry": args.registry, "namespace": args.namespace, "authfile": authfile}))
    old, new = report_tags(registry, args.name, args.tag, args.old, args.new)
    try:
        diff = _publish.report(registry, args.name, old, new, args.tag)
    except _publish.PublishError as exc:
        raise core.CLIError(str(exc))
    lines = [diff["summary"]]
    lines += ["  + %s %s" % item for item in sorted(diff["added"].items())]
    lines += ["  - %s %s" % item for item in sorted(diff["removed"].items())]
    lines += ["  ~ %s %s -> %s" % (name, before, after) for name, (before, after) in sorted(diff["updated"].items())]
    if diff.get("refresh"):  # the new revision was rebuilt for package updates (refresh: updates)
        lines.append("  rebuilt for package updates: %s" % ", ".join(diff["refresh"]))
    return dict(diff, old=old, new=new, table="\n".join(lines))


def plan(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
    return core.plan(args, err)


def build(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:
    """The plan first (on stdout, or stderr with --json), progress on stderr, then the summary."""
    if not args.skip_build:
        core.ensure_work_dir(args)
    planned = core.plan(args, err)
    if args.skip_build:
        return planned
    shown = err if args.json else out
    shown.write("plan (%s):\n%s\n" % (planned["profile"], planned["table"]))
    shown.flush()
    summary = core.build(args, err, planned)  # progress on stderr, from the build's events
    if not summary.get("table") and summary.get("images") and "counts" in summary:
        from ansible_collections.containergen.images.plugins.module_utils import _build  # pylint: disable=import-outside-toplevel
        summary["table"] = _build.summary_table(summary)  # summary.json holds the data, not the table
    if summary.get("published"):
        summary["table"] = summary.get("table") or ""
        summary["table"] += ("\n" if summary["table"] else "") + publish_table(summary["published"], False)
    return summary


def publish_table(summary: t.Dict[str, t.Any], check_mode: bool) -> str:
    """One line per image (name, what happened, the reference), then the totals; in check mode
    nothing was pushed: "would push"."""
    rows = []
    for result in summary.get("images", []):
        action = result.get("action", "")
        if check_mode and action == "pushed":
            action = "would push"
        rows.append((result.get("name", ""), action, result.get("ref", "")))
    width = max([len(row[0]) for row in rows] + [5])
    action_width = max([len(row[1]) for row in rows] + [6])
    lines = ["%-*s  %-*s  %s" % (width, "image", action_width, "action", "reference")]
    lines += ["%-*s  %-*s  %s" % (width, name, action_width, action, ref) for name, action, ref in rows]
    if check_mode:
        lines.append("check mode: would push %d, unchanged %d; nothing was sent, no lock file written"
                     % (len(summary.get("pushed", [])), len(summary.get("unchanged", []))))
    else:
        lines.append("pushed %d, unchanged %d, bytes sent %d%s" % (
            len(summary.get("pushed", [])), len(summary.get("unchanged", [])), summary.get("bytes_sent", 0),
            ("; lock file " + ", ".join(summary["lock_files"])) if summary.get("lock_files") else ""))
    return "\n".join(lines)


def publish(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:
    summary = core.publish(args, err)
    summary["check_mode"] = bool(args.check)
    summary["table"] = publish_table(summary, bool(args.check))
    return summary


def do_export(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
    return export.export(args)


COMMANDS = {"plan": plan, "build": build, "publish": publish, "report": report, "export": do_export,
            "list": lambda args, out, err: views.list_images(args),
            "show": lambda args, out, err: views.show(args),
            "render": lambda args, out, err: views.render(args)}
COMMANDS.update(graph=lambda args, out, err: views.graph(args), diff=lambda args, out, err: views.diff(args),
                **registry_verbs.COMMANDS)
COMMANDS["sizes"] = sizes.run


def parser() -> core.Parser:
    defaults = core.stage_options()
    top = core.Parser(prog="containergen", description="Build, publish and report slim container images "
                      "from TCIB-style definitions (the containergen.images collection). Exit status: 0 ok, "
                      "1 failed, 2 bad usage, 130/143 interrupted; with --json, stdout is one JSON document.")
    top.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = top.add_subparsers(dest="command", required=True)
    core.add_image_arguments(sub.add_parser("plan", help="validate the definitions and print the build plan"))
    core.add_build_arguments(sub.add_parser("build", help="build images (and publish them with --push)"))
    core.add_publish_arguments(sub.add_parser("publish", help="publish built images with tag revisions"))
    report_parser = sub.add_parser("report", help="package changes between two revisions of an image")
    report_parser.add_argument("name")
    report_parser.add_argument("--registry", default=core.DEFAULT_REGISTRY)
    report_parser.add_argument("--namespace", default=defaults.REGISTRY_NAMESPACE)
    report_parser.add_argument("--tag", default=defaults.TAG)
    report_parser.add_argument("--old", help="older tag (default: the revision before --new)")
    report_parser.add_argument("--new", help="newer tag (default: the latest revision of --tag)")
    report_parser.add_argument("--authfile", default=core.DEFAULT_AUTHFILE)
    report_parser.add_argument("--json", action="store_true", help="print the result as one JSON document")
    export.add_arguments(sub.add_parser("export", help="deploy-tool parameters pinning the published set "
                                                       "(from the lock file)"), defaults.WORK_DIR)
    views.add_arguments(sub)
    registry_verbs.add_arguments(sub)
    sizes.add_arguments(sub)
    return top


def _terminate(signum, frame):
    raise core.Interrupted(signum)


def _fail(message: str, code: int, command: t.Optional[str], want_json: bool, out: t.TextIO, err: t.TextIO) -> int:
    """The error: its line(s) on stderr and, with --json, the error document on stdout."""
    prefix = "containergen %s: " % command if command else "containergen: "
    err.write(prefix + message + "\n")
    if want_json:
        document = {"error": message, "exit_code": code}
        if command:
            document["command"] = command
        out.write(json.dumps(document, sort_keys=True) + "\n")
    return code


def _parse(top: core.Parser, argv: t.List[str], want_json: bool, out: t.TextIO, err: t.TextIO
           ) -> t.Tuple[t.Optional[argparse.Namespace], int]:
    """Parse argv; a bad usage is argparse's one line on stderr, and the error document with --json."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return top.parse_args(argv), EXIT_OK
    except SystemExit as exc:
        text = captured.getvalue()
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
        if code and want_json:
            line = text.strip().splitlines()[-1] if text.strip() else "bad usage"
            found = re.match(r"containergen(?: (\w+))?: (.*)\Z", line)
            document = {"error": found.group(2) if found else line, "exit_code": code}
            if found and found.group(1):
                document["command"] = found.group(1)
            out.write(json.dumps(document, sort_keys=True) + "\n")
        err.write(text)
        return None, code


def main(argv: t.Optional[t.List[str]] = None, out: t.Optional[t.TextIO] = None,
         err: t.Optional[t.TextIO] = None) -> int:
    """Run one command; returns the exit status. SIGINT or SIGTERM end it with one line and
    128 + the signal (130, 143); a running playbook is stopped first (core.run_playbook)."""
    out, err = out or sys.stdout, err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    try:
        top = parser()
    except core.CLIError as exc:  # the collection is not installed
        return _fail(str(exc), EXIT_FAILED, None, want_json, out, err)
    args, code = _parse(top, argv, want_json, out, err)
    if args is None:
        return code
    main_thread = core.threading.current_thread() is core.threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        summary = COMMANDS[args.command](args, out, err)
    except core.Interrupted as exc:
        return _fail("interrupted", exc.exit_code, args.command, want_json, out, err)
    except KeyboardInterrupt:
        return _fail("interrupted", 128 + signal.SIGINT, args.command, want_json, out, err)
    except core.CLIError as exc:
        return _fail(str(exc), getattr(exc, "exit_code", EXIT_FAILED), args.command, want_json, out, err)
    except Exception as exc:  # pylint: disable=broad-except
        # the library's errors (registry, command, lock file, I/O) are one line each: no traceback
        return _fail(_one_line(exc), EXIT_FAILED, args.command, want_json, out, err)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    if getattr(args, "summary_json_file", None):
        try:
            with open(args.summary_json_file, "w", encoding="utf-8") as handle:
                json.dump(_document(summary), handle, indent=2, sort_keys=True)
        except OSError as exc:
            return _fail("--summary-json-file %s: %s" % (args.summary_json_file, exc.strerror or exc), EXIT_FAILED,
                         args.command, want_json, out, err)
    if args.json:
        shown = _document(summary)
        if args.command == "build" and summary.get("table"):
            err.write(summary["table"] + "\n")
        out.write(json.dumps(shown, indent=2, sort_keys=True) + "\n")
    elif summary.get("table"):
        out.write(summary["table"] + "\n")
    elif summary.get("text"):
        out.write(summary["text"])
    return EXIT_OK


def entry():
    sys.exit(main())


if __name__ == "__main__":
    entry()
