# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installed as a user installs it, away from the checkout: the collection built by `ansible-galaxy
collection build` and installed from its tarball, the command pip-installed into a fresh virtualenv,
run from a directory outside the checkout with only Ansible's collections path to find the collection."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")
DEPS = os.path.join(REPO, ".cache", "collections", "ansible_collections")

pytestmark = pytest.mark.integration


def run(argv, cwd, env=None, timeout=600):
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def clean_env(**extra):
    """The caller's environment without anything pointing into the checkout."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV")) and REPO not in value}
    env["PATH"] = os.pathsep.join(part for part in os.environ.get("PATH", "").split(os.pathsep) if REPO not in part)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    outside = root / "elsewhere"
    outside.mkdir()
    dist, collections, deps = root / "dist", root / "collections", root / "deps" / "ansible_collections"
    tools = os.path.dirname(VENV_PYTHON)
    galaxy_env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(collections))
    run([os.path.join(tools, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO],
        cwd=str(outside), env=galaxy_env)
    tarball = glob.glob(str(dist / "containergen-images-*.tar.gz"))
    assert len(tarball) == 1, tarball
    # the dependencies (galaxy.yml) come from the checkout's offline cache, not a network index
    for namespace, name in (("community", "crypto"),):
        (deps / namespace).mkdir(parents=True)
        os.symlink(os.path.join(DEPS, namespace, name), str(deps / namespace / name))
    run([os.path.join(tools, "ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "-p",
         str(collections), tarball[0]], cwd=str(outside), env=galaxy_env)
    # the command into a fresh virtualenv (its build backend from the configured package index); its libraries (ansible-core, PyYAML...) from the checkout's
    # virtualenv through a plain path line (no .pth of that one is processed: not its editable install)
    venv = root / "venv"
    run([VENV_PYTHON, "-m", "venv", str(venv)], cwd=str(outside))
    site = run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=str(outside)).stdout.strip()
    libs = run([VENV_PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=str(outside)).stdout.strip()
    with open(os.path.join(site, "zz-containergen-test-libs.pth"), "w", encoding="utf-8") as handle:
        handle.write(libs + "\n")
    source = root / "source"  # the package's files only: a build in the checkout would leave build/ there
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(REPO, name), str(source / name))
    shutil.copytree(os.path.join(REPO, "containergen_cli"), str(source / "containergen_cli"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    run([str(venv / "bin" / "pip"), "install", "--no-deps", str(source)],
        cwd=str(outside), env=clean_env(PIP_NO_INPUT="1"))
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([str(collections), str(deps.parent)]),
                    PATH=str(venv / "bin") + os.pathsep + clean_env()["PATH"])
    return {"root": root, "outside": str(outside), "env": env, "venv": venv, "collections": collections,
            "tarball": tarball[0]}


def test_tarball_holds_the_license_and_dependencies_and_no_build_debris(installed):
    with tarfile.open(installed["tarball"]) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    assert "LICENSE" in names
    assert not [name for name in names if ".egg-info" in name or "__pycache__" in name or name.startswith(
        (".cache", ".venv", ".git/", "tests/output", "bench/results"))]
    info = manifest["collection_info"]
    assert info["dependencies"] == {"community.crypto": ">=2.10.0"}
    assert info["license"] == ["GPL-3.0-or-later"]
    urls = ("repository", "homepage", "issues", "documentation")
    assert not any("example.invalid" in str(info.get(key) or "") for key in urls)


def test_installed_command_uses_the_installed_collection(installed):
    proc = run([str(installed["venv"] / "bin" / "python"), "-c",
                "import containergen_cli, sys; from containergen_cli import core; "
                "print(containergen_cli.__file__); print(core.collection_root())"],
               cwd=installed["outside"], env=installed["env"])
    module_file, collection_root = proc.stdout.split()
    assert module_file.startswith(str(installed["venv"])), module_file
    assert collection_root == str(installed["collections"])


def test_installed_plan_and_skip_build_run_outside_the_checkout(installed):
    containergen = str(installed["venv"] / "bin" / "containergen")
    work = str(installed["root"] / "work")
    plan = json.loads(run([containergen, "plan", "--include", "cron", "--json", "--work-dir", work],
                          cwd=installed["outside"], env=installed["env"]).stdout)
    assert plan["order"] == ["base", "cron"]
    skipped = json.loads(run([containergen, "build", "--skip-build", "--include", "keystone", "--json",
                              "--work-dir", work], cwd=installed["outside"], env=installed["env"]).stdout)
    assert skipped["order"][-1] == "keystone" and skipped["order"][0] == "base"


def test_installed_roles_resolve_their_dependencies(installed):
    """The registry role's community.crypto modules resolve from the declared dependency."""
    run([os.path.join(os.path.dirname(VENV_PYTHON), "ansible-playbook"), "--syntax-check", "containergen.images.site"],
        cwd=installed["outside"], env=installed["env"])
