# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Base images: pulled where a registry is reachable, or bootstrapped from distro packages.

A bootstrapped base carries the hash of its recipe in a label; it is made again only when the
recipe changes (or when asked to refresh).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._contract import OCI_TITLE, RECIPE_LABEL
from ansible_collections.containergen.images.plugins.module_utils._definitions import DefinitionError
from ansible_collections.containergen.images.plugins.module_utils._engine import Engine, LocalStore

DEFAULT_DEBIAN_MIRROR = "http://deb.debian.org/debian"


def host_debian_mirror(paths=("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")):
    """The Debian mirror this host uses (deb822 'URIs:' or a 'deb URL' line)."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except OSError:
            continue
        match = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
        if match:
            return match.group(1)
    return DEFAULT_DEBIAN_MIRROR


# The configuration of a bootstrapped base. PATH is explicit so that every engine sees the same
# environment (docker's builder records a default PATH in an image that has none; buildah does not).
BASE_CONFIG = {"env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "cmd": ["/bin/bash"]}


def recipe(profile):
    """The bootstrap settings that determine the base image, with the mirror resolved."""
    settings = dict(profile["base"].get("bootstrap") or {})
    if settings.get("tool", "mmdebstrap") == "mmdebstrap" and not settings.get("mirror"):
        settings["mirror"] = host_debian_mirror()
    return settings


def base_changes(profile, digest):
    """--change arguments of the import: recipe label, title and BASE_CONFIG."""
    changes = ["LABEL %s=%s" % (RECIPE_LABEL, digest), "LABEL %s=%s-base" % (OCI_TITLE, profile["name"])]
    changes += ["ENV %s" % item for item in BASE_CONFIG["env"]]
    changes.append("CMD %s" % json.dumps(BASE_CONFIG["cmd"]))
    return [word for change in changes for word in ("--change", change)]


def recipe_hash(settings):
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def mmdebstrap_argv(settings, output):
    """argv of an mmdebstrap run writing a tarball to output."""
    argv = ["mmdebstrap", "--mode=root", "--format=tar", "--variant=%s" % settings.get("variant", "minbase")]
    for hook in settings.get("hook_dirs") or []:
        argv.append("--hook-dir=%s" % hook)
    if settings.get("include"):
        argv.append("--include=%s" % ",".join(settings["include"]))
    for option in settings.get("dpkg_options") or []:
        argv.append("--dpkgopt=%s" % option)
    for option in settings.get("apt_options") or []:
        argv.append("--aptopt=%s" % option)
    for hook in settings.get("customize_hooks") or []:
        argv.append("--customize-hook=%s" % hook)
    argv += [settings["suite"], output, settings["mirror"]]
    return argv


def dnf_argv(settings, root):
    """argv of a dnf --installroot run populating root (UBI/CentOS, where dnf is on the host)."""
    argv = ["dnf", "-y", "--installroot=%s" % root, "--releasever=%s" % settings["releasever"],
            "--setopt=install_weak_deps=False", "--setopt=tsflags=nodocs", "--nodocs"]
    for repo in settings.get("repos") or []:
        argv.append("--repofrompath=%s" % repo)
    return argv + ["install"] + list(settings.get("include") or [])


def ensure_base(run: t.Any, engine: Engine, profile: t.Dict[str, t.Any], work_dir: str,
                images: t.Union[LocalStore, t.Mapping[str, t.Any], None] = None, refresh: bool = False,
                env: t.Optional[t.Mapping[str, str]] = None) -> t.Tuple[str, str]:
    """Make sure the profile's base image exists locally. Returns (image_id, action) where action
    is 'present', 'bootstrapped', 'copied' (from the engine's donor store) or 'pulled'."""
    base = profile["base"]
    ref = base["image"]
    if images is None:
        images = LocalStore.read(engine, run)
    elif not isinstance(images, LocalStore):
        images = LocalStore(images)
    current = images.get(ref)
    if base["method"] == "pull":
        if current and not refresh:
            return current["id"], "present"
        engine.pull(run, base.get("pull") or ref, ref)
        return LocalStore.read(engine, run).ids()[ref], "pulled"

    settings = recipe(profile)
    digest = recipe_hash(dict(settings, image_config=BASE_CONFIG))
    present = images.labelled(ref, {RECIPE_LABEL: digest})
    if present and not refresh:
        return present, "present"
    if not refresh:
        # The same recipe already bootstrapped in another store of this host (podman's, for docker).
        adopted = engine.adopt_base(run, ref, {RECIPE_LABEL: digest}, work_dir)
        if adopted:
            return adopted, "copied"
    tool = settings.get("tool", "mmdebstrap")
    os.makedirs(work_dir, exist_ok=True)
    tarball = os.path.join(work_dir, "%s-rootfs.tar" % profile["name"])
    changes = base_changes(profile, digest)
    try:
        if tool == "mmdebstrap":
            run(mmdebstrap_argv(settings, tarball), capture=False, env=env)
        elif tool == "dnf":
            root = os.path.join(work_dir, "%s-rootfs" % profile["name"])
            run(dnf_argv(settings, root), capture=False, env=env)
            run(["tar", "-C", root, "-cf", tarball, "."])
        else:
            raise DefinitionError(["%s: profile %r: key 'base.bootstrap.tool': unknown tool %r (mmdebstrap or dnf)"
                                   % (profile["path"], profile["name"], tool)])
        image_id = engine.import_rootfs(run, tarball, ref, changes)
    finally:
        if os.path.exists(tarball):
            os.unlink(tarball)
    return image_id, "bootstrapped"
