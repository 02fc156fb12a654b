# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""The image contract: what every built image carries and the grammar of the steps that make it.

The bottom floor of the pipeline: the plan, the engines, the inspection of the local store and
publishing all read these names and forms; this module imports nothing of the collection but the
value grammars (_validate).

- Label names and the labels of a built image (image_labels).
- The version manifest: the one exec that runs the profile's cleanup and prints the package list
  (manifest_script), its parsing and its digest.
- The normalized forms of the steps whose argument has a grammar: ADD/COPY (Transfer), HEALTHCHECK
  (Healthcheck) and the exec words of ENTRYPOINT/CMD/SHELL. The plan checks definitions with these
  parsers; the engines only format the forms they return.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shlex
import typing as t

from ansible_collections.containergen.images.plugins.module_utils import _validate

# ---- labels ---------------------------------------------------------------------------------------

LABEL_PREFIX = "containergen."
FINGERPRINT_LABEL = LABEL_PREFIX + "fingerprint"
MANIFEST_LABEL = LABEL_PREFIX + "manifest"
MANIFEST_DIGEST_LABEL = LABEL_PREFIX + "manifest.sha256"
IMAGE_LABEL = LABEL_PREFIX + "image"
PARENT_LABEL = LABEL_PREFIX + "parent"
PROFILE_LABEL = LABEL_PREFIX + "profile"
# On a bootstrapped base: the hash of its recipe (made again only when the recipe changes).
RECIPE_LABEL = LABEL_PREFIX + "bootstrap"
# The package updates an image was rebuilt for (see _freshness), as JSON {image name: [NAME=VERSION]}:
# keyed by the name because a child inherits the label of its parent.
REFRESH_LABEL = LABEL_PREFIX + "refresh"

OCI_TITLE = "org.opencontainers.image.title"
OCI_CREATED = "org.opencontainers.image.created"
OCI_VENDOR = "org.opencontainers.image.vendor"
OCI_BASE_NAME = "org.opencontainers.image.base.name"
OCI_REVISION = "org.opencontainers.image.revision"
OCI_SOURCE = "org.opencontainers.image.source"
OCI_VERSION = "org.opencontainers.image.version"
VENDOR = "containergen.images"


class LabelSource(t.Protocol):
    """What image_labels reads of the build options."""

    created: t.Optional[str]
    source_revision: str
    source_url: str
    version: str


# ---- reproducible builds --------------------------------------------------------------------------

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def epoch_from_environment(environ: t.Optional[t.Mapping[str, str]] = None) -> t.Optional[int]:
    """The SOURCE_DATE_EPOCH the builder was started with (reproducible-builds.org's convention),
    or None when unset. ValueError naming the variable when it is not whole seconds since 1970."""
    value = (os.environ if environ is None else environ).get(SOURCE_DATE_EPOCH, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError("environment variable %s=%r: must be whole seconds since 1970-01-01 UTC"
                         % (SOURCE_DATE_EPOCH, value))
    return int(value)


def epoch_time(epoch: int) -> str:
    """An epoch as the RFC 3339 UTC time of the created label."""
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def image_labels(planned: t.Any, profile: t.Mapping[str, t.Any], manifest: t.Mapping[str, str],
                 options: LabelSource, epoch: t.Optional[int] = None) -> t.Dict[str, str]:
    """The labels of a built image: fingerprint, manifest and its digest, names, OCI labels.

    epoch: the image's SOURCE_DATE_EPOCH (a reproducible build): the created label is that time,
    not the clock's."""
    if options.created:
        created = options.created
    elif epoch is not None:
        created = epoch_time(epoch)
    else:
        created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = {
        FINGERPRINT_LABEL: planned.fingerprint,
        MANIFEST_LABEL: json.dumps(manifest, sort_keys=True, separators=(",", ":")),
        MANIFEST_DIGEST_LABEL: manifest_digest(manifest),
        IMAGE_LABEL: planned.name,
        PARENT_LABEL: planned.parent or "",
        PROFILE_LABEL: profile["name"],
        OCI_TITLE: planned.name,
        OCI_CREATED: created,
        OCI_VENDOR: VENDOR,
    }
    # Only images on an external base name it: a parent's local reference depends on the namespace,
    # which is not part of the content (an image is reused across namespaces by fingerprint). A
    # child empties the label it would inherit (a Containerfile, hence docker, cannot remove one).
    labels[OCI_BASE_NAME] = planned.from_ref if planned.parent is None else ""
    if getattr(planned, "refresh", None):
        labels[REFRESH_LABEL] = json.dumps({planned.name: list(planned.refresh)}, separators=(",", ":"))
    if options.source_revision:
        labels[OCI_REVISION] = options.source_revision
    if options.source_url:
        labels[OCI_SOURCE] = options.source_url
    if options.version:
        labels[OCI_VERSION] = options.version
    return labels


# ---- the version manifest -------------------------------------------------------------------------

def manifest_query(profile: t.Mapping[str, t.Any]) -> str:
    """The profile's package list query as one shell command."""
    return " ".join(shlex.quote(word) for word in profile["package_manager"]["manifest"])


def manifest_script(profile: t.Mapping[str, t.Any], query: t.Optional[str] = None) -> str:
    """The last exec of every build: the profile's cleanup (its output to stderr, hence the log)
    then the manifest query, whose standard output is the manifest. query: the query wrapped by
    an engine that must find it in a longer output (docker's markers)."""
    query = query or manifest_query(profile)
    cleanup = profile["package_manager"].get("cleanup")
    # a newline, not "; }": the cleanup may end with a comment
    return "{ %s\n} >&2 && %s" % (cleanup, query) if cleanup else query


def parse_manifest(text: str) -> t.Dict[str, str]:
    """dpkg-query / rpm -qa output ("name<TAB>version" lines) → {name: version}."""
    manifest = {}
    for line in text.splitlines():
        if "\t" in line:
            name, version = line.split("\t", 1)
            manifest[name.strip()] = version.strip()
    return dict(sorted(manifest.items()))


def manifest_digest(manifest: t.Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---- step forms -----------------------------------------------------------------------------------

# Steps that only change the image configuration (no layer).
CONFIG_VERBS = ("user", "workdir", "env", "entrypoint", "cmd", "expose", "volume", "stopsignal", "onbuild",
                "shell", "label", "healthcheck")


def exec_words(arg: t.Union[str, t.List[str]]) -> t.List[str]:
    """ENTRYPOINT/CMD/SHELL: a list of words as it is, or a string split like a shell."""
    return list(arg) if isinstance(arg, list) else shlex.split(arg)


class Transfer(t.NamedTuple):
    """ADD/COPY: the sources as the definition names them, the destination and --chown."""

    sources: t.List[str]
    dest: str
    chown: t.Optional[str]


_TRANSFER_OPTION_RE = re.compile(r"--chown=(.*)\Z", re.S)


def transfer_words(arg: t.Any, name: str = "ADD/COPY") -> t.Tuple[t.List[str], t.Optional[str], t.List[str]]:
    """ADD/COPY argument -> (sources + destination, --chown value, problems). Only --chown is an
    option (the engines apply no other); sources and destination need at least two words."""
    problems = []
    try:
        words = arg if isinstance(arg, list) else shlex.split(arg)
    except ValueError as exc:
        return [], None, ["cannot split into words: %s" % exc]
    chown, plain = None, []
    for word in words:
        if word.startswith("--"):
            found = _TRANSFER_OPTION_RE.match(word)
            if not found:
                problems.append("option %r is not supported (only --chown=USER[:GROUP])" % word)
            elif _validate.user_spec(found.group(1)):
                problems.append("--chown: %s" % _validate.user_spec(found.group(1)))
            else:
                chown = found.group(1)
        else:
            plain.append(word)
    if len(plain) < 2 and not problems:
        problems.append("%s needs at least one source and a destination" % name)
    return plain, chown, problems


def parse_transfer(arg: t.Any) -> Transfer:
    """The form of an ADD/COPY argument; ValueError when it breaks the grammar."""
    words, chown, problems = transfer_words(arg)
    if problems:
        raise ValueError("; ".join(problems))
    return Transfer(words[:-1], words[-1], chown)


HEALTHCHECK_FORM = ("must be [--interval=DURATION --timeout=DURATION --start-period=DURATION --retries=N] "
                    "CMD COMMAND, CMD-SHELL COMMAND or NONE")
HEALTHCHECK_OPTIONS = ("--interval", "--timeout", "--start-period", "--retries")
_DURATION_RE = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+\Z")
_HEALTHCHECK_RE = re.compile(r"\s*((?:--[a-z-]+=\S*\s+)*)(?:(CMD-SHELL|CMD|NONE)(?=\s|\Z))?\s*(.*)\Z", re.S | re.I)


class Healthcheck(t.NamedTuple):
    """HEALTHCHECK: kind "NONE", "EXEC" (command: words) or "SHELL" (command: one shell string).

    options: [(name, value)] as given; options_text: them as written; text: the command as
    written (an exec form's JSON text)."""

    kind: str
    options: t.List[t.Tuple[str, str]]
    command: t.Union[t.List[str], str]
    options_text: str = ""
    text: str = ""


def parse_healthcheck(arg: t.Any, strict: bool = False) -> Healthcheck:
    """The form of a HEALTHCHECK argument; ValueError naming the problem.

    strict (definitions): CMD, CMD-SHELL or NONE must be said; otherwise the text is taken as a
    shell command, as some Containerfiles in the wild write it."""
    if isinstance(arg, list):
        if not arg or not all(isinstance(word, str) and word for word in arg):
            raise ValueError(HEALTHCHECK_FORM)
        words = arg[1:] if arg[0].upper() == "CMD" else list(arg)
        if not words:
            raise ValueError("CMD needs a command")
        if words == ["NONE"]:
            return Healthcheck("NONE", [], [])
        return Healthcheck("EXEC", [], words, "", json.dumps(words))
    found = _HEALTHCHECK_RE.match(arg) if isinstance(arg, str) else None
    if not found or (strict and not found.group(2)):
        raise ValueError(HEALTHCHECK_FORM)
    options_text, kind, command = found.group(1), (found.group(2) or "CMD").upper(), found.group(3).strip()
    options = []
    for option in options_text.split():
        name, dummy, given = option.partition("=")
        if name not in HEALTHCHECK_OPTIONS:
            raise ValueError("unknown HEALTHCHECK option %s" % name)
        if name == "--retries":
            if not given.isdigit() or int(given) < 1:
                raise ValueError("option --retries: must be a whole number from 1 up")
        elif not _DURATION_RE.match(given):
            raise ValueError("option %s: must be a duration such as 30s" % name)
        options.append((name, given))
    if kind == "NONE":
        if strict and (command or options):
            raise ValueError("NONE takes no options or command")
        return Healthcheck("NONE", [], [])
    if not command:
        raise ValueError("%s needs a command" % kind)
    if command.startswith("["):
        try:
            words = json.loads(command)
        except ValueError:
            words = None
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise ValueError("CMD [...] must be a JSON list of words")
        return Healthcheck("EXEC", options, words, options_text, command)
    return Healthcheck("SHELL", options, command, options_text, command)


def healthcheck_step(arg: t.Any) -> t.Any:
    """The HEALTHCHECK argument a plan records (and fingerprints): CMD-SHELL is written as CMD with
    a shell command, the same thing in a Containerfile. ValueError when it breaks the grammar."""
    form = parse_healthcheck(arg, strict=True)
    if isinstance(arg, list):
        return arg
    if form.kind == "NONE":
        return "NONE"
    return "%sCMD %s" % (form.options_text, form.text)


def step_form(verb: str, arg: t.Any) -> t.Any:
    """The normalized form of one planned step that engines format: Transfer for add/copy,
    Healthcheck, exec words for entrypoint/cmd/shell; other arguments as they are."""
    if verb in ("add", "copy"):
        return parse_transfer(arg)
    if verb == "healthcheck":
        return parse_healthcheck(arg)
    if verb in ("entrypoint", "cmd", "shell"):
        return exec_words(arg)
    return arg
