"""Read-only views of the definitions and images: `list` (the images of the definitions tree and their local status),
`show IMAGE` (a local image: labels and its version manifest as a package table) and `render IMAGE`
(the Containerfile the docker engine would build, as kolla's --template-only)."""

from __future__ import annotations

import argparse
import json
import typing as t

from containergen_cli import core

MARKER = "containergen-manifest"


def add_arguments(sub: t.Any) -> None:
    core.add_image_arguments(sub.add_parser("list", help="images of the definitions tree: parent and local status"))
    for name, text in (("show", "a local image: reference, ID, size, labels and its packages"),
                       ("render", "the Containerfile of an image (what --engine docker builds)")):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("image", help="image name, such as keystone")
        core.add_image_arguments(parser)


def list_images(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    planned = core.plan(args)
    rows = [("image", "parent", "status", "reference")]
    rows += [(item["name"], item["parent"] or "(%s)" % item["from"], item["status"] or "-", item["ref"])
             for item in planned["images"]]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    return {"images": [{key: item[key] for key in ("name", "parent", "status", "ref")} for item in planned["images"]],
            "table": "\n".join(lines)}


def _planned(args: argparse.Namespace, base_ids: t.Optional[t.Mapping[str, str]] = None
             ) -> t.Tuple[t.Any, t.Dict[str, t.Any], t.Any]:
    """The planned image args.image (its ancestors planned too), the profile, and the options.
    base_ids: {reference: image ID} of the local store (an external base's ID is in the fingerprint)."""
    from ansible_collections.containergen.images.plugins.module_utils import _pipeline  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError  # pylint: disable=import-outside-toplevel
    options = core.plan_options(args, include=[r"\A%s\Z" % args.image.replace(".", r"\.")])
    try:
        definitions, profile = _pipeline.load(options)
        if args.image not in definitions:
            raise core.CLIError("%s: no such image in %s" % (args.image, options.definitions_path))
        plan = _pipeline.make_plan(options, definitions, profile, dict(base_ids or {}))
    except DefinitionError as exc:
        raise core.CLIError(core.definition_problems(exc.problems))
    return next(item for item in plan if item.name == args.image), profile, options


def render(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils._containerfile import render_containerfile  # pylint: disable=import-outside-toplevel
    planned, profile, options = _planned(args)
    try:
        text, files, labels = render_containerfile(planned, profile, options.definitions_path, MARKER)
    except ValueError as exc:
        raise core.CLIError("%s: %s" % (args.image, exc))
    return {"image": args.image, "ref": planned.ref, "containerfile": text, "files": files, "labels": labels,
            "table": text.rstrip("\n")}


def show(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _contract, _engines  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # pylint: disable=import-outside-toplevel
    images = _engines.make_engine(core.plan_options(args)).list_images(Runner())
    planned, _profile, options = _planned(args, {ref: info["id"] for ref, info in images.items()})
    info = images.get(planned.ref)
    if info is None:
        raise core.CLIError("%s: no local image %s (build it first)" % (args.image, planned.ref))
    labels = dict(info.get("labels") or {})
    try:
        packages = json.loads(labels.get(_contract.MANIFEST_LABEL) or "{}")
    except ValueError:
        packages = {}
    result = {"image": args.image, "ref": planned.ref, "id": info.get("id"), "size": info.get("size"),
              "labels": labels, "packages": packages,
              "up_to_date": labels.get(_contract.FINGERPRINT_LABEL) == planned.fingerprint}
    lines = ["%s  %s" % (planned.ref, (info.get("id") or "")[:12]),
             "size %.1f MB, %s" % ((info.get("size") or 0) / 1e6,
                                   "up to date" if result["up_to_date"] else "differs from the definitions"),
             "labels:"]
    lines += ["  %s=%s" % (key, value) for key, value in sorted(labels.items()) if key != _contract.MANIFEST_LABEL]
    lines.append("packages (%d):" % len(packages))
    width = max([len(name) for name in packages] + [7])
    lines += ["  %-*s  %s" % (width, name, version) for name, version in sorted(packages.items())]
    result["table"] = "\n".join(lines)
    return result
