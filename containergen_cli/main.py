"""The `containergen` command: plan | build | publish | report."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import typing as t

from containergen_cli import __version__, core


def _print_summary(summary: t.Dict[str, t.Any], args: argparse.Namespace, out: t.TextIO) -> None:
    if args.json:
        out.write(json.dumps({k: v for k, v in summary.items() if k != "table"}, indent=2, sort_keys=True) + "\n")
    elif summary.get("table"):
        out.write(summary["table"] + "\n")


def _report(args: argparse.Namespace, out: t.TextIO) -> t.Dict[str, t.Any]:
    stage = core.stage_options()
    from ansible_collections.containergen.images.plugins.module_utils import _pipeline, _publish  # pylint: disable=import-outside-toplevel
    registry = _pipeline.registry_client(stage.RegistryOptions.from_params(
        {"registry": args.registry, "namespace": args.namespace, "authfile": args.authfile}))
    try:
        diff = _publish.report(registry, args.name, args.old, args.new, args.tag)
    except _publish.PublishError as exc:
        raise core.CLIError(str(exc))
    if args.json:
        out.write(json.dumps(diff, indent=2, sort_keys=True) + "\n")
    else:
        out.write(diff["summary"] + "\n")
        for name, version in diff["added"].items():
            out.write("  + %s %s\n" % (name, version))
        for name, version in diff["removed"].items():
            out.write("  - %s %s\n" % (name, version))
        for name, (before, after) in diff["updated"].items():
            out.write("  ~ %s %s -> %s\n" % (name, before, after))
    return diff


def parser() -> core.Parser:
    defaults = core.stage_options()
    top = core.Parser(prog="containergen", description="Build, publish and report slim container images "
                      "from TCIB-style definitions (the containergen.images collection).")
    top.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = top.add_subparsers(dest="command", required=True)
    core.add_image_arguments(sub.add_parser("plan", help="validate the definitions and print the build plan"))
    core.add_build_arguments(sub.add_parser("build", help="build images (and publish them with --push)"))
    core.add_publish_arguments(sub.add_parser("publish", help="publish built images with tag revisions"))
    report = sub.add_parser("report", help="package changes between two revisions of an image")
    report.add_argument("name")
    report.add_argument("--registry", default=core.DEFAULT_REGISTRY)
    report.add_argument("--namespace", default=defaults.REGISTRY_NAMESPACE)
    report.add_argument("--tag", default=defaults.TAG)
    report.add_argument("--old")
    report.add_argument("--new")
    report.add_argument("--authfile", default=core.DEFAULT_AUTHFILE)
    report.add_argument("--json", action="store_true")
    return top


def _terminate(signum, frame):
    raise core.Interrupted(signum)


def main(argv: t.Optional[t.List[str]] = None, out: t.TextIO = sys.stdout) -> int:
    """Run one command; returns the exit status. SIGINT or SIGTERM end it with one line and
    128 + the signal (130, 143); a running playbook is stopped first (core.run_playbook)."""
    try:
        top = parser()
    except core.CLIError as exc:  # the collection is not installed
        sys.stderr.write("containergen: %s\n" % exc)
        return 1
    args = top.parse_args(argv)
    main_thread = core.threading.current_thread() is core.threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        if args.command == "plan":
            summary = core.plan(args, out)
        elif args.command == "build":
            summary = core.build(args, out)
        elif args.command == "publish":
            summary = core.publish(args, out)
        else:
            _report(args, out)
            return 0
    except (core.Interrupted, KeyboardInterrupt) as exc:
        sys.stderr.write("containergen %s: interrupted\n" % args.command)
        return exc.exit_code if isinstance(exc, core.Interrupted) else 128 + signal.SIGINT
    except core.CLIError as exc:
        sys.stderr.write("containergen %s: %s\n" % (args.command, exc))
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    _print_summary(summary, args, out)
    return 0


def entry():
    sys.exit(main())


if __name__ == "__main__":
    entry()
