# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main job's smoke deploy (playbook smoke, role deploy) against a real TLS registry.

mariadb, memcached and keystone are built (CG_SMOKE_NAMESPACE names images already built instead),
published to a registry the registry role sets up with TLS and htpasswd, and the smoke playbook pulls
them by digest from the lock file, starts them, asks keystone for a token and its catalog, and
removes everything it made.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN_ID = uuid.uuid4().hex[:8]
PORT = 32050
REGISTRY_PORT = PORT  # the tls_registry fixture's port for this module
ENDPOINT = "localhost:%d" % PORT
REMOTE_NS = "smoke-%s" % RUN_ID
WORK = "/var/tmp/cg-smoke"
IMAGES = ["mariadb", "memcached", "keystone"]
PREFIX = "cgsmoke-%s-" % RUN_ID
DEPLOY_ROOT = os.path.join(WORK, "deploy-" + RUN_ID)
PORTS = {"mariadb": 32306, "memcached": 32211, "keystone": 32500}
REGISTRY_STATE_DIR = os.path.join(WORK, "registry-" + RUN_ID)

pytestmark = pytest.mark.integration


def playbook(name, variables, work):
    os.makedirs(work, exist_ok=True)
    vars_file = os.path.join(work, "vars-%s.json" % uuid.uuid4().hex[:6])
    with open(os.open(vars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    argv = ["ansible-playbook", "containergen.images." + name, "-e", "@" + vars_file]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800, check=False)
    os.unlink(vars_file)
    return proc.returncode, proc.stdout + proc.stderr


def module(name, args):
    proc = subprocess.run(
        ["ansible", "localhost", "-m", "containergen.images." + name, "-a", json.dumps(args), "-e",
         "ansible_python_interpreter=" + os.path.join(REPO, ".venv", "bin", "python")],
        cwd=REPO, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"), check=False)
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def podman(*args):
    return subprocess.run(["podman"] + list(args), capture_output=True, text=True, check=False)


def signing_vars(state: str, work: pathlib.Path) -> dict:
    """A key pair of the test's own; the host's policy.json and registries.d are left alone."""
    return {"registry_signing": True, "registry_signing_dir": state + "/signing",
            "registry_registries_d": str(work / "registries.d")}


REGISTRY_EXTRA_VARS = signing_vars  # the tls_registry fixture's extra role variables


@pytest.fixture(scope="module")
def registry(tls_registry):
    return dict(tls_registry, signing=tls_registry["state"] + "/signing",
                registries_d=tls_registry["vars"]["registry_registries_d"])


@pytest.fixture(scope="module")
def namespace():
    """The local namespace holding the three images: built once into localhost/cg-smoke unless given."""
    given = os.environ.get("CG_SMOKE_NAMESPACE")
    if given:
        return given
    rc, output = playbook("build", {"image_build_include": IMAGES, "image_build_namespace": "localhost/cg-smoke",
                                    "image_build_work_dir": os.path.join(WORK, "build")}, WORK)
    assert rc == 0, output[-3000:]
    return "localhost/cg-smoke"


@pytest.fixture(scope="module")
def lock(registry, namespace):
    result = module("image_publish", {"registry": ENDPOINT, "namespace": REMOTE_NS, "tag": "latest",
                                      "local_namespace": namespace, "images": IMAGES,
                                      "authfile": registry["authfile"],
                                      "lock_file": os.path.join(registry["work"], "images.lock"),
                                      "sign_key": registry["signing"] + "/cosign.key",
                                      "sign_passphrase_file": registry["signing"] + "/cosign.password",
                                      "registries_d": registry["registries_d"],
                                      "sbom_dir": os.path.join(registry["work"], "sbom")})
    assert not result.get("failed"), result.get("msg")
    path = os.path.join(registry["work"], "images.lock.json")
    with open(path, encoding="utf-8") as handle:
        return {"path": path, "images": json.load(handle)["images"]}


def smoke(registry, lock_path, **extra):
    variables = {"deploy_lock_file": lock_path, "deploy_authfile": registry["authfile"], "deploy_root": DEPLOY_ROOT,
                 "deploy_prefix": PREFIX, "deploy_ports": PORTS, "deploy_require_sbom": True,
                 "deploy_trusted_keys": [registry["signing"] + "/cosign.pub"]}
    variables.update(extra)
    return playbook("smoke", variables, registry["work"])


def assert_nothing_left():
    assert podman("ps", "--all", "--quiet", "--filter", "name=^" + PREFIX).stdout.strip() == ""
    volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert [name for name in volumes if name.startswith(PREFIX)] == []
    assert not os.path.exists(DEPLOY_ROOT)
    # No image name under the registry's namespace: what was pulled is untagged again.
    names = podman("images", "--format", "{{.Repository}}").stdout.split()
    assert [name for name in names if name.startswith("%s/%s/" % (ENDPOINT, REMOTE_NS))] == []


def by_digest(ref):
    """registry/ns/name:tag-N@sha256:... -> registry/ns/name@sha256:..."""
    return re.sub(r":[^:/@]+@", "@", ref)


def test_smoke_deploy_answers_and_leaves_nothing(registry, lock):
    refs = {name: by_digest(next(ref for repo, ref in lock["images"].items() if repo.endswith("/" + name)))
            for name in IMAGES}
    rc, output = smoke(registry, lock["path"])
    assert rc == 0, output[-4000:]
    print("\n".join(line for line in output.splitlines() if re.search(r'"(healthy|answered) ', line)))
    for name in IMAGES:
        digest = refs[name].split("@")[1][:19]
        assert re.search(r"healthy +%s +%s +\d+\.\d s to healthy" % (name, digest), output), output[-3000:]
        assert refs[name] in output, name  # the pull's label names the reference by digest
    for name in IMAGES:  # checked (signature and SBOMs) before the pull, by the digest pulled
        assert "verified  %s" % refs[name].rsplit("/", 1)[1] in output, output[-3000:]
    assert re.search(r"answered  token issue: expires \d{4}-", output), output[-3000:]
    assert "answered  catalog list: identity" in output, output[-3000:]
    assert_nothing_left()


def test_image_missing_from_lock_file_is_one_error(registry, lock, tmp_path):
    partial = tmp_path / "images.lock.json"
    partial.write_text(json.dumps({"images": {repo: ref for repo, ref in lock["images"].items()
                                              if not repo.endswith("/keystone")}}))
    rc, output = smoke(registry, str(partial))
    assert rc != 0
    assert "%s: image keystone: no repository of that name" % partial in output, output[-3000:]
    assert_nothing_left()


def test_skipped_with_smoke_deploy_false(registry, tmp_path):
    rc, output = smoke(registry, str(tmp_path / "absent.json"), smoke_deploy=False)
    assert rc == 0, output[-3000:]
    assert "skipping: [localhost]" in output
    assert "healthy " not in output


def test_an_image_without_our_signature_stops_the_deploy_before_any_pull(registry, lock, namespace, tmp_path):
    """memcached pushed by hand to another repository (no signature there) and named in the lock file: refused,
    nothing pulled or started; so is every image when the trusted key is another one."""
    hand = "%s/%s-unsigned/memcached:latest" % (ENDPOINT, REMOTE_NS)
    proc = subprocess.run(["skopeo", "copy", "--authfile", registry["authfile"], "containers-storage:%s/memcached:latest"
                           % namespace, "docker://" + hand], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    digest = json.loads(subprocess.run(["skopeo", "inspect", "--authfile", registry["authfile"], "docker://" + hand],
                                       capture_output=True, text=True, check=True).stdout)["Digest"]
    images = {repo: ref for repo, ref in lock["images"].items() if not repo.endswith("/memcached")}
    images[hand.rsplit(":", 1)[0]] = "%s@%s" % (hand, digest)
    tampered = tmp_path / "images.lock.json"
    tampered.write_text(json.dumps({"images": images}))
    rc, output = smoke(registry, str(tampered))
    assert rc != 0
    assert "%s-unsigned/memcached@%s (%s) has no signature by a trusted key" % (REMOTE_NS, digest, digest) in output, \
        output[-3000:]
    assert "Pull each image by digest" not in output
    assert_nothing_left()
    other = tmp_path / "other.pub"
    other.write_bytes(subprocess.run(["openssl", "ec", "-pubout"], input=subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout"], capture_output=True, check=True).stdout,
        capture_output=True, check=True).stdout)
    rc, output = smoke(registry, lock["path"], deploy_trusted_keys=[str(other)])
    assert rc != 0 and "has no signature by a trusted key" in output, output[-3000:]
    assert "Pull each image by digest" not in output
    assert_nothing_left()
