"""Read-only views of the definitions and images: `list` (the images of the definitions tree and their local status),
`show IMAGE` (a local image: labels and its version manifest as a package table), `render IMAGE`
(the Containerfile the docker engine would build, as kolla's --template-only), `graph` (the dependency
tree as DOT or SVG) and `diff A B` (packages added, removed and updated between two images, each a local
image, a registry revision or a lock file entry)."""

from __future__ import annotations

import argparse
import json
import os
import re
import typing as t
from xml.sax.saxutils import escape, quoteattr

from containergen_cli import core, registry_verbs

MARKER = "containergen-manifest"


def add_arguments(sub: t.Any) -> None:
    add_list_arguments(sub.add_parser("list", help="images of the definitions tree: parent, local status, published "
                                                   "revision (and with --registry-status whether the registry has it)"))
    add_show_arguments(sub.add_parser("show", help="a local image: reference, ID, size, labels, packages, layers and "
                                                   "revisions"))
    parser = sub.add_parser("render", help="the Containerfile of an image (what --engine docker builds)")
    parser.add_argument("image", help="image name, such as keystone")
    core.add_image_arguments(parser)
    add_graph_arguments(sub.add_parser("graph", help="the dependency tree of the plan, as DOT or as an SVG picture"))
    add_diff_arguments(sub.add_parser(
        "diff", help="packages added, removed and updated between two images (local, registry, lock file entry)"))


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """--lock-file, --authfile, --registry-status: where list and show read the published revisions."""
    parser.add_argument("--lock-file", dest="lock_file", default=default_lock_file(),
                        help="lock file written by publish, path without extension; its entries of --registry/"
                             "--namespace give each image's published revision (default: %(default)s)")
    parser.add_argument("--authfile", default=core.DEFAULT_AUTHFILE,
                        help="registry credentials file for --registry-status; when given, it must exist "
                             "(default: %(default)s)")
    parser.add_argument("--registry-status", dest="registry_status", action="store_true",
                        help="also ask --registry whether it still holds each published revision (show: and its "
                             "TAG-N revisions)")


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    core.add_image_arguments(parser)
    add_status_arguments(parser)


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image name, such as keystone")
    core.add_image_arguments(parser)
    add_status_arguments(parser)


def default_lock_file() -> str:
    return os.path.join(core.stage_options().WORK_DIR, "images.lock")


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    core.add_image_arguments(parser)
    parser.add_argument("--format", dest="format", default="dot", choices=GRAPH_FORMATS,
                        help="dot: Graphviz source; svg: a picture, drawn here (no Graphviz needed) (default: dot)")
    parser.add_argument("--output", default=None, help="write the graph to this file (default: stdout)")


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    for name in ("a", "b"):
        parser.add_argument(name, metavar=name.upper(), help=DIFF_OPERANDS if name == "b" else "the older image")
    registry_verbs.add_registry_arguments(parser)
    defaults = core.stage_options()
    parser.add_argument("--engine", default=defaults.ENGINE, choices=list(defaults.ENGINES),
                        help="the store of local: images (default: %(default)s)")
    parser.add_argument("--docker-host", dest="docker_host", default="",
                        help="Docker daemon for --engine docker (default: DOCKER_HOST, else the local socket)")
    parser.add_argument("--local-namespace", dest="local_namespace", default=defaults.LOCAL_NAMESPACE,
                        help="namespace of local:NAME images (default: %(default)s)")


# ---- list and show: local status, lock file revisions, registry status ---------------------------------

LOCAL_STATES = ("up to date", "differs", "absent")


def _status_checks() -> t.List[t.Tuple[str, str, t.Callable[[t.Any], t.Optional[str]], bool]]:
    options = core._collection_utils()[0]  # pylint: disable=protected-access
    return [("--lock-file", "lock_file", _lock_file_problem, False),
            ("--authfile", "authfile", lambda v: None if v == core.DEFAULT_AUTHFILE else options.existing_file(v),
             False)]


def _lock_file_problem(value: str) -> t.Optional[str]:
    """The default lock file may be absent (nothing published yet); a given one must be there."""
    if not value or value.endswith("/"):
        return "must be a file path without extension, such as /srv/images.lock"
    if value == default_lock_file():
        return None
    return registry_verbs._lock_base(value)  # pylint: disable=protected-access


def lock_entries(args: argparse.Namespace) -> t.Tuple[t.Dict[str, str], t.Optional[str]]:
    """({repository: ref}, the file read) of --lock-file; ({}, None) when the default one does not exist."""
    from containergen_cli import export  # pylint: disable=import-outside-toplevel
    if not any(os.path.isfile(args.lock_file + ext) for ext in (".json", ".yaml", "")):
        return {}, None
    return registry_verbs._entries(args.lock_file), export.lock_path(args.lock_file)  # pylint: disable=protected-access


def _published(entries: t.Mapping[str, str], repository: str) -> t.Dict[str, t.Optional[str]]:
    """{"revision", "digest"} of repository's lock file entry (None, None when it has none)."""
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    ref = entries.get(repository)
    if not ref:
        return {"revision": None, "digest": None}
    _repo, tag, digest = _publish.parse_lock_ref(ref)
    return {"revision": tag, "digest": digest}


def _registry(args: argparse.Namespace) -> t.Any:
    return registry_verbs.registry_client(args.registry, args.namespace, args.authfile)


def _unreachable(args: argparse.Namespace, exc: BaseException) -> core.CLIError:
    output = getattr(exc, "output", "") or str(exc)
    messages = re.findall(r'msg="((?:[^"\\]|\\.)*)"', output)  # skopeo's own message, without its log prefix
    text = " ".join((messages[-1].replace('\\"', '"') if messages else output).split())
    return core.CLIError("--registry %s: cannot read the registry (--registry-status): %s" % (
        args.registry, text[:300]))


def registry_state(registry: t.Any, name: str, revision: t.Optional[str], digest: t.Optional[str]) -> str:
    """Whether the registry still holds the locked revision: present, moved (the tag names another digest),
    missing, or unpublished (no lock file entry)."""
    if not revision:
        return "unpublished"
    info = registry.inspect(name, revision)
    if info is None:
        return "missing"
    return "present" if info["digest"] == digest else "moved"


def _local_state(info: t.Optional[t.Mapping[str, t.Any]], fingerprint: str) -> str:
    from ansible_collections.containergen.images.plugins.module_utils import _contract  # pylint: disable=import-outside-toplevel
    if info is None:
        return "absent"
    return "up to date" if (info.get("labels") or {}).get(_contract.FINGERPRINT_LABEL) == fingerprint else "differs"


class _ListedEngine(object):
    """The engine, its store listed once: the plan and the local status read the same listing."""

    def __init__(self, engine: t.Any, images: t.Dict[str, t.Any]) -> None:
        self._engine, self._images = engine, images

    def list_images(self, run: t.Any) -> t.Dict[str, t.Any]:  # pylint: disable=unused-argument
        return self._images

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._engine, name)


def _short(digest: t.Optional[str]) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "-"


def list_images(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _engines, _pipeline  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import CommandError, Runner  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError  # pylint: disable=import-outside-toplevel
    core.check_args("list", args)
    registry_verbs.check("list", args, _status_checks())
    entries, lock_file = lock_entries(args)
    options = core.plan_options(args)
    runner = Runner()
    engine = _engines.make_engine(options)
    store = engine.list_images(runner)
    try:
        planned = _pipeline.plan_images(options, runner=runner, engine=_ListedEngine(engine, store))
    except DefinitionError as exc:
        raise core.CLIError(core.definition_problems(exc.problems))
    registry = _registry(args) if args.registry_status else None
    images = []
    for item in planned["images"]:
        row = {key: item[key] for key in ("name", "parent", "status", "ref")}
        row["local"] = _local_state(store.get(item["ref"]), item["fingerprint"])
        row["repository"] = "%s/%s/%s" % (args.registry, args.namespace.strip("/"), item["name"])
        row.update(_published(entries, row["repository"]))
        row["registry"] = None
        if registry is not None:
            try:
                row["registry"] = registry_state(registry, item["name"], row["revision"], row["digest"])
            except CommandError as exc:
                raise _unreachable(args, exc)
        images.append(row)
    header = ["image", "parent", "local", "build", "revision", "digest"] + (["registry"] if registry else []) \
        + ["reference"]
    rows = [header] + [[row["name"], row["parent"] or "(%s)" % item["from"], row["local"], row["status"] or "-",
                        row["revision"] or "-", _short(row["digest"])]
                       + ([row["registry"]] if registry else []) + [row["ref"]]
                       for row, item in zip(images, planned["images"])]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths)) + "  " + row[-1] for row in rows]
    return {"images": images, "lock_file": lock_file, "registry_checked": registry is not None,
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


def layers(run: t.Any, engine: str, docker_host: str, image_id: str, ref: str, parent_ref: t.Optional[str]
           ) -> t.List[t.Dict[str, t.Any]]:
    """[{"digest" (diff ID), "size" (uncompressed bytes; None when the store does not say), "own"}] of ref,
    bottom first. own: the layers above its parent's (None when the parent is not in the store)."""
    from ansible_collections.containergen.images.plugins.module_utils import _sizes  # pylint: disable=import-outside-toplevel
    tool = [_sizes.STORES[engine][0]] + (["-H", docker_host] if engine == "docker" and docker_host else [])

    def diff_ids(target: str, check: bool) -> t.Optional[t.List[str]]:
        rc, out, _err = run(tool + ["image", "inspect", target], check=check)
        if rc != 0:
            return None
        try:
            items = json.loads(out or "[]")
        except ValueError:
            raise core.CLIError("%s image inspect %s: output is not JSON" % (tool[0], target))
        return list(((items[0] if items else {}).get("RootFS") or {}).get("Layers") or [])

    mine = diff_ids(ref, True) or []
    theirs = diff_ids(parent_ref, False) if parent_ref else None
    shared = len(theirs) if theirs is not None and mine[:len(theirs)] == theirs else None
    sizes: t.Dict[str, int] = {}
    if engine == "buildah":  # containers/storage records each layer's size; read in place, read-only
        store = _sizes.OverlayStore.find(run)
        if store is not None:
            sizes = {digest: size for digest, (_layer, size) in store.chain(image_id).items()}
    return [{"digest": digest, "size": sizes.get(digest), "own": None if shared is None else number >= shared}
            for number, digest in enumerate(mine)]


def revisions(args: argparse.Namespace, entries: t.Mapping[str, str], registry: t.Any = None
              ) -> t.Tuple[t.List[t.Dict[str, t.Any]], t.Optional[t.List[str]]]:
    """The lock file entries of args.image (one per registry/namespace it was published to) and, with a
    registry client, its TAG-N revisions there (newest first)."""
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import CommandError  # pylint: disable=import-outside-toplevel
    mine = "%s/%s/%s" % (args.registry, args.namespace.strip("/"), args.image)
    found = []
    for repository, ref in sorted(entries.items()):
        if repository.rsplit("/", 1)[-1] != args.image:
            continue
        _repo, tag, digest = _publish.parse_lock_ref(ref)
        found.append({"repository": repository, "revision": tag, "digest": digest, "registry": None})
    if registry is None:
        return found, None
    try:
        for entry in found:
            if entry["repository"] == mine:
                entry["registry"] = registry_state(registry, args.image, entry["revision"], entry["digest"])
        tags = registry.list_tags(args.image)
    except CommandError as exc:
        raise _unreachable(args, exc)
    return found, ["%s-%d" % (args.tag, number) for number in reversed(_publish.revisions(tags, args.tag))]


def _own_size(found: t.Sequence[t.Mapping[str, t.Any]]) -> t.Optional[int]:
    """Bytes of the image's own layers; None when which are its own or a size is unknown."""
    own = [layer for layer in found if layer["own"]]
    if any(layer["own"] is None or layer["size"] is None for layer in found):
        return None
    return sum(layer["size"] for layer in own)


def show(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _contract, _engines  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # pylint: disable=import-outside-toplevel
    core.check_args("show", args)
    registry_verbs.check("show", args, _status_checks())
    entries, lock_file = lock_entries(args)
    runner = Runner()
    images = _engines.make_engine(core.plan_options(args)).list_images(runner)
    planned, _profile, options = _planned(args, {ref: info["id"] for ref, info in images.items()})
    info = images.get(planned.ref)
    if info is None:
        raise core.CLIError("%s: no local image %s (build it first)" % (args.image, planned.ref))
    labels = dict(info.get("labels") or {})
    try:
        packages = json.loads(labels.get(_contract.MANIFEST_LABEL) or "{}")
    except ValueError:
        packages = {}
    found = layers(runner, options.engine, args.docker_host, info.get("id") or "", planned.ref, planned.from_ref)
    locked, tags = revisions(args, entries, _registry(args) if args.registry_status else None)
    result = {"image": args.image, "ref": planned.ref, "id": info.get("id"), "size": info.get("size"),
              "labels": labels, "packages": packages,
              "up_to_date": labels.get(_contract.FINGERPRINT_LABEL) == planned.fingerprint,
              "parent": planned.from_ref, "layers": found,
              "own_size": _own_size(found),
              "lock_file": lock_file, "revisions": locked, "registry_revisions": tags}
    lines = ["%s  %s" % (planned.ref, (info.get("id") or "")[:12]),
             "size %.1f MB, %s" % ((info.get("size") or 0) / 1e6,
                                   "up to date" if result["up_to_date"] else "differs from the definitions"),
             "labels:"]
    lines += ["  %s=%s" % (key, value) for key, value in sorted(labels.items()) if key != _contract.MANIFEST_LABEL]
    lines.append("layers (%d, * = its own, above %s):" % (len(found), planned.from_ref))
    lines += ["  %s %s  %s" % ("*" if layer["own"] else " ", _short(layer["digest"]),
                               "%.1f MB" % (layer["size"] / 1e6) if layer["size"] is not None else "size unknown")
              for layer in found]
    lines.append("revisions (lock file %s):" % (lock_file or "none"))
    lines += ["  %s:%s  %s%s" % (entry["repository"], entry["revision"], _short(entry["digest"]),
                                 "  " + entry["registry"] if entry["registry"] else "") for entry in locked]
    if tags is not None:
        lines.append("registry revisions: %s" % (", ".join(tags) or "none"))
    lines.append("packages (%d):" % len(packages))
    width = max([len(name) for name in packages] + [7])
    lines += ["  %-*s  %s" % (width, name, version) for name, version in sorted(packages.items())]
    result["table"] = "\n".join(lines)
    return result


# ---- graph ---------------------------------------------------------------------------------------------

GRAPH_FORMATS = ("dot", "svg")
# Fill colours of the SVG picture, by what a build would do with the image.
COLOURS = {"up to date": "#d9f2d9", "build": "#fff2cc"}


def _dot_id(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def graph_nodes(planned: t.Dict[str, t.Any]) -> t.Tuple[t.List[t.Dict[str, t.Any]], t.List[t.List[str]]]:
    """Nodes (the external bases first, then the images in build order) and edges [from, to] of a plan."""
    nodes, edges, bases = [], [], []
    for item in planned["images"]:
        if not item["parent"] and item["from"] not in bases:
            bases.append(item["from"])
    nodes += [{"name": base, "kind": "base", "status": "", "ref": base, "parent": None} for base in bases]
    for item in planned["images"]:
        nodes.append({"name": item["name"], "kind": "image", "status": item["status"] or "", "ref": item["ref"],
                      "parent": item["parent"] or item["from"]})
        edges.append([item["parent"] or item["from"], item["name"]])
    return nodes, edges


def to_dot(nodes: t.List[t.Dict[str, t.Any]], edges: t.List[t.List[str]], profile: str) -> str:
    lines = ["digraph containergen {", "  // profile %s" % profile, "  rankdir=LR;",
             '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="sans-serif"];']
    for node in nodes:
        if node["kind"] == "base":
            lines.append("  %s [shape=ellipse, style=dashed];" % _dot_id(node["name"]))
        else:
            label = node["name"] + ("\\n" + node["status"] if node["status"] else "")
            colour = COLOURS.get(node["status"].split(" (")[0], "white")
            lines.append("  %s [label=%s, fillcolor=%s, tooltip=%s];" % (
                _dot_id(node["name"]), _dot_id(label).replace("\\\\n", "\\n"), _dot_id(colour), _dot_id(node["ref"])))
    lines += ["  %s -> %s;" % (_dot_id(a), _dot_id(b)) for a, b in edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(nodes: t.List[t.Dict[str, t.Any]], edges: t.List[t.List[str]]) -> str:
    """The tree drawn left to right: a column per depth, a row per leaf, a parent centred on its children.
    Every image has one parent, so this tidy layout never crosses edges."""
    children: t.Dict[str, t.List[str]] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
    by_name = {node["name"]: node for node in nodes}
    place: t.Dict[str, t.Tuple[int, float]] = {}
    rows = [0]

    def lay(name: str, depth: int) -> float:
        kids = children.get(name, [])
        if kids:
            ys = [lay(kid, depth + 1) for kid in kids]
            row = (ys[0] + ys[-1]) / 2.0
        else:
            row = float(rows[0])
            rows[0] += 1
        place[name] = (depth, row)
        return row

    for node in nodes:
        if node["parent"] is None:
            lay(node["name"], 0)
    char, height, gap_x, gap_y, margin = 7.2, 34, 48, 12, 16
    widths = {name: max(len(name), len(by_name[name]["status"])) * char + 20 for name in place}
    depth_count = max(depth for depth, _row in place.values()) + 1
    column = [max([widths[name] for name, (depth, _row) in place.items() if depth == d] + [0]) for d in range(depth_count)]
    lefts = [margin + sum(column[:d]) + gap_x * d for d in range(depth_count)]
    width = lefts[-1] + column[-1] + margin
    total = margin * 2 + rows[0] * (height + gap_y) - gap_y

    def box(name: str) -> t.Tuple[float, float, float]:
        depth, row = place[name]
        return lefts[depth], margin + row * (height + gap_y), widths[name]

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">' % (
               width, total, width, total),
           "<style>text{font-family:sans-serif;font-size:12px}.status{fill:#555;font-size:10px}</style>"]
    for parent, child in edges:
        x1, y1, w1 = box(parent)
        x2, y2, _w2 = box(child)
        start, end, middle = (x1 + w1, y1 + height / 2.0), (x2, y2 + height / 2.0), (x1 + w1 + x2) / 2.0
        out.append('<path class="edge" d="M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f" fill="none" stroke="#666"/>' % (
            start[0], start[1], middle, start[1], middle, end[1], end[0], end[1]))
    for name in place:
        x, y, w = box(name)
        node = by_name[name]
        dashed = ' stroke-dasharray="4 3"' if node["kind"] == "base" else ""
        fill = COLOURS.get(node["status"].split(" (")[0], "#ffffff")
        out.append('<g class="node" id=%s><title>%s</title>' % (quoteattr("node-" + name), escape(node["ref"])))
        out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%d" rx="6" fill="%s" stroke="#333"%s/>' % (
            x, y, w, height, fill, dashed))
        if node["status"]:
            out.append('<text x="%.1f" y="%.1f">%s</text>' % (x + 10, y + 15, escape(name)))
            out.append('<text class="status" x="%.1f" y="%.1f">%s</text>' % (x + 10, y + 28, escape(node["status"])))
        else:
            out.append('<text x="%.1f" y="%.1f">%s</text>' % (x + 10, y + 21, escape(name)))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def graph(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    if args.output:  # before anything runs
        problem = core._collection_utils()[0].writable_dir(os.path.dirname(os.path.abspath(args.output)))  # pylint: disable=protected-access
        if problem:
            raise core.UsageError("--output %s: %s" % (args.output, problem))
    planned = core.plan(args)
    nodes, edges = graph_nodes(planned)
    text = to_dot(nodes, edges, planned["profile"]) if args.format == "dot" else to_svg(nodes, edges)
    result = {"profile": planned["profile"], "format": args.format, "nodes": nodes, "edges": edges,
              args.format: text}
    if args.output:
        core.write_output(args.output, text)
        result["output"] = args.output
        result["table"] = "wrote the graph of %d images (%s) to %s" % (len(edges), args.format, args.output)
    else:
        result["table"] = text.rstrip("\n")
    return result


# ---- diff ----------------------------------------------------------------------------------------------

DIFF_OPERANDS = ("the newer image; each of A and B is local:NAME[:TAG] or local:REFERENCE (the engine's store; "
                 "containers-storage:REFERENCE too), registry:NAME:TAG (--registry/--namespace), "
                 "docker://HOST[:PORT]/NAMESPACE/NAME:TAG, or lock:PATH:NAME (an entry of a lock file)")


def _diff_checks() -> t.List[t.Tuple[str, str, t.Callable[[t.Any], t.Optional[str]], bool]]:
    options = core._collection_utils()[0]  # pylint: disable=protected-access
    return [("A", "a", _operand_problem, False), ("B", "b", _operand_problem, False),
            ("--registry", "registry", options.registry_address, False),
            ("--namespace", "namespace", options.repository_path, False),
            ("--authfile", "authfile", lambda v: None if v == core.DEFAULT_AUTHFILE else options.existing_file(v), False),
            ("--docker-host", "docker_host", lambda v: None if not v or re.match(r"(unix|tcp|ssh|npipe)://\S+\Z", v)
             else "must be a Docker daemon URL such as unix:///run/docker.sock", False),
            ("--local-namespace", "local_namespace", options.local_namespace, False)]


def _operand_problem(value: str) -> t.Optional[str]:
    try:
        parse_operand(value)
    except ValueError as exc:
        return str(exc)
    return None


def parse_operand(value: str) -> t.Tuple[str, t.Tuple[str, ...]]:
    """("local", (reference,)) | ("registry", (name, tag)) | ("docker", (host, namespace, name, tag))
    | ("lock", (path, name)); ValueError saying what is expected."""
    validate = core._collection_utils()[1]  # pylint: disable=protected-access
    kind, _sep, rest = value.partition(":")
    if kind in ("local", "containers-storage") and rest:
        return "local", (rest,)
    if kind == "registry" and rest:
        name, _sep, tag = rest.partition(":")
        if validate.image_name(name) or (tag and validate.tag(tag)):
            raise ValueError("must be registry:NAME:TAG, such as registry:keystone:latest-3")
        return "registry", (name, tag or "latest")
    if kind == "docker" and rest.startswith("//"):
        host, namespace, name, tag = registry_verbs.split_reference(rest[2:], "")
        if not host or validate.image_name(name) or validate.tag(tag):
            raise ValueError("must be docker://HOST[:PORT]/NAMESPACE/NAME:TAG")
        return "docker", (host, namespace, name, tag)
    if kind == "lock" and rest:
        path, _sep, name = rest.rpartition(":")
        if not path or validate.image_name(name):
            raise ValueError("must be lock:PATH:NAME, such as lock:/var/tmp/containergen/images.lock:keystone")
        return "lock", (path, name)
    raise ValueError("must start with local:, containers-storage:, registry:, docker:// or lock:")


def _local_reference(reference: str, args: argparse.Namespace) -> str:
    if "/" not in reference:
        reference = "%s/%s" % (args.local_namespace.rstrip("/"), reference)
    return reference if ":" in reference.rsplit("/", 1)[-1] else reference + ":latest"


def _read_operand(value: str, args: argparse.Namespace, local: t.Callable[[], t.Dict[str, t.Any]]
                  ) -> t.Dict[str, t.Any]:
    """{"spec", "ref", "digest" or "id", "labels"} of one operand."""
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    kind, parts = parse_operand(value)
    if kind == "local":
        ref = _local_reference(parts[0], args)
        info = local().get(ref)
        if info is None:
            raise core.CLIError("%s: no local image %s" % (value, ref))
        return {"spec": value, "ref": ref, "id": info.get("id"), "labels": dict(info.get("labels") or {})}
    if kind == "lock":
        path, name = parts
        entries = registry_verbs._entries(path)  # pylint: disable=protected-access
        found = [ref for repo, ref in sorted(entries.items()) if repo.rsplit("/", 1)[-1] == name]
        if not found:
            raise core.CLIError("%s: no entry %s in the lock file %s" % (value, name, path))
        repo, tag, digest = _publish.parse_lock_ref(found[0])
        host, namespace, name, _tag = registry_verbs.split_reference(repo, "")
        registry = registry_verbs.registry_client(host, namespace, args.authfile)
        info = _inspect_digest(registry, name, digest)
        if info is None:
            raise core.CLIError("%s: %s@%s (%s) is no longer in the registry" % (value, repo, digest, tag))
        return {"spec": value, "ref": found[0], "digest": digest, "labels": info}
    if kind == "registry":
        host, namespace, (name, tag) = args.registry, args.namespace, parts
    else:
        host, namespace, name, tag = parts
    registry = registry_verbs.registry_client(host, namespace, args.authfile)
    info = registry.inspect(name, tag)
    if info is None:
        if not registry.list_tags(name):
            raise core.CLIError("%s: no such repository %s in the registry" % (value, registry.repo(name)))
        raise core.CLIError("%s: %s:%s does not exist" % (value, registry.repo(name), tag))
    return {"spec": value, "ref": "%s:%s" % (registry.repo(name), tag), "digest": info["digest"],
            "labels": info["labels"]}


def _inspect_digest(registry: t.Any, name: str, digest: str) -> t.Optional[t.Dict[str, str]]:
    """The labels of name@digest, or None when the registry no longer has it."""
    from ansible_collections.containergen.images.plugins.module_utils._command import CommandError  # pylint: disable=import-outside-toplevel
    argv = [registry.skopeo, "inspect"] + registry._flags() + ["docker://%s@%s" % (registry.repo(name), digest)]  # pylint: disable=protected-access
    rc, out, err = registry.run(argv, check=False)
    if rc != 0:
        if re.search(r"manifest unknown|MANIFEST_UNKNOWN|name unknown|NAME_UNKNOWN|not found", out + err):
            return None
        raise CommandError(argv, rc, out + err)
    return json.loads(out).get("Labels") or {}


def diff_images(a: str, b: str, args: argparse.Namespace) -> t.Dict[str, t.Any]:
    """Packages added, removed and updated from A to B (their version manifests, as report compares two
    revisions): {"a", "b", "added", "removed", "updated", "summary", "table"}."""
    from ansible_collections.containergen.images.plugins.module_utils import _contract, _engines, _publish  # pylint: disable=import-outside-toplevel
    from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # pylint: disable=import-outside-toplevel
    store: t.Dict[str, t.Dict[str, t.Any]] = {}

    def local() -> t.Dict[str, t.Any]:
        if not store:
            store.update(_engines.make_engine({"engine": args.engine, "docker_host": args.docker_host or None})
                         .list_images(Runner()))
        return store

    sides = [_read_operand(value, args, local) for value in (a, b)]
    for side in sides:
        if _contract.MANIFEST_LABEL not in side["labels"]:
            raise core.CLIError("%s: %s has no %s label (not built by containergen)"
                                % (side["spec"], side["ref"], _contract.MANIFEST_LABEL))
    try:
        diff = _publish.manifest_diff(sides[0]["labels"], sides[1]["labels"])
    except ValueError as exc:
        raise core.CLIError("%s: %s label is not JSON: %s" % (a, _contract.MANIFEST_LABEL, exc))
    summary = "+%d -%d ~%d packages (%s -> %s)" % (len(diff["added"]), len(diff["removed"]), len(diff["updated"]),
                                                   sides[0]["ref"], sides[1]["ref"])
    lines = [summary]
    lines += ["  + %s %s" % item for item in sorted(diff["added"].items())]
    lines += ["  - %s %s" % item for item in sorted(diff["removed"].items())]
    lines += ["  ~ %s %s -> %s" % (name, old, new) for name, (old, new) in sorted(diff["updated"].items())]
    shown = [{key: value for key, value in side.items() if key != "labels"} for side in sides]
    return dict(diff, a=shown[0], b=shown[1], summary=summary, same=not any(diff.values()), table="\n".join(lines))


def diff(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    registry_verbs.check("diff", args, _diff_checks())
    return diff_images(args.a, args.b, args)
