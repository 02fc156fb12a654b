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
import stat
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import _contract, _omit, _validate
from ansible_collections.containergen.images.plugins.module_utils._contract import transfer_words
from ansible_collections.containergen.images.plugins.module_utils._definitions import (
    TCIB_KEYS, DefinitionError, is_inside, resolve_omissions, resolve_packages,
)

try:
    import jinja2
    import jinja2.sandbox
except ImportError:  # pragma: no cover - reported by the module
    jinja2 = None

# Bumped whenever what a build writes into an image changes (steps, labels), so that images built
# by an older version are not reused as they are.
FINGERPRINT_VERSION = 4

# TripleO's role defaults for every tcib_* key, so that templates referring to unset keys render.
_EMPTY = {"str": "", "list[str]": [], "dict[str, scalar]": {}, "actions": [], "packages": [], "omissions": {}}


class PlannedImage(object):
    """One image of a plan, ready to build: everything the engine needs and its fingerprint."""

    def __init__(self, name, parent, ref, from_ref, steps, packages, files, fingerprint, depth, sources=None,
                 omitted=None):
        self.name = name
        self.parent = parent
        self.ref = ref
        self.from_ref = from_ref
        self.steps = steps
        self.packages = packages
        self.files = files
        self.fingerprint = fingerprint
        self.depth = depth
        # {transfer argument: resolved source paths}, as the plan checked them; None for an image
        # made by hand (tests), whose sources are then checked against its directory when built.
        self.sources = sources
        self._forms: t.Optional[t.List[t.Tuple[str, t.Any, t.Any]]] = None
        # The package updates (NAME=VERSION) this image is (or was) built for: part of its
        # fingerprint and its containergen.refresh label (see _freshness); empty when none.
        self.refresh: t.List[str] = []
        # {package: reason}: what tcib_omit_packages takes out of this image (its last RUN step).
        self.omitted: t.Dict[str, str] = dict(omitted or {})

    def step_forms(self) -> t.List[t.Tuple[str, t.Any, t.Any]]:
        """[(verb, argument, form)]: each step with the normalized form engines format (see
        _contract.step_form), parsed once. ValueError for a step that breaks its grammar."""
        if self._forms is None:
            self._forms = [(verb, arg, _contract.step_form(verb, arg)) for verb, arg in self.steps]
        return self._forms

    def transfer_sources(self, arg: t.Any, directory: str) -> t.List[str]:
        """The host paths an ADD/COPY step reads: exactly those the plan resolved and checked.

        Raises ValueError for a step the plan did not check or a source outside directory.
        """
        if self.sources is not None:
            try:
                paths = list(self.sources[_arg_key(arg)])
            except KeyError:
                raise ValueError("%s: %r: a copy step the plan did not check" % (self.name, arg))
            # A path that became a symlink since the plan would make the engine read its target.
            moved = [path for path in paths if os.path.realpath(path) != path]
            if moved:
                raise ValueError("%s: %s changed into a symlink since the plan" % (self.name, ", ".join(moved)))
            return paths
        words, dummy, problems = transfer_words(arg)
        root = os.path.realpath(directory)
        paths = []
        for source in words[:-1]:
            path, problem = resolve_source(directory, source, [root], must_exist=False)
            if problem:
                problems.append(problem)
            paths.append(path)
        if problems:
            raise ValueError("%s: %s" % (self.name, "; ".join(problems)))
        return paths

    def as_dict(self):
        extra = {"refresh": self.refresh} if self.refresh else {}
        if self.omitted:
            extra["omitted"] = dict(self.omitted)
        return dict(extra, **{
            "name": self.name, "parent": self.parent, "ref": self.ref, "from": self.from_ref,
            "depth": self.depth, "fingerprint": self.fingerprint, "packages": self.packages,
            "steps": [[verb, arg] for verb, arg in self.steps], "files": self.files,
        })


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
    try:
        return value if isinstance(value, list) else _contract.exec_words(value)
    except ValueError as exc:
        raise DefinitionError(["%s: cannot split into words: %s" % (image.where(key), exc)])


def _arg_key(arg: t.Any) -> str:
    return json.dumps(arg) if isinstance(arg, list) else str(arg)


_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def resolve_source(directory: str, source: str, roots: t.List[str],
                   must_exist: bool = True) -> t.Tuple[t.Optional[str], t.Optional[str]]:
    """A copy source, relative to the image's directory, resolved through every symlink.

    Returns (resolved path, None), or (None, reason) when it is a URL, resolves outside every allowed
    root (nothing outside is looked at further), or does not exist.
    """
    if _URL_RE.match(source):
        return None, "source %r: URLs are not allowed (a build reads only files of the definitions tree)" % source
    if not source or "\0" in source or "\n" in source:
        return None, "source %r: not a file name" % source
    joined = os.path.normpath(os.path.join(directory, source))
    real = os.path.realpath(joined)
    if not any(is_inside(real, root) for root in roots):
        return None, ("source %r resolves to %s, outside the definitions tree %s (and the extra roots)"
                      % (source, real, roots[0]))
    if must_exist and not os.path.exists(real):
        return None, "source %r does not exist (looked in %s)" % (source, joined)
    return real, None


def _hash_path(path: str, roots: t.List[str], problems: t.List[str], where: str) -> str:
    """sha256 of a file (content and mode) or of a directory tree, never following a symlink: a
    symlink inside is hashed as its target text, and must not point outside the allowed roots."""
    digest = hashlib.sha256()
    info = os.lstat(path)
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"mode:%o" % (info.st_mode & 0o777))
        return digest.hexdigest()
    if not stat.S_ISDIR(info.st_mode):
        problems.append("%s: %s is not a regular file, directory or symlink" % (where, path))
        return ""
    # The same walk as always (files of a directory sorted, then its sub-directories sorted), so that
    # fingerprints of trees without symlinks stay as they were; os.walk never descends a symlink.
    for root, dirs, names in os.walk(path):
        dirs.sort()
        links = sorted(d for d in dirs if os.path.islink(os.path.join(root, d)))
        dirs[:] = [d for d in dirs if d not in links]
        for name in sorted(names) + links:
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape") + b"\0")
            if os.path.islink(full):
                if not any(is_inside(os.path.realpath(full), allowed) for allowed in roots):
                    problems.append("%s: symlink %s points outside the definitions tree (to %s)"
                                    % (where, full, os.readlink(full)))
                    continue
                digest.update(b"link:" + os.readlink(full).encode("utf-8", "surrogateescape"))
            else:
                digest.update(_hash_path(full, roots, problems, where).encode())
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


def _healthcheck(arg: t.Any) -> t.Tuple[t.Any, t.Optional[str]]:
    """HEALTHCHECK, checked and written in the form both engines take. Returns (argument, problem)."""
    try:
        return _contract.healthcheck_step(arg), None
    except ValueError as exc:
        return arg, str(exc)


def _words_problem(words: t.Any) -> t.Optional[str]:
    if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
        return "must be one or more non-empty words"
    return None


def _single(arg: t.Any, check: t.Callable[[t.Any], t.Optional[str]]) -> t.Optional[str]:
    return "must be a single value, not a list" if isinstance(arg, list) else check(arg)


def _label_action(arg: t.Any) -> t.Tuple[t.Dict[str, str], t.List[str]]:
    """LABEL KEY=VALUE ... (a string of shell-like words, or a list of KEY=VALUE) → a mapping."""
    try:
        words = arg if isinstance(arg, list) else shlex.split(arg)
    except ValueError as exc:
        return {}, ["cannot split into words: %s" % exc]
    labels, problems = {}, []
    for word in words:
        key, equals, text = word.partition("=")
        if not equals:
            problems.append("label %r: must be KEY=VALUE" % word)
        elif _validate.label_key(key):
            problems.append("label key %r: %s" % (key, _validate.label_key(key)))
        else:
            labels[key] = text
    if not words:
        problems.append("must be one or more KEY=VALUE")
    return labels, problems


def _check_step(verb: str, arg: t.Any) -> t.Tuple[t.Any, t.List[str]]:
    """One rendered step: (the argument the engines get, problems). Every value that reaches an
    engine is checked here, after templates are rendered."""
    problems = []
    if verb == "label":
        if isinstance(arg, dict):
            problems = ["label key %r: %s" % (k, _validate.label_key(k)) for k in arg if _validate.label_key(k)]
        else:
            arg, problems = _label_action(arg)
    elif verb in ("env", "arg"):
        key, equals, dummy = arg.partition("=") if isinstance(arg, str) else ("", "", "")
        if not isinstance(arg, str) or (verb == "env" and not equals):
            problems.append("must be NAME=VALUE" if verb == "env" else "must be NAME or NAME=VALUE")
        elif _validate.env_name(key):
            problems.append("name %r: %s" % (key, _validate.env_name(key)))
    elif verb == "user":
        problems.append(_single(arg, _validate.user_spec))
    elif verb in ("workdir", "volume"):
        problems.append(_single(arg, _validate.absolute_path))
    elif verb == "expose":
        problems.append(_single(arg, _validate.port))
    elif verb == "stopsignal":
        problems.append(_single(arg, _validate.stop_signal))
    elif verb == "healthcheck":
        arg, problem = _healthcheck(arg)
        problems.append(problem)
    elif verb in ("entrypoint", "cmd", "shell"):
        words = arg
        if isinstance(arg, str):
            try:
                words = _contract.exec_words(arg)
            except ValueError as exc:
                return arg, ["cannot split into words: %s" % exc]
        problems.append(_words_problem(words))
    elif verb in ("run", "onbuild"):
        if isinstance(arg, list):
            problems.append(_words_problem(arg) if verb == "run" else "must be a string")
        elif not arg.strip():
            problems.append("must not be empty")
    return arg, [problem for problem in problems if problem]


def render_steps(image, profile, packages, extra_labels=None, template_vars=None, omitted=None):
    """The ordered build steps of one image, in the order TripleO's Containerfile template uses.

    Returns (steps, files): steps is [(verb, argument)], files maps each copied source to its hash.
    """
    return render_image(image, profile, packages, extra_labels, template_vars, omitted=omitted)[:2]


def _check_omissions(image, profile, packages, omitted):
    """Problems of the image's omissions ({name: reason}, see resolve_omissions)."""
    if not omitted:
        return []
    where = image.where("tcib_omit_packages")
    if profile["family"] != "debian":
        return ["%s: not supported for the %s family (apt only)" % (where, profile["family"])]
    problems = []
    own = set(packages)
    for name in omitted:
        problem = _validate.package_name(name, profile["family"])
        if problem:
            problems.append("%s: package %r: %s" % (where, name, problem))
        elif name in own:
            problems.append("%s: package %r is also in the image's tcib_packages: it cannot both install and omit it"
                            % (where, name))
    return problems


def _last_user(keyed):
    """The user the steps so far leave (the last user step), as the next RUN step runs."""
    users = [arg for key, verb, arg in keyed if verb == "user"]
    return users[-1] if users else "root"


def render_image(image, profile, packages, extra_labels=None, template_vars=None, extra_roots=None, omitted=None):
    """Render and check one image. Returns (steps, files, sources, from_ref): sources maps each
    ADD/COPY argument to the resolved host paths it reads; from_ref is the rendered tcib_from or None.
    omitted: {package: reason} (resolve_omissions): a last RUN step, after the image's own actions
    (so that what needs those packages at build time has run), takes them out (see _omit).

    Every problem of the image is collected and raised together as one DefinitionError.
    """
    env = _renderer()
    roots = [image.root] + list(extra_roots or [])
    problems = []
    failed = object()
    data = {key: _EMPTY.get(kind, "") for key, kind in TCIB_KEYS.items()}
    data.update(image.data)
    context = dict(template_vars or {})
    context.update(data)
    # Package names go into a shell command: each is one quoted word (they are checked as well).
    words = " ".join(shlex.quote(name) for name in packages)
    for name in packages:
        problem = _validate.package_name(name, profile["family"])
        if problem:
            problems.append("%s: package %r: %s" % (image.where("tcib_packages"), name, problem))
    problems.extend(_check_omissions(image, profile, packages, omitted))
    install = "true"
    if packages:
        try:
            install = _render(env, image, "tcib_packages", profile["package_manager"]["install"], {"packages": words})
        except DefinitionError as exc:
            problems.extend(exc.problems)
    context.update({
        "tcib_distro": profile["distro"], "tcib_release": str(profile["release"]),
        "tcib_family": profile["family"], "tcib_profile": profile["name"],
        "tcib_rhel_modules": {}, "tcib_meta": {"name": image.name},
        "tcib_package_list": words, "tcib_install": install,
    })

    def value(key, raw=failed):
        try:
            return _render(env, image, key, data[key] if raw is failed else raw, context)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            return failed

    keyed = []  # (key, verb, argument)

    def items(key):
        rendered = value(key)
        return [] if rendered is failed else rendered

    labels = {k: str(v) for k, v in (items("tcib_labels") or {}).items()}
    labels.update(extra_labels or {})
    if labels:
        keyed.append(("tcib_labels", "label", labels))
    keyed += [("tcib_envs", "env", "%s=%s" % kv) for kv in (items("tcib_envs") or {}).items()]
    keyed += [("tcib_args", "arg", "%s=%s" % kv) for kv in (items("tcib_args") or {}).items()]
    keyed.append((None, "user", "root"))
    keyed += [("tcib_onbuilds", "onbuild", item) for item in items("tcib_onbuilds")]
    keyed += [("tcib_volumes", "volume", item) for item in items("tcib_volumes")]
    if data["tcib_workdir"]:
        keyed.append(("tcib_workdir", "workdir", value("tcib_workdir")))
    keyed += [("tcib_adds", "add", item) for item in items("tcib_adds")]
    keyed += [("tcib_exposes", "expose", item) for item in items("tcib_exposes")]
    keyed += [("tcib_copies", "copy", item) for item in items("tcib_copies")]
    if data["tcib_shell"]:
        keyed.append(("tcib_shell", "shell", value("tcib_shell")))
    keyed += [("tcib_runs", "run", item) for item in items("tcib_runs")]
    for item in data["tcib_actions"]:
        verb, arg = next(iter(item.items()))
        arg = str(arg) if isinstance(arg, int) else arg
        keyed.append(("tcib_actions", verb, value("tcib_actions", arg)))
    if omitted:  # as root, whatever user the actions left; that user is set again after it
        user = _last_user(keyed)
        if user not in ("root", "0"):
            keyed.append((None, "user", "root"))
        keyed.append((None, "run", _omit.omit_step(omitted)))
        if user not in ("root", "0"):
            keyed.append((None, "user", user))
    for key, verb in (("tcib_healthcheck", "healthcheck"), ("tcib_stopsignal", "stopsignal")):
        if data[key]:
            keyed.append((key, verb, value(key)))
    for key, verb in (("tcib_entrypoint", "entrypoint"), ("tcib_cmd", "cmd")):
        if data[key]:
            rendered = value(key)
            if rendered is not failed:
                try:
                    keyed.append((key, verb, _split_words(image, key, rendered)))
                except DefinitionError as exc:
                    problems.extend(exc.problems)
    if data["tcib_user"]:
        keyed.append(("tcib_user", "user", value("tcib_user")))

    steps, files, sources = [], {}, {}
    for key, verb, arg in keyed:
        if arg is failed:
            continue
        if key is None:
            steps.append((verb, arg))
            continue
        if verb in ("add", "copy"):
            paths = _transfer(image, key, arg, roots, files, problems)
            if paths is not None:
                sources[_arg_key(arg)] = paths
            steps.append((verb, arg))
            continue
        arg, found = _check_step(verb, arg)
        problems += ["%s: %s" % (image.where(key), problem) for problem in found]
        steps.append((verb, arg))
    for item in items("tcib_gather_files"):
        dummy, problem = resolve_source(image.directory, item, roots)
        if problem:
            problems.append("%s: %s" % (image.where("tcib_gather_files"), problem))
    from_ref = None
    if data["tcib_from"]:
        from_ref = value("tcib_from")
        if from_ref is not failed and _validate.reference(from_ref):
            problems.append("%s: %s" % (image.where("tcib_from"), _validate.reference(from_ref)))
    if problems:
        raise DefinitionError(problems)
    return steps, files, sources, from_ref


def _transfer(image, key, arg, roots, files, problems):
    """Resolve and hash the sources of one ADD/COPY step; None when a problem was recorded."""
    where = image.where(key)
    words, dummy, found = transfer_words(arg, key)
    if not found and not words[-1].strip():
        found.append("the destination must not be empty")
    if found:
        problems.extend("%s: %s" % (where, problem) for problem in found)
        return None
    paths, ok = [], True
    for source in words[:-1]:
        path, problem = resolve_source(image.directory, source, roots)
        if problem:
            problems.append("%s: %s" % (where, problem))
            ok = False
            continue
        before = len(problems)
        digest = _hash_path(path, roots, problems, "%s: source %r" % (where, source))
        ok = ok and len(problems) == before
        files[os.path.relpath(os.path.normpath(os.path.join(image.directory, source)), image.directory)] = digest
        paths.append(path)
    return paths if ok else None


def fingerprint(payload):
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def profile_identity(profile):
    """The parts of a profile that shape an image (not where the file lies)."""
    return {k: v for k, v in profile.items() if k not in ("path", "description", "transient_errors")}


def check_extra_roots(extra_roots):
    """Extra directories copy sources may come from (besides the definitions tree), resolved."""
    roots, problems = [], []
    for root in extra_roots or []:
        real = os.path.realpath(root) if isinstance(root, str) and root else ""
        if not real or not os.path.isdir(real):
            problems.append("extra_roots: %r is not a directory" % (root,))
        elif real == os.path.realpath(os.sep):
            problems.append("extra_roots: %r would let a build read every file of the host" % (root,))
        else:
            roots.append(real)
    if problems:
        raise DefinitionError(problems)
    return roots


def check_extra_labels(extra_labels):
    problems = ["labels: key %r: %s" % (key, _validate.label_key(key))
                for key in extra_labels or {} if _validate.label_key(key)]
    if problems:
        raise DefinitionError(problems)


def make_plan(images, profile, base_ids=None, include=None, exclude=None, namespace="localhost/containergen",
              prefix="", tag="latest", extra_labels=None, template_vars=None, extra_roots=None, refresh=None):
    """Plan the selected images. base_ids maps an external base reference to its image ID
    (or a stand-in identity when it is not present yet). extra_roots: directories besides the
    definitions tree that copy sources may come from. refresh: {name: [NAME=VERSION, ...]}, the
    package updates an image is built for (its refresh salt, see _freshness).

    Returns a list of PlannedImage in build order.
    """
    base_ids = base_ids or {}
    check_template_vars(template_vars)
    check_extra_labels(extra_labels)
    roots = check_extra_roots(extra_roots)
    chosen = select(images, include, exclude)
    plan, by_name, problems = [], {}, []
    for name, depth in build_order(images, chosen):
        image = images[name]
        try:
            packages = resolve_packages(image, profile)
            omitted = resolve_omissions(image, profile)
            steps, files, sources, tcib_from = render_image(image, profile, packages, extra_labels, template_vars,
                                                            roots, omitted=omitted)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        if image.parent is None or tcib_from:
            from_ref = tcib_from or profile["base"]["image"]
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
        salt = sorted((refresh or {}).get(name) or [])
        if salt:  # only when an update triggered a build, so that other fingerprints stay as they were
            payload["refresh"] = salt
        planned = PlannedImage(name, image.parent if image.parent in chosen else None,
                               image_ref(name, namespace, prefix, tag), from_ref, steps, packages, files,
                               fingerprint(payload), depth, sources=sources, omitted=omitted)
        planned.refresh = salt
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
