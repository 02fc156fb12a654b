# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Load and validate image definitions (TCIB layout) and distro profiles.

Layout: one directory per image, nested under its parent's directory. The image name is the
directory name; its parent is the nearest ancestor directory that holds YAML files (TripleO's
rule), unless ``tcib_parent`` names one. All YAML files of a directory are merged in sorted file
name order; a later file replaces a whole top-level key of an earlier one.
"""

from __future__ import annotations

import errno
import os
import stat
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import _validate

try:
    import yaml
except ImportError:  # pragma: no cover - reported by the module
    yaml = None


class DefinitionError(Exception):
    """One or more problems in the definitions; every line names the file, image and key."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


STR = "str"
LIST_STR = "list[str]"
DICT_SCALAR = "dict[str, scalar]"

# Keys TripleO's TCIB files use (tripleo_container_image_build defaults) plus ours
# (tcib_parent, tcib_description, tcib_omit_packages). The value says the accepted type.
TCIB_KEYS = {
    "tcib_actions": "actions",
    "tcib_adds": LIST_STR,
    "tcib_args": DICT_SCALAR,
    "tcib_cmd": STR,
    "tcib_copies": LIST_STR,
    "tcib_description": STR,
    "tcib_entrypoint": STR,
    "tcib_envs": DICT_SCALAR,
    "tcib_exposes": LIST_STR,
    "tcib_from": STR,
    "tcib_gather_files": LIST_STR,
    "tcib_healthcheck": STR,
    "tcib_labels": DICT_SCALAR,
    "tcib_omit_packages": "omissions",
    "tcib_onbuilds": LIST_STR,
    "tcib_packages": "packages",
    "tcib_parent": STR,
    "tcib_runs": LIST_STR,
    "tcib_shell": STR,
    "tcib_stopsignal": STR,
    "tcib_user": STR,
    "tcib_volumes": LIST_STR,
    "tcib_workdir": STR,
}

# Verbs allowed in tcib_actions (one per list item, as in a Containerfile).
ACTION_VERBS = (
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "healthcheck", "label",
    "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
)

# Keys of a tcib_packages mapping that are not package-name lists.
PACKAGE_SPECIAL_KEYS = ("modules",)

PROFILE_KEYS = {
    "name": STR,
    "family": STR,
    "distro": STR,
    "release": STR,
    "description": STR,
    "base": "dict",
    "package_manager": "dict",
    "transient_errors": LIST_STR,
    "build_env": DICT_SCALAR,
}
PROFILE_BASE_KEYS = {"method": STR, "image": STR, "pull": STR, "bootstrap": "dict"}
PROFILE_PM_KEYS = {"install": STR, "cleanup": STR, "manifest": LIST_STR}
FAMILIES = ("debian", "redhat")


def _is_scalar(value):
    return isinstance(value, (str, int, float, bool))


def _type_problem(value, kind):
    """Return a description of what is wrong with value for kind, or None."""
    if kind == STR:
        return None if isinstance(value, str) else "must be a string"
    if kind == LIST_STR:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "must be a list of strings"
        return None
    if kind == DICT_SCALAR:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and _is_scalar(v) for k, v in value.items()):
            return "must be a mapping of names to strings, numbers or booleans"
        return None
    if kind == "dict":
        return None if isinstance(value, dict) else "must be a mapping"
    if kind == "packages":
        if isinstance(value, list):
            return None if all(isinstance(v, str) for v in value) else "must be a list of package names"
        if not isinstance(value, dict):
            return "must be a list of package names or a mapping of distro keys to lists"
        for key, names in value.items():
            if key in PACKAGE_SPECIAL_KEYS:
                continue
            if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
                return "entry %r must be a list of package names" % key
        return None
    if kind == "omissions":
        if not isinstance(value, dict):
            return "must be a mapping of distro keys to mappings of package names to reasons"
        for key, names in value.items():
            if not isinstance(names, dict):
                return "entry %r must be a mapping of package names to reasons" % key
            for name, reason in names.items():
                if not isinstance(name, str):
                    return "entry %r: package %r: the name must be a string" % (key, name)
                if not isinstance(reason, str) or not reason.strip():
                    return "entry %r: package %r: the reason must be a non-empty string (why it is omitted)" % (
                        key, name)
        return None
    if kind == "actions":
        if not isinstance(value, list):
            return "must be a list of one-key mappings such as {run: COMMAND}"
        for index, item in enumerate(value):
            if not isinstance(item, dict) or len(item) != 1:
                return "item %d must be a mapping with exactly one verb" % index
            verb, arg = next(iter(item.items()))
            if verb not in ACTION_VERBS:
                return "item %d: unknown verb %r (one of: %s)" % (index, verb, ", ".join(ACTION_VERBS))
            # TripleO writes `user: 1001`: whole numbers are accepted and used as text.
            if not (isinstance(arg, str) or (isinstance(arg, int) and not isinstance(arg, bool))
                    or (isinstance(arg, list) and all(isinstance(v, str) for v in arg))):
                return "item %d (%s) must be a string, a whole number or a list of strings" % (index, verb)
        return None
    raise AssertionError("unknown kind %s" % kind)


def read_yaml(path):
    """Read one YAML file; a syntax error becomes a DefinitionError naming the file."""
    if yaml is None:
        raise DefinitionError(["PyYAML is required to read %s" % path])
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise DefinitionError(["%s: invalid YAML: %s" % (path, str(exc).replace("\n", " "))])
    except OSError as exc:
        raise DefinitionError(["%s: cannot read: %s" % (path, exc.strerror)])
    return data


class ImageDefinition(object):
    """One image: its name, directory, merged keys, and which file set each key.

    root is the definitions tree it was loaded from (resolved): the files it copies must lie in it.
    """

    def __init__(self, name, directory, parent, files, data, origin, root=None):
        self.name = name
        self.directory = directory
        self.parent = parent
        self.files = files
        self.data = data
        self.origin = origin
        self.root = root or os.path.realpath(directory)

    def where(self, key=None):
        """A 'file: image NAME: key KEY' prefix for error messages."""
        path = self.origin.get(key) if key else None
        path = path or (self.files[-1] if self.files else self.directory)
        text = "%s: image %r" % (path, self.name)
        return text + (": key %r" % key if key else "")


def is_inside(path: str, root: str) -> bool:
    """Whether the resolved path is root or below it (both already resolved with os.path.realpath)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _is_yaml(name: str) -> bool:
    return name.endswith((".yaml", ".yml"))


def _scan(directory: str, root: str, problems: t.List[str]) -> t.Tuple[t.List[str], t.List[str], t.List[str]]:
    """One directory of the tree, without following any symlink out of it.

    Returns (yaml files, sub-directories, dot-directories). A symlink whose target leaves the tree, or
    that loops, is a problem (it is neither read nor walked).
    """
    files, dirs, hidden = [], [], []
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        problems.append("%s: cannot list the directory: %s" % (directory, exc.strerror))
        return files, dirs, hidden
    for entry in entries:
        path = entry.path
        if entry.is_symlink():
            target = os.path.realpath(path)
            if not is_inside(target, root):
                problems.append("%s: symlink to %s leaves the definitions tree %s" % (path, os.readlink(path), root))
                continue
            try:
                mode = os.stat(path).st_mode
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    problems.append("%s: symlink loop" % path)
                elif _is_yaml(entry.name):
                    problems.append("%s: dangling symlink" % path)
                continue
        else:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:  # vanished while listing
                continue
        if stat.S_ISDIR(mode):
            (hidden if entry.name.startswith(".") else dirs).append(path)
        elif stat.S_ISREG(mode) and _is_yaml(entry.name):
            files.append(path)
    return files, dirs, hidden


def load_definitions(root):
    """Load every image under root. Returns {name: ImageDefinition}; raises DefinitionError.

    The walk stays inside root: a symlink leaving it is an error and is never followed. A symlink to
    a directory being walked (a loop) is an error; a second path to a directory already walked is
    not walked again, and is an error when that directory holds YAML (its images would be defined
    twice), so that a shared files/ directory may be linked from several images. A directory that holds YAML files is an image and
    its name must be a valid image name. Dot-directories (.git, .github, ...) are not walked, but one
    that itself holds YAML files is an error rather than an image silently left out.
    All problems found are reported together so that one run shows everything to fix.
    """
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DefinitionError(["%s: image definitions directory does not exist" % root])
    real_root = os.path.realpath(root)
    problems = []
    images = {}
    seen_dirs = {}
    visited = {}  # (st_dev, st_ino) of each directory walked -> its path

    def walk(directory, parent, ancestors):
        try:
            info = os.stat(directory)
        except OSError as exc:
            problems.append("%s: cannot read: %s" % (directory, exc.strerror))
            return
        key = (info.st_dev, info.st_ino)
        if key in ancestors:
            problems.append("%s: symlink loop: leads back to %s" % (directory, visited[key]))
            return
        if key in visited:
            if _scan(directory, real_root, [])[0]:
                # name the path through a symlink, whichever of the two was walked first
                link, real = directory, visited[key]
                if os.path.realpath(link) == os.path.abspath(link):
                    link, real = real, link
                problems.append("%s: second path to the image directory %s (its images would be defined twice)"
                                % (link, real))
            return
        visited[key] = directory
        ancestors = ancestors | {key}
        files, dirs, hidden = _scan(directory, real_root, problems)
        for path in hidden:
            holds_yaml = _scan(path, real_root, [])[0]
            if holds_yaml:
                problems.append("%s: image %r: a directory whose name starts with a dot is not an image directory "
                                "(rename it; its YAML files would be ignored)" % (holds_yaml[0], os.path.basename(path)))
        current = parent
        if files:
            name = os.path.basename(directory)
            bad_name = _validate.image_name(name)
            if bad_name:
                problems.append("%s: image %r: directory name: %s" % (files[0], name, bad_name))
            data, origin = {}, {}
            for path in files:
                try:
                    content = read_yaml(path)
                except DefinitionError as exc:
                    problems.extend(exc.problems)
                    continue
                if content is None:
                    continue
                if not isinstance(content, dict):
                    problems.append("%s: image %r: the file must hold a mapping of tcib_* keys" % (path, name))
                    continue
                for key, value in content.items():
                    data[key] = value
                    origin[key] = path
            if name in seen_dirs:
                problems.append("%s: image %r: duplicate image name (also defined in %s)"
                                % (directory, name, seen_dirs[name]))
            else:
                seen_dirs[name] = directory
                images[name] = ImageDefinition(name, directory, parent, files, data, origin, root=real_root)
            current = name
        for path in dirs:
            walk(path, current, ancestors)

    walk(root, None, frozenset())
    for image in images.values():
        problems.extend(_validate_image(image))
        explicit = image.data.get("tcib_parent")
        if isinstance(explicit, str):
            image.parent = explicit
    for image in images.values():
        if image.parent is not None and image.parent not in images:
            problems.append("%s: unknown parent image %r" % (image.where("tcib_parent"), image.parent))
    problems.extend(_find_cycles(images))
    if not images and not problems:
        problems.append("%s: no image definitions (no directory holds a .yaml file)" % root)
    if problems:
        raise DefinitionError(problems)
    return images


def _validate_image(image):
    problems = []
    for key, value in image.data.items():
        kind = TCIB_KEYS.get(key)
        if kind is None:
            problems.append("%s: unknown key (known keys: %s)" % (image.where(key), ", ".join(sorted(TCIB_KEYS))))
            continue
        problem = _type_problem(value, kind)
        if problem:
            problems.append("%s: %s" % (image.where(key), problem))
        elif key == "tcib_parent" and "{{" not in value and _validate.image_name(value):
            problems.append("%s: %s" % (image.where(key), _validate.image_name(value)))
    return problems


def _find_cycles(images):
    problems, state = [], {}
    for start in sorted(images):
        chain, name = [], start
        while name is not None and name in images and state.get(name) is None:
            state[name] = start
            chain.append(name)
            name = images[name].parent
        if name is not None and name in chain:
            loop = chain[chain.index(name):] + [name]
            culprit = next((n for n in loop if "tcib_parent" in images[n].data), name)
            problems.append("%s: parent cycle: %s" % (images[culprit].where("tcib_parent"), " -> ".join(loop)))
    return problems


def resolve_packages(image, profile):
    """The package names for this image on this profile: common + family + distro + profile keys.

    A plain list (TripleO's older style) applies to every distro. Raises DefinitionError when the
    image declares packages but none for the selected distro.
    """
    value = image.data.get("tcib_packages")
    if not value:
        return []
    if isinstance(value, list):
        return list(value)
    keys = list(dict.fromkeys(["common", profile["family"], profile["distro"], profile["name"]]))
    # First occurrence wins, in key order; a dict keeps that order in linear time.
    names = list(dict.fromkeys(name for key in keys for name in value.get(key) or []))
    listed = [k for k in value if k not in PACKAGE_SPECIAL_KEYS]
    if not names and listed:
        raise DefinitionError(["%s: no package list for distro %r (has: %s; expected one of: %s)"
                               % (image.where("tcib_packages"), profile["name"], ", ".join(sorted(listed)),
                                  ", ".join(keys))])
    return names


def resolve_omissions(image, profile):
    """The packages this image omits on this profile, {name: reason}, from the common, family,
    distro and profile keys of tcib_omit_packages (first occurrence wins, in that order, as for
    resolve_packages)."""
    value = image.data.get("tcib_omit_packages")
    if not value:
        return {}
    keys = list(dict.fromkeys(["common", profile["family"], profile["distro"], profile["name"]]))
    omitted = {}
    for key in keys:
        for name, reason in (value.get(key) or {}).items():
            omitted.setdefault(name, reason)
    return omitted


def load_profile(profiles_dir, name):
    """Load and validate one distro profile (vars/profiles/NAME.yml)."""
    path = None
    for ext in (".yml", ".yaml"):
        candidate = os.path.join(profiles_dir, name + ext)
        if os.path.isfile(candidate):
            path = candidate
            break
    if path is None:
        known = sorted(os.path.splitext(f)[0] for f in os.listdir(profiles_dir)) if os.path.isdir(profiles_dir) else []
        raise DefinitionError(["%s: unknown distro profile %r (known: %s)"
                               % (profiles_dir, name, ", ".join(known) or "none")])
    data = read_yaml(path)
    problems = []
    if not isinstance(data, dict):
        raise DefinitionError(["%s: profile %r: the file must hold a mapping" % (path, name)])
    for key, value in data.items():
        kind = PROFILE_KEYS.get(key)
        if kind is None:
            problems.append("%s: profile %r: key %r: unknown key" % (path, name, key))
        elif _type_problem(value, kind):
            problems.append("%s: profile %r: key %r: %s" % (path, name, key, _type_problem(value, kind)))
    for key in ("name", "family", "distro", "release", "base", "package_manager"):
        if key not in data:
            problems.append("%s: profile %r: key %r: required" % (path, name, key))
    if data.get("name") not in (None, name):
        problems.append("%s: profile %r: key 'name': must match the file name" % (path, name))
    if "family" in data and data["family"] not in FAMILIES:
        problems.append("%s: profile %r: key 'family': must be one of %s" % (path, name, ", ".join(FAMILIES)))
    for section, keys in (("base", PROFILE_BASE_KEYS), ("package_manager", PROFILE_PM_KEYS)):
        for key, value in (data.get(section) or {}).items() if isinstance(data.get(section), dict) else []:
            if key not in keys:
                problems.append("%s: profile %r: key '%s.%s': unknown key" % (path, name, section, key))
            elif _type_problem(value, keys[key]):
                problems.append("%s: profile %r: key '%s.%s': %s"
                                % (path, name, section, key, _type_problem(value, keys[key])))
    if isinstance(data.get("base"), dict):
        if data["base"].get("method") not in ("pull", "bootstrap"):
            problems.append("%s: profile %r: key 'base.method': must be pull or bootstrap" % (path, name))
        if "image" not in data["base"]:
            problems.append("%s: profile %r: key 'base.image': required" % (path, name))
    if isinstance(data.get("package_manager"), dict):
        for key in ("install", "manifest"):
            if key not in data["package_manager"]:
                problems.append("%s: profile %r: key 'package_manager.%s': required" % (path, name, key))
    if problems:
        raise DefinitionError(problems)
    data = dict(data)
    data["path"] = path
    return data


def apply_extra_config(images, path):
    """Apply an extra-config file (tcib_* keys) to every image. Merge rule, chosen so that nothing
    an image sets is lost: mappings (tcib_labels, tcib_envs, tcib_args) are merged with the image's
    own entries winning; any other key only fills in where the image does not set it."""
    data = read_yaml(path)
    if data is None:
        return
    if not isinstance(data, dict):
        raise DefinitionError(["%s: extra config must be a mapping of tcib_* keys" % path])
    problems = []
    for key, value in data.items():
        kind = TCIB_KEYS.get(key)
        if kind is None or key == "tcib_parent":
            problems.append("%s: extra config: key %r: unknown or not allowed here" % (path, key))
        elif _type_problem(value, kind):
            problems.append("%s: extra config: key %r: %s" % (path, key, _type_problem(value, kind)))
    if problems:
        raise DefinitionError(problems)
    for image in images.values():
        for key, value in data.items():
            if TCIB_KEYS[key] == DICT_SCALAR:
                merged = dict(value)
                merged.update(image.data.get(key) or {})
                image.data[key] = merged
                image.origin.setdefault(key, path)
            elif key not in image.data:
                image.data[key] = value
                image.origin[key] = path
