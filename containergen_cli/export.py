"""`containergen export`: deploy-tool parameters that pin the published set, from the lock file.

Each lock file entry maps a repository to registry/namespace/name:TAG-N@sha256:DIGEST; revisions are
per image, so each image is pinned on its own (README, "Deploying these images")."""

from __future__ import annotations

import argparse
import json
import os
import re
import typing as t

from containergen_cli import core

FORMATS = ("tripleo", "kolla-ansible")
# Parent images: no service runs them, so no deploy tool has a parameter for them (the synthetic
# PARENT-shared[-N] images of shared layers included).
PARENTS = re.compile(r"^(base|os|.*-base|.*-shared(-[0-9]+)?)$")
# TripleO's parameter names where they are not Container + the image name in CamelCase + Image.
TRIPLEO_NAMES = {
    "mariadb": "ContainerMysqlImage",
    "neutron-server": "ContainerNeutronApiImage",
    "placement-api": "ContainerPlacementImage",
    "haproxy": "ContainerHAProxyImage",
    "cron": "ContainerCrondImage",
}


def add_arguments(parser: argparse.ArgumentParser, work_dir: str) -> None:
    parser.add_argument("--format", dest="format", required=True, choices=FORMATS,
                        help="tripleo: a parameter_defaults environment file (Container<Service>Image); "
                             "kolla-ansible: globals.yml variables (<service>_image_full)")
    parser.add_argument("--lock-file", dest="lock_file", default=os.path.join(work_dir, "images.lock"),
                        help="the lock file written by publish, path without extension (default: %(default)s)")
    parser.add_argument("--prefix", default="",
                        help="image name prefix to strip before mapping, such as openstack- (default: none)")
    parser.add_argument("--output", default=None, help="write the parameters to this file (default: stdout)")
    parser.add_argument("--json", action="store_true", help="print the parameters as one JSON document")


def tripleo_name(image: str) -> str:
    return TRIPLEO_NAMES.get(image) or "Container%sImage" % "".join(part.capitalize() for part in re.split(r"[-_.]", image))


def kolla_name(image: str) -> str:
    return re.sub(r"[-.]", "_", image) + "_image_full"


def parameters(entries: t.Mapping[str, str], fmt: str, prefix: str = "") -> t.Dict[str, str]:
    """Deploy-tool parameter -> pinned reference, for the service images of the lock file entries."""
    result = {}
    for repository, ref in sorted(entries.items()):
        image = repository.rsplit("/", 1)[-1]
        if prefix and image.startswith(prefix):
            image = image[len(prefix):]
        if PARENTS.match(image):
            continue
        result[tripleo_name(image) if fmt == "tripleo" else kolla_name(image)] = ref
    return result


def render(params: t.Mapping[str, str], fmt: str, source: str) -> str:
    """YAML text (values as JSON strings, which YAML reads as they are)."""
    head = "---\n# containergen export --format %s, from %s\n" % (fmt, source)
    if fmt == "tripleo":
        return head + "parameter_defaults:\n" + "".join("  %s: %s\n" % (key, json.dumps(value))
                                                        for key, value in params.items())
    return head + "".join("%s: %s\n" % (key, json.dumps(value)) for key, value in params.items())


def lock_path(base: str) -> str:
    """The lock file to read: BASE.json, else BASE.yaml, else BASE itself when it has an extension."""
    for candidate in (base + ".json", base + ".yaml", base):
        if os.path.isfile(candidate):
            return candidate
    raise core.CLIError("--lock-file %s: no lock file (%s.json or %s.yaml): publish writes it" % (base, base, base))


def export(args: argparse.Namespace) -> t.Dict[str, t.Any]:
    from ansible_collections.containergen.images.plugins.module_utils import _publish  # pylint: disable=import-outside-toplevel
    path = lock_path(args.lock_file)
    try:
        entries = _publish.read_lock_file(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise core.CLIError("--lock-file %s: not a lock file: %s" % (path, " ".join(str(exc).split())))
    params = parameters(entries, args.format, args.prefix)
    if not params:
        raise core.CLIError("--lock-file %s: no service image in it" % path)
    text = render(params, args.format, path)
    result = {"format": args.format, "lock_file": path, "parameters": params}
    if args.output:
        core.write_output(args.output, text)
        result["output"] = args.output
        result["table"] = "wrote %d parameters to %s" % (len(params), args.output)
    else:
        result["table"] = text.rstrip("\n")
    return result
