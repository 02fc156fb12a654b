# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""A planned image as a Containerfile: for an engine that builds from one (docker; BuildKit or
podman-remote would too). It formats the step forms of _contract; it runs nothing.

The Containerfile of an image holds its steps with consecutive RUN steps joined into one RUN, and
the profile's cleanup plus the version manifest query (between markers, so that the engine finds
the manifest in the build output) in the last RUN. The labels (fingerprint, manifest) go on in a
second, configuration-only build (label_containerfile), so that only that build names the image.
"""

from __future__ import annotations

import json
import os
import shlex
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._contract import (
    CONFIG_VERBS, Healthcheck, exec_words, manifest_query, manifest_script, parse_healthcheck,
)

# Build arguments Docker knows without an ARG line and keeps out of the image history.
PREDEFINED_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
                   "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
HEALTHCHECK_DEFAULTS = (("--interval", "30s"), ("--timeout", "30s"), ("--retries", "3"))


def _line(verb: str, arg: t.Any, image: str, form: t.Any = None) -> str:
    """One Containerfile instruction; values must stay on one line (exec forms are JSON)."""
    if verb in ("entrypoint", "cmd", "shell"):
        text = json.dumps(exec_words(arg))
    elif verb == "volume":
        text = json.dumps([arg])
    elif verb in ("env", "arg"):
        key, dummy, value = arg.partition("=")
        text = '%s="%s"' % (key, value.replace("\\", "\\\\").replace('"', '\\"'))
    elif verb == "healthcheck":
        text = healthcheck_instruction(arg if form is None else form)
    else:
        text = str(arg)
    if "\n" in text or "\r" in text:
        raise ValueError("%s: %s value spans lines, which a Containerfile cannot hold: %r" % (image, verb, arg))
    return "%s %s" % (verb.upper(), text)


def healthcheck_instruction(spec: t.Any) -> str:
    """HEALTHCHECK's argument (its _contract.Healthcheck form, or the argument) as a Containerfile
    writes it."""
    form = spec if isinstance(spec, Healthcheck) else parse_healthcheck(spec)
    if form.kind == "NONE":
        return "NONE"
    # buildah records the default interval, timeout and retries; say them so both configs are equal
    given = {key for key, value in form.options}
    options = ["%s=%s" % (key, value) for key, value in form.options]
    options += ["%s=%s" % (key, value) for key, value in HEALTHCHECK_DEFAULTS if key not in given]
    return " ".join(options + ["CMD", form.text])


def render_containerfile(planned: t.Any, profile: t.Mapping[str, t.Any], definitions_dir: str, marker: str,
                         build_args: t.Iterable[str] = ()) -> t.Tuple[str, t.Dict[str, str], t.Dict[str, str]]:
    """The Containerfile of build 1, its build context files and the labels its steps set.

    Returns (text, files, labels): files maps a path in the context to a path on disk. ValueError
    for what a Containerfile cannot hold.
    """
    steps = planned.step_forms()
    work = [i for i, (verb, arg, form) in enumerate(steps) if verb in ("run", "add", "copy")]
    last_work = work[-1] if work else -1
    lines = ["FROM %s" % planned.from_ref]
    lines += ["ARG %s" % key for key in sorted(build_args) if key not in PREDEFINED_ARGS]
    files, labels, group = {}, {}, []
    state = {"shell": ["/bin/sh", "-c"], "user": None}

    def flush() -> None:
        if group:
            script = group[0] if len(group) == 1 else " &&\n".join("(\n%s\n)" % s for s in group)
            lines.append("RUN " + json.dumps(state["shell"] + [script]))
            del group[:]

    # printf joins the marker only in the output: the step header echoes the command, not the marker.
    head, tail = marker.split("-", 1)
    finish = manifest_script(profile, "printf '%%s-%%s\\n' %s %s && %s && printf '%%s-%%s\\n' %s %s-end"
                             % (head, tail, manifest_query(profile), head, tail))

    def manifest_step() -> None:
        if state["user"] in ("root", "0"):
            group.append(finish)
            flush()
        else:  # the cleanup needs root whatever USER the definition set
            flush()
            lines.append("USER root")
            lines.append("RUN " + json.dumps(["/bin/sh", "-c", finish]))
            if state["user"]:
                lines.append("USER %s" % state["user"])

    if last_work < 0:
        manifest_step()
    for index, (verb, arg, form) in enumerate(steps):
        if verb == "label":
            for key, value in arg.items():
                labels[key] = "" if value is None else str(value)
                try:
                    _quote(key + labels[key])
                except ValueError:
                    raise ValueError("%s: label %s spans lines, which a Containerfile cannot hold" % (planned.name, key))
        elif verb == "run":
            group.append(arg if isinstance(arg, str) else " ".join(shlex.quote(w) for w in arg))
        elif verb in ("add", "copy"):
            flush()
            context = []
            # only the paths the plan resolved and checked (named as the definition names them)
            for source, path in zip(form.sources, planned.transfer_sources(arg, definitions_dir)):
                name = "files/%d/%s" % (len(files), os.path.basename(os.path.normpath(source)))
                files[name] = path
                context.append(name)
            lines.append("%s %s%s" % (verb.upper(), "--chown=%s " % form.chown if form.chown else "",
                                      json.dumps(context + [form.dest])))
        elif verb in CONFIG_VERBS:
            flush()
            lines.append(_line(verb, arg, planned.name, form))
            if verb == "shell":
                state["shell"] = form
            elif verb == "user":
                state["user"] = arg
        elif verb == "arg":
            flush()
            lines.append(_line(verb, arg, planned.name))
        else:
            raise ValueError("%s: step %r is not supported by the docker engine" % (planned.name, verb))
        if index == last_work:
            manifest_step()
    flush()
    return "\n".join(lines) + "\n", files, labels


def _quote(text: str) -> str:
    """A double-quoted Containerfile word: no variable expansion, escapes kept literal."""
    if "\n" in text or "\r" in text:
        raise ValueError("label text spans lines, which a Containerfile cannot hold: %r" % text[:80])
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")


def label_containerfile(image_id: str, labels: t.Mapping[str, t.Any]) -> str:
    """Build 2: the labels on the image of build 1, in one instruction (one configuration-only step)."""
    pairs = " ".join("%s=%s" % (_quote(key), _quote(str(value))) for key, value in sorted(labels.items()))
    return "FROM %s\nLABEL %s\n" % (image_id, pairs)
