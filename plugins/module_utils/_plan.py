# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Plan: the image graph, the selection, the build order, rendered build steps and fingerprints.

A plan is pure data computed from definitions and a profile; nothing here runs a command.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex

from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    TCIB_KEYS, DefinitionError, resolve_packages,
)

try:
    import jinja2
    import jinja2.sandbox
except ImportError:  # pragma: no cover - reported by the module
    jinja2 = None

# Bumped whenever what a build writes into an image changes (steps, labels), so that images built
# by an older version are not reused as they are.
FINGERPRINT_VERSION = 4
LABEL_PREFIX = "containergen."

# TripleO's role defaults for every tcib_* key, so that templates referring to unset keys render.
_EMPTY = {"str": "", "list[str]": [], "dict[str, scalar]": {}, "actions": [], "packages": []}


class PlannedImage(object):
    """One image of a plan, ready to build: everything the engine needs and its fingerprint."""

    def __init__(self, name, parent, ref, from_ref, steps, packages, files, fingerprint, depth):
        self.name = name
        self.parent = parent
        self.ref = ref
        self.from_ref = from_ref
        self.steps = steps
        self.packages = packages
        self.files = files
        self.fingerprint = fingerprint
        self.depth = depth

    def as_dict(self):
        return {
            "name": self.name, "parent": self.parent, "ref": self.ref, "from": self.from_ref,
            "depth": self.depth, "fingerprint": self.fingerprint, "packages": self.packages,
            "steps": [[verb, arg] for verb, arg in self.steps], "files": self.files,
        }


def image_ref(name, namespace, prefix, tag):
    """Reference of an image as built locally: NAMESPACE/PREFIXNAME:TAG."""
    return "%s/%s%s:%s" % (namespace.rstrip("/"), prefix, name, tag)


def select(images, include=None, exclude=None):
    """Names selected for building.

    include: names or regular expressions (full match); each pulls in its ancestors. Empty means all.
    exclude: names or regular expressions; each also removes its descendants.
    """
    def matches(pattern):
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise DefinitionError(["selection: %r is not a valid regular expression: %s" % (pattern, exc)])
        found = {name for name in images if name == pattern or regex.fullmatch(name)}
        if not found:
            raise DefinitionError(["selection: %r matches no image (known: %s)" % (pattern, ", ".join(sorted(images)))])
        return found

    if include:
        chosen = set()
        for pattern in include:
            for name in matches(pattern):
                while name is not None and name not in chosen:
                    chosen.add(name)
                    name = images[name].parent
    else:
        chosen = set(images)
    removed = set()
    for pattern in exclude or []:
        removed |= matches(pattern)
    if removed:
        chosen = {name for name in chosen if not (set(ancestry(images, name)) & removed)}
    return chosen


def ancestry(images, name):
    """name and its ancestors, nearest first."""
    chain = []
    while name is not None:
        chain.append(name)
        name = images[name].parent
    return chain


def build_order(images, names):
    """Parents before children; siblings by name. Returns [(name, depth)]."""
    depth = {name: len(ancestry(images, name)) - 1 for name in names}
    return sorted(((name, depth[name]) for name in names), key=lambda item: (item[1], item[0]))


def _version_key(value):
    return tuple(int(part) for part in re.findall(r"\d+", str(value)))


_VERSION_OPERATORS = {
    "==": lambda a, b: a == b, "eq": lambda a, b: a == b, "!=": lambda a, b: a != b, "ne": lambda a, b: a != b,
    "<": lambda a, b: a < b, "lt": lambda a, b: a < b, "<=": lambda a, b: a <= b, "le": lambda a, b: a <= b,
    ">": lambda a, b: a > b, "gt": lambda a, b: a > b, ">=": lambda a, b: a >= b, "ge": lambda a, b: a >= b,
}


def _version_test(value, other, operator="=="):
    """Ansible's `version` test, for the numeric versions TCIB files compare (tcib_release)."""
    return _VERSION_OPERATORS[operator](_version_key(value), _version_key(other))


def _ternary(value, true_value, false_value, none_value=None):
    if value is None and none_value is not None:
        return none_value
    return true_value if value else false_value


def _renderer():
    """A sandboxed Jinja environment with the few Ansible filters and tests TripleO's TCIB files use."""
    if jinja2 is None:
        raise DefinitionError(["Jinja2 is required to render image definitions"])
    env = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
    env.filters.update({"ternary": _ternary, "to_json": json.dumps,
                        "bool": lambda v: str(v).lower() in ("1", "true", "yes", "on")})
    env.tests.update({"version": _version_test, "version_compare": _version_test})
    return env


def _render(env, image, key, value, context):
    if isinstance(value, list):
        return [_render(env, image, key, item, context) for item in value]
    if isinstance(value, dict):
        return {k: _render(env, image, key, v, context) for k, v in value.items()}
    if isinstance(value, bool):  # TripleO's template writes values through to_json: true, not True
        return "true" if value else "false"
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    try:
        return env.from_string(value).render(context)
    except jinja2.TemplateError as exc:
        raise DefinitionError(["%s: template error: %s" % (image.where(key), exc)])


def _split_words(image, key, value):
    """ENTRYPOINT/CMD as TripleO writes them: a string split on white space, or a list."""
    if isinstance(value, list):
        return value
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise DefinitionError(["%s: cannot split into words: %s" % (image.where(key), exc)])


def _source_files(image, key, arg):
    """Sources of an ADD/COPY step, relative to the image's directory; must exist."""
    words = arg if isinstance(arg, list) else shlex.split(arg)
    words = [w for w in words if not w.startswith("--")]
    if len(words) < 2:
        raise DefinitionError(["%s: %s needs at least one source and a destination" % (image.where(key), key)])
    sources = []
    for source in words[:-1]:
        path = os.path.normpath(os.path.join(image.directory, source))
        if not os.path.exists(path):
            raise DefinitionError(["%s: source %r does not exist (looked in %s)" % (image.where(key), source, path)])
        sources.append(path)
    return sources, words[-1]


def _hash_path(path):
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode() + b"\0")
                digest.update(_hash_path(full).encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    mode = os.stat(path).st_mode & 0o777
    digest.update(b"mode:%o" % mode)
    return digest.hexdigest()


def check_template_vars(template_vars):
    """Extra template variables (tripleoclient's --tcib-extras): tcib_* names that are not image keys."""
    problems = []
    for key in template_vars or {}:
        if not key.startswith("tcib_"):
            problems.append("template variable %r: must start with tcib_" % key)
        elif key in TCIB_KEYS:
            problems.append("template variable %r is an image key: set it in the definitions or --extra-config" % key)
    if problems:
        raise DefinitionError(problems)


def render_steps(image, profile, packages, extra_labels=None, template_vars=None):
    """The ordered build steps of one image, in the order TripleO's Containerfile template uses.

    Returns (steps, files): steps is [(verb, argument)], files maps each copied source to its hash.
    """
    env = _renderer()
    data = {key: _EMPTY.get(kind, "") for key, kind in TCIB_KEYS.items()}
    data.update(image.data)
    context = dict(template_vars or {})
    context.update(data)
    context.update({
        "tcib_distro": profile["distro"], "tcib_release": str(profile["release"]),
        "tcib_family": profile["family"], "tcib_profile": profile["name"],
        "tcib_rhel_modules": {}, "tcib_meta": {"name": image.name},
        "tcib_package_list": " ".join(packages),
        "tcib_install": _render(env, image, "tcib_packages", profile["package_manager"]["install"],
                                {"packages": " ".join(packages)}) if packages else "true",
    })

    def value(key):
        return _render(env, image, key, data[key], context)

    steps = []
    labels = {k: str(v) for k, v in value("tcib_labels").items()}
    labels.update(extra_labels or {})
    if labels:
        steps.append(("label", labels))
    for key, val in value("tcib_envs").items():
        steps.append(("env", "%s=%s" % (key, val)))
    for key, val in value("tcib_args").items():
        steps.append(("arg", "%s=%s" % (key, val)))
    steps.append(("user", "root"))
    steps.extend(("onbuild", item) for item in value("tcib_onbuilds"))
    steps.extend(("volume", item) for item in value("tcib_volumes"))
    if data["tcib_workdir"]:
        steps.append(("workdir", value("tcib_workdir")))
    transfers = [("tcib_adds", item) for item in value("tcib_adds")]
    steps.extend(("add", item) for item in value("tcib_adds"))
    steps.extend(("expose", item) for item in value("tcib_exposes"))
    transfers += [("tcib_copies", item) for item in value("tcib_copies")]
    steps.extend(("copy", item) for item in value("tcib_copies"))
    if data["tcib_shell"]:
        steps.append(("shell", value("tcib_shell")))
    steps.extend(("run", item) for item in value("tcib_runs"))
    for item in data["tcib_actions"]:
        verb, arg = next(iter(item.items()))
        arg = str(arg) if isinstance(arg, int) else arg
        steps.append((verb, _render(env, image, "tcib_actions", arg, context)))
        if verb in ("add", "copy"):
            transfers.append(("tcib_actions", steps[-1][1]))
    for key, verb in (("tcib_healthcheck", "healthcheck"), ("tcib_stopsignal", "stopsignal")):
        if data[key]:
            steps.append((verb, value(key)))
    for key, verb in (("tcib_entrypoint", "entrypoint"), ("tcib_cmd", "cmd")):
        if data[key]:
            steps.append((verb, _split_words(image, key, value(key))))
    if data["tcib_user"]:
        steps.append(("user", value("tcib_user")))

    files = {}
    for key, arg in transfers:
        for source in _source_files(image, key, arg)[0]:
            files[os.path.relpath(source, image.directory)] = _hash_path(source)
    return steps, files


def fingerprint(payload):
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def profile_identity(profile):
    """The parts of a profile that shape an image (not where the file lies)."""
    return {k: v for k, v in profile.items() if k not in ("path", "description", "transient_errors")}


def make_plan(images, profile, base_ids=None, include=None, exclude=None, namespace="localhost/containergen",
              prefix="", tag="latest", extra_labels=None, template_vars=None):
    """Plan the selected images. base_ids maps an external base reference to its image ID
    (or a stand-in identity when it is not present yet).

    Returns a list of PlannedImage in build order.
    """
    base_ids = base_ids or {}
    check_template_vars(template_vars)
    chosen = select(images, include, exclude)
    plan, by_name, problems = [], {}, []
    for name, depth in build_order(images, chosen):
        image = images[name]
        try:
            packages = resolve_packages(image, profile)
            steps, files = render_steps(image, profile, packages, extra_labels, template_vars)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        if image.parent is None or image.data.get("tcib_from"):
            from_ref = image.data.get("tcib_from") or profile["base"]["image"]
            parent_identity = {"base": from_ref, "id": base_ids.get(from_ref, "absent")}
        else:
            parent_plan = by_name.get(image.parent)
            if parent_plan is None:  # parent failed to render: reported already
                continue
            from_ref = parent_plan.ref
            parent_identity = {"parent": parent_plan.fingerprint}
        payload = {
            "v": FINGERPRINT_VERSION, "name": name, "steps": steps, "packages": packages,
            "files": files, "profile": profile_identity(profile), "from": parent_identity,
        }
        if template_vars:  # only when given, so that fingerprints without them stay as they were
            payload["template_vars"] = template_vars
        planned = PlannedImage(name, image.parent if image.parent in chosen else None,
                               image_ref(name, namespace, prefix, tag), from_ref, steps, packages, files,
                               fingerprint(payload), depth)
        by_name[name] = planned
        plan.append(planned)
    if problems:
        raise DefinitionError(problems)
    return plan


def plan_table(plan, status=None):
    """A plain text table of a plan: order, image, parent, fingerprint (short), and status."""
    status = status or {}
    rows = [("#", "image", "parent", "fingerprint", "packages", "status")]
    for index, item in enumerate(plan, 1):
        rows.append((str(index), "  " * item.depth + item.name, item.parent or "(%s)" % item.from_ref,
                     item.fingerprint[:12], str(len(item.packages)), status.get(item.name, "")))
    return format_table(rows)


def format_table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
