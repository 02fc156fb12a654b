# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Declared dependency omissions (tcib_omit_packages): the shell text that takes a package out of an
image while dpkg and apt stay consistent. Pure functions: nothing here runs a command.

An omitted package P is replaced by a stub package, containergen-omitted-P, that provides P at the
version it replaces, so that what depends on P stays satisfied; then P is purged together with what
only P pulled in. A child image can still install P itself (apt-get install P): the stub does not
conflict with it.
"""

from __future__ import annotations

import shlex
import typing as t

from ansible_collections.containergen.images.plugins.module_utils._progress import OMIT_MARKER

STUB_PREFIX = "containergen-omitted-"

# `stub NAME VERSION [PROVIDES]`: builds $work/NAME.deb, a stub that provides NAME at VERSION and
# what NAME itself provides (libxslt1-dev provides libxslt-dev, the name python3-glance depends on).
# Multi-Arch: allowed, not foreign: a dependency written `perl:any` (memcached's, libjson-perl's) is
# satisfied by a provider only when the provider is Multi-Arch: allowed (as perl itself is). Tried on
# Debian 13 with memcached: with a Multi-Arch: foreign stub apt-get purge perl removed memcached too
# (its Depends names perl:any), with allowed it keeps it; allowed still satisfies a plain `perl`.
_STUB_FUNCTION = """\
stub() {
  mkdir -p "$work/$1/DEBIAN"
  chmod 0755 "$work/$1" "$work/$1/DEBIAN"
  printf '%%s\\n' "Package: %(prefix)s$1" "Version: $2" "Architecture: all" "Multi-Arch: allowed" \\
    "Maintainer: containergen.images" "Provides: $1 (= $2)${3:+, $3}" \\
    "Description: $1 omitted from this image by containergen.images (tcib_omit_packages)" >"$work/$1/DEBIAN/control"
  dpkg-deb --root-owner-group -Zgzip --build "$work/$1" "$work/$1.deb" >/dev/null
}
""" % {"prefix": STUB_PREFIX}


def stub_name(package: str) -> str:
    """The name of the stub package that stands for an omitted package."""
    return STUB_PREFIX + package


def _words(names: t.Iterable[str]) -> str:
    return " ".join(shlex.quote(name) for name in names)


def omit_script(omitted: t.Iterable[str]) -> str:
    """POSIX sh: for each installed package of omitted (in that order), a stub at its installed
    version; the stubs installed with dpkg -i, then the packages purged with --auto-remove (what
    only they pulled in goes too). A package not installed gets a stub at its candidate version (the
    package lists fetched for it, then removed again): omitted in a parent, it is then never
    installed by a child that only depends on it; without a candidate it is skipped. The
    step fails when the purge would take a manually installed package with it (one that needs P and
    that the stub does not satisfy), rather than leave an image without it."""
    names = list(omitted)
    return """\
%(marker)s (tcib_omit_packages): %(names)s
set -eu
work=$(mktemp -d)
%(stub)sset --
absent=
for name in %(names)s; do
  state=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$name" 2>/dev/null || true)
  case $state in
    "installed "*) stub "$name" "${state#installed }" "$(dpkg-query -W -f='${Provides}' "$name")"
                   set -- "$@" "$name" ;;
    *) absent="$absent $name" ;;
  esac
done
if [ -n "$absent" ]; then
  apt-get update -qq >&2
  for name in $absent; do
    record=$(apt-cache show --no-all-versions "$name" 2>/dev/null || true)
    version=$(printf '%%s\n' "$record" | sed -n 's/^Version: //p' | head -n 1)
    if [ -n "$version" ]; then
      stub "$name" "$version" "$(printf '%%s\n' "$record" | sed -n 's/^Provides: //p' | head -n 1)"
    else
      echo "omit packages: $name is neither installed nor available: nothing to omit" >&2
    fi
  done
  rm -rf /var/lib/apt/lists/*
fi
if ls "$work"/*.deb >/dev/null 2>&1; then
  dpkg -i "$work"/*.deb >/dev/null
fi
if [ $# -gt 0 ]; then
  manual=$(apt-mark showmanual)
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove "$@"
  # what is still installed, in one query (not one per manually installed package)
  installed=" $(dpkg-query -W -f='${db:Status-Status} ${Package}\\n' | sed -n 's/^installed //p' | tr '\\n' ' ') "
  for package in $manual; do
    package=${package%%:*}
    case " $* " in *" $package "*) continue ;; esac
    case $installed in *" $package "*) ;; *)
      echo "omit packages: purging $* removed $package, which needs it: cannot omit" >&2
      exit 1 ;;
    esac
  done
fi
rm -rf "$work"
""" % {"marker": OMIT_MARKER, "names": _words(names), "stub": _STUB_FUNCTION}


def omit_step(omitted: t.Iterable[str]) -> t.List[str]:
    """The RUN step (exec form, so that a SHELL the image sets does not run the POSIX script)."""
    return ["/bin/sh", "-c", omit_script(omitted)]


def simulate_script(omitted: t.Iterable[str], apt_options: t.Sequence[str], simulate: t.Sequence[str]) -> str:
    """POSIX sh for a throwaway container: stubs for omitted at their CANDIDATE versions (apt-cache
    show with apt_options, the options that point apt at the fetched indexes), installed with dpkg -i,
    then exec simulate (an apt-get -s argv): the simulated install then leaves out the omitted
    packages and what only they would pull in. A package without a candidate is skipped with a note."""
    return """\
set -eu
work=$(mktemp -d)
%(stub)sfor name in %(names)s; do
  record=$(apt-cache -q %(options)s show --no-all-versions "$name" 2>/dev/null || true)
  version=$(printf '%%s\n' "$record" | sed -n 's/^Version: //p' | head -n 1)
  if [ -n "$version" ]; then
    stub "$name" "$version" "$(printf '%%s\n' "$record" | sed -n 's/^Provides: //p' | head -n 1)"
    dpkg -i "$work/$name.deb" >&2
  else
    echo "omit packages: $name has no candidate version: nothing to omit" >&2
  fi
done
rm -rf "$work"
exec %(simulate)s
""" % {"stub": _STUB_FUNCTION, "names": _words(omitted), "options": _words(apt_options),
       "simulate": _words(simulate)}


def describe(plan: t.Iterable[t.Any]) -> str:
    """Lines for the plan's table, one per image with omissions (empty without any):
    'omitted from memcached: perl (memcached-tool only)'."""
    lines = []
    for item in plan:
        omitted = getattr(item, "omitted", None) or {}
        if omitted:
            lines.append("\nomitted from %s: %s" % (
                item.name, ", ".join("%s (%s)" % (name, reason) for name, reason in omitted.items())))
    return "".join(lines)
