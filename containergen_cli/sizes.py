"""`containergen sizes`: the size report of a set of local images (module image_sizes, the same code).

Per image its size, own layers and their gzip -6 and zstd -3 sizes; the set with shared layers
counted once; the squash what-if; files and packages found in two or more sibling layers with the
bytes hoisting them would save; runtime state. Layers are analysed once and cached by diff digest
in WORK_DIR/sizes (README, "Sizes")."""

from __future__ import annotations

import argparse
import os
import typing as t

from containergen_cli import core


def add_arguments(sub: t.Any) -> None:
    defaults = core.stage_options()
    parser = sub.add_parser("sizes", help="size report of local images: own layers, shared layers once, gzip/zstd, "
                                          "squash what-if, duplicates across sibling layers, runtime state")
    parser.add_argument("images", nargs="*", metavar="IMAGE",
                        help="local image references (default: the containergen images under --namespace with --tag)")
    parser.add_argument("--namespace", default=defaults.LOCAL_NAMESPACE,
                        help="local namespace of the set (default: %(default)s)")
    parser.add_argument("--tag", default=defaults.TAG, help="tag of the set (default: %(default)s)")
    parser.add_argument("--engine", default="buildah", choices=["buildah", "docker"],
                        help="the store the images are in (default: %(default)s)")
    parser.add_argument("--work-dir", dest="work_dir", default=defaults.WORK_DIR,
                        help="the layer cache is WORK_DIR/sizes (default: %(default)s)")
    parser.add_argument("--against", default=None, metavar="SUMMARY_JSON",
                        help="a report written by --output: the result then compares every image and the set")
    parser.add_argument("--output", default=None, metavar="JSON", help="write the report as JSON to this file")
    parser.add_argument("--chart", default=None, metavar="FILE",
                        help="write a chart of the set, SVG or PNG by the extension (needs matplotlib)")
    parser.add_argument("--no-compress", dest="compress", action="store_false",
                        help="do not compress layers not analysed yet (seconds instead of about a minute for a "
                             "new set; their gzip and zstd sizes are null)")
    parser.add_argument("--top", type=int, default=10, help="directories and duplicates listed (default: %(default)s)")
    parser.add_argument("--depth", type=int, default=3, help="depth of the directories listed (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="layers read at once (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON document on stdout")


def _check(args: argparse.Namespace) -> None:
    for option, value in (("--top", args.top), ("--depth", args.depth), ("--threads", args.threads)):
        if value < 1:
            raise core.UsageError("%s %d: must be 1 or more" % (option, value))
    if args.chart and os.path.splitext(args.chart)[1].lower() not in (".svg", ".png"):
        raise core.UsageError("--chart %s: the file name must end in .svg or .png" % args.chart)


def run(args: argparse.Namespace, out: t.TextIO, err: t.TextIO) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
    """The report (its "table" is what stdout shows without --json)."""
    _check(args)
    core.collection_root()
    from ansible_collections.containergen.images.plugins.module_utils import _sizes  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # pylint: disable=import-outside-toplevel
    runner = Runner()
    against = None
    if args.against:
        try:
            against = _sizes.read_report(args.against)
        except _sizes.SizesError as exc:
            raise core.CLIError("--against " + str(exc).replace(": against:", ":", 1))
    try:
        refs = list(args.images) or _sizes.set_refs(runner, args.engine, args.namespace, args.tag)
        result = _sizes.report(runner, refs, os.path.join(args.work_dir, "sizes"), args.engine, args.top,
                               args.depth, args.threads, against, args.compress)
        if args.output:
            _sizes.write_report(args.output, result)
        if args.chart:
            _sizes.chart(result, args.chart)
    except _sizes.SizesError as exc:
        raise core.CLIError(str(exc))
    return dict(result, table=_sizes.table(result))
