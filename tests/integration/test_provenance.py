# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signing on publish and enforcement on pull, against a real TLS registry set up by the registry role.

The role makes the key pair and writes the trust (a policy.json and a registries.d directory of the
test's own, so the host's policy is not touched); image_publish signs. Pulls are checked twice: by
skopeo under that policy, and by the collection's own verification (Registry.verify), because
Debian 12's skopeo and podman are built without sigstore: they refuse an unsigned image ("no
signature exists") but cannot check a signature either ("Debian-local change: sigstore disabled").
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import time
import urllib.parse
import uuid

import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._publish import (  # noqa: E402
    PublishError, Registry,
)
from test_publish_registry import module, playbook  # noqa: E402  pylint: disable=import-error

RUN_ID = uuid.uuid4().hex[:8]
PORT = 5341
ENDPOINT = "localhost:%d" % PORT
LOCAL_NS = "localhost/cg-prov-%s" % RUN_ID
REMOTE_NS = "prov-%s" % RUN_ID
BASE = "localhost/containergen/debian12-rootfs:bookworm"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    base = tmp_path_factory.mktemp("registry")
    state = "/var/tmp/cg-prov/registry-%s" % RUN_ID
    trust = str(base / "containers")
    os.makedirs(trust)
    # the host's policy as Debian ships it: the default must survive
    with open(os.path.join(trust, "policy.json"), "w", encoding="utf-8") as handle:
        json.dump({"default": [{"type": "insecureAcceptAnything"}],
                   "transports": {"docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}}}, handle)
    variables = {
        "registry_port": PORT,
        "registry_config_dir": state + "/etc", "registry_data_dir": state + "/data",
        "registry_log_file": state + "/registry.log", "registry_pid_file": state + "/registry.pid",
        "registry_authfile": str(base / "auth.json"), "registry_bcrypt_cost": 5,
        "registry_users": [{"name": "publisher", "password": secrets.token_urlsafe(18)}],
        "registry_signing": True, "registry_signing_enforce": True, "registry_signing_dir": state + "/signing",
        "registry_policy_file": trust + "/policy.json", "registry_registries_d": trust + "/registries.d",
    }
    rc, output = playbook("registry", variables, str(base))
    try:
        assert rc == 0, output[-3000:]
        again_rc, again = playbook("registry", variables, str(base))
        assert again_rc == 0 and "changed=0" in again, again[-2000:]
        yield {"work": str(base), "authfile": str(base / "auth.json"), "state": state,
               "key": state + "/signing/cosign.key", "passphrase": state + "/signing/cosign.password",
               "pub": state + "/signing/cosign.pub", "policy": trust + "/policy.json",
               "registries_d": trust + "/registries.d", "output": output}
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", variables["registry_pid_file"], "--retry",
                        "TERM/10/KILL/5", "--oknodo"], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
        for certs in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
            shutil.rmtree(os.path.join(certs, ENDPOINT), ignore_errors=True)


def make_image(name, content):
    """A containergen-labelled local image: the base plus one small file (content sets the digest)."""
    container = subprocess.run(["buildah", "from", "--pull-never", BASE], capture_output=True, text=True,
                               check=True).stdout.strip()
    try:
        subprocess.run(["buildah", "run", container, "--", "sh", "-c", "echo %s > /etc/cg-prov" % content],
                       check=True, capture_output=True)
        subprocess.run(["buildah", "config", "--label", "containergen.image=" + name,
                        "--label", "containergen.fingerprint=fp-" + content,
                        "--label", "containergen.manifest.sha256=m-" + content, container],
                       check=True, capture_output=True)
        subprocess.run(["buildah", "commit", "--quiet", container, "%s/%s:latest" % (LOCAL_NS, name)],
                       check=True, capture_output=True)
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False)


@pytest.fixture(scope="module")
def images():
    make_image("alpha", "a-" + RUN_ID)
    make_image("beta", "b-" + RUN_ID)
    make_image("gamma", "c-" + RUN_ID)  # never published: pushed by hand, unsigned
    yield
    subprocess.run(["podman", "rmi", "--force"] + ["%s/%s:latest" % (LOCAL_NS, n) for n in ("alpha", "beta", "gamma")],
                   capture_output=True, check=False)


def publish(registry, names, signed=True):
    args = {"registry": ENDPOINT, "namespace": REMOTE_NS, "local_namespace": LOCAL_NS, "images": names,
            "authfile": registry["authfile"], "lock_file": os.path.join(registry["work"], "images.lock"),
            "registries_d": registry["registries_d"]}
    if signed:
        args.update(sign_key=registry["key"], sign_passphrase_file=registry["passphrase"])
    return module("image_publish", args, registry["work"])


def repo(name):
    return "%s/%s/%s" % (ENDPOINT, REMOTE_NS, name)


def pull(registry, ref):
    """Pull with the trust the role wrote (policy.json + registries.d); returns (rc, output, seconds)."""
    dest = os.path.join(registry["work"], "pulled-" + uuid.uuid4().hex[:6])
    start = time.monotonic()
    proc = subprocess.run(["skopeo", "--policy", registry["policy"], "--registries.d", registry["registries_d"],
                           "copy", "--authfile", registry["authfile"], "docker://" + ref, "dir:" + dest],
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    shutil.rmtree(dest, ignore_errors=True)
    return proc.returncode, proc.stdout + proc.stderr, seconds


DEBIAN_NO_SIGSTORE = "Debian-local change: sigstore disabled"


def client(registry):
    return Registry(Runner(), ENDPOINT, REMOTE_NS, authfile=registry["authfile"],
                    registries_d=registry["registries_d"])


def verify(registry, name, reference):
    """(digest or None, seconds): the collection's check of what a sigstoreSigned policy decides."""
    with open(registry["pub"], "rb") as handle:
        public = handle.read()
    start = time.monotonic()
    try:
        digest = client(registry).verify(name, reference, [public])
    except PublishError as exc:
        print("refused: %s" % exc)
        digest = None
    return digest, time.monotonic() - start


def signed_pull(registry, ref):
    """A pull under the role's policy of a correctly signed image: passes, or is the known Debian build."""
    rc, output, seconds = pull(registry, ref)
    if rc != 0 and DEBIAN_NO_SIGSTORE in output:
        return None
    assert rc == 0, output
    return seconds


def skopeo(registry, *args):
    return subprocess.run(["skopeo", "--registries.d", registry["registries_d"]] + list(args[:1])
                          + ["--authfile", registry["authfile"]] + list(args[1:]),
                          capture_output=True, text=True, check=False)


def signature_layers(registry, name, digest):
    proc = skopeo(registry, "inspect", "--raw", "docker://%s:%s.sig" % (repo(name), digest.replace(":", "-")))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["layers"]


def test_role_makes_the_key_pair_and_the_trust(registry):
    for path in (registry["key"], registry["passphrase"]):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    with open(registry["key"], encoding="ascii") as handle:
        assert handle.readline() == "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"
    with open(registry["passphrase"], encoding="ascii") as handle:
        assert handle.read() not in registry["output"]  # never logged
    with open(registry["policy"], encoding="utf-8") as handle:
        policy = json.load(handle)
    assert policy["default"] == [{"type": "insecureAcceptAnything"}]
    assert policy["transports"]["docker-daemon"] == {"": [{"type": "insecureAcceptAnything"}]}
    assert policy["transports"]["docker"][ENDPOINT] == [{"type": "sigstoreSigned", "keyPath": registry["pub"]}]
    with open(os.path.join(registry["registries_d"], "containergen-localhost_%d.yaml" % PORT), encoding="utf-8") as h:
        assert "use-sigstore-attachments: true" in h.read()


def test_signed_publish_pulls_and_unchanged_republish_signs_nothing(registry, images):
    start = time.monotonic()
    first = publish(registry, ["alpha", "beta"])
    publish_seconds = time.monotonic() - start
    assert not first.get("failed"), first.get("msg")
    assert sorted(first["signed"]) == ["alpha", "beta"]
    digest = {r["name"]: r["digest"] for r in first["images"]}
    with open(os.path.join(registry["work"], "images.lock.json"), encoding="utf-8") as handle:
        lock = json.load(handle)
    assert lock["provenance"][repo("alpha")] == {"digest": digest["alpha"], "signed": True}
    # the revision and the floating tag each have their signature (one per identity)
    assert len(signature_layers(registry, "alpha", digest["alpha"])) == 2
    times, skopeo_times = [], []
    for name, reference in (("alpha", "latest"), ("alpha", "latest-1"), ("beta", "@" + digest["beta"])):
        verified, seconds = verify(registry, name, reference)
        assert verified == digest[name]
        times.append(seconds)
        skopeo_times.append(signed_pull(registry, repo(name) + (reference if reference[0] == "@" else ":" + reference)))
    again = publish(registry, ["alpha", "beta"])
    assert [r["action"] for r in again["images"]] == ["unchanged", "unchanged"]
    assert again["bytes_sent"] == 0 and not again["changed"]
    assert len(signature_layers(registry, "alpha", digest["alpha"])) == 2  # no new signature
    print("publish of 2 signed images %.2f s; verification %s s; skopeo pulls under the policy %s"
          % (publish_seconds, ["%.2f" % s for s in times], skopeo_times))


def test_unsigned_image_pushed_by_hand_is_refused(registry, images):
    proc = skopeo(registry, "copy", "containers-storage:%s/gamma:latest" % LOCAL_NS, "docker://%s:latest" % repo("gamma"))
    assert proc.returncode == 0, proc.stderr
    rc, output = pull(registry, repo("gamma") + ":latest")[:2]
    assert rc != 0 and "no signature exists" in output, output
    assert verify(registry, "gamma", "latest")[0] is None
    # the same image pulls without our scope (the default policy is untouched): the refusal is the signature's
    plain = subprocess.run(["skopeo", "--policy", "/etc/containers/policy.json", "inspect", "--authfile",
                            registry["authfile"], "docker://%s:latest" % repo("gamma")], capture_output=True,
                           text=True, check=False)
    assert plain.returncode == 0, plain.stderr


def test_tag_moved_by_hand_is_refused_and_republish_puts_it_back(registry, images):
    publish(registry, ["alpha", "beta"])
    # beta's signed revision, copied by hand (with its signatures) under alpha's floating tag
    proc = skopeo(registry, "copy", "docker://%s:latest-1" % repo("beta"), "docker://%s:latest" % repo("alpha"))
    assert proc.returncode == 0, proc.stderr
    rc, output = pull(registry, repo("alpha") + ":latest")[:2]
    assert rc != 0 and "signature" in output.lower(), output
    assert verify(registry, "alpha", "latest")[0] is None  # beta's signatures name beta
    assert verify(registry, "beta", "latest-1")[0] is not None
    # gamma's unsigned image under alpha's floating tag
    proc = skopeo(registry, "copy", "containers-storage:%s/gamma:latest" % LOCAL_NS, "docker://%s:latest" % repo("alpha"))
    assert proc.returncode == 0, proc.stderr
    rc, output = pull(registry, repo("alpha") + ":latest")[:2]
    assert rc != 0 and "no signature exists" in output, output
    assert verify(registry, "alpha", "latest")[0] is None
    fixed = publish(registry, ["alpha"])
    assert fixed["images"][0]["action"] == "retagged" and fixed["bytes_sent"] == 0
    assert verify(registry, "alpha", "latest")[0] == fixed["images"][0]["digest"]


def test_unsigned_publish_is_refused_on_pull_then_signed_in_place(registry, images):
    make_image("delta", "d-" + RUN_ID)
    try:
        unsigned = publish(registry, ["delta"], signed=False)
        assert unsigned["images"][0]["signed"] is False
        rc, output = pull(registry, repo("delta") + ":latest")[:2]
        assert rc != 0 and "no signature exists" in output, output
        assert verify(registry, "delta", "latest")[0] is None
        signed = publish(registry, ["delta"])
        assert signed["images"][0]["action"] == "signed" and signed["bytes_sent"] == 0
        assert signed["images"][0]["digest"] == unsigned["images"][0]["digest"]
        for reference in ("latest", "latest-1"):
            assert verify(registry, "delta", reference)[0] == signed["images"][0]["digest"]
    finally:
        subprocess.run(["podman", "rmi", "--force", "%s/delta:latest" % LOCAL_NS], capture_output=True, check=False)


def test_sbom_of_a_built_image_lists_every_dpkg_package_with_distro_purls(images, tmp_path):
    from ansible_collections.containergen.images.plugins.module_utils import _sbom  # pylint: disable=import-outside-toplevel

    ref = "%s/alpha:latest" % LOCAL_NS
    labels = {"containergen.fingerprint": "fp-a-" + RUN_ID, "containergen.manifest.sha256": "m-a-" + RUN_ID}
    start = time.monotonic()
    paths = _sbom.generate(Runner(), ref, "alpha", labels, str(tmp_path / "sbom"))
    seconds = time.monotonic() - start
    with open(paths["spdx"], encoding="utf-8") as handle:
        spdx = json.load(handle)
    with open(paths["cyclonedx"], encoding="utf-8") as handle:
        cdx = json.load(handle)
    query = ["podman", "run", "--rm", "--network", "none", ref, "dpkg-query", "-W", "-f", "${Package}@${Version}\\n"]
    installed = set(subprocess.run(query, capture_output=True, text=True, check=True).stdout.split())
    assert len(installed) > 50
    # SPDX 2.3: the document's required fields, every package identified, the distro in each purl
    assert (spdx["spdxVersion"], spdx["dataLicense"], spdx["SPDXID"]) == ("SPDX-2.3", "CC0-1.0", "SPDXRef-DOCUMENT")
    assert spdx["documentNamespace"].startswith("https://") and spdx["creationInfo"]["created"]
    debs = {}
    for package in spdx["packages"]:
        assert package["SPDXID"].startswith("SPDXRef-") and package["name"] and "downloadLocation" in package
        for ref_ in package.get("externalRefs") or []:
            if ref_["referenceType"] == "purl" and ref_["referenceLocator"].startswith("pkg:deb/debian/"):
                debs[package["name"]] = ref_["referenceLocator"]
    assert {"%s@%s" % (n, urllib.parse.unquote(p.split("@", 1)[1].split("?", 1)[0])) for n, p in debs.items()} == installed
    assert all("distro=debian-12" in purl for purl in debs.values())
    assert {a["comment"] for a in spdx["annotations"]} >= {"containergen:fingerprint=fp-a-" + RUN_ID,
                                                           "containergen:manifest-digest=m-a-" + RUN_ID}
    # CycloneDX 1.6: the same packages, our labels as metadata properties
    assert (cdx["bomFormat"], cdx["specVersion"]) == ("CycloneDX", "1.6")
    assert cdx["serialNumber"].startswith("urn:uuid:")
    assert {c["purl"] for c in cdx["components"] if c.get("purl", "").startswith("pkg:deb/")} == set(debs.values())
    assert {p["name"]: p["value"] for p in cdx["metadata"]["properties"]}["containergen:fingerprint"] == "fp-a-" + RUN_ID
    # the image was mounted read-only and is unmounted again
    mounted = subprocess.run(["podman", "image", "mount"], capture_output=True, text=True, check=True).stdout
    assert ref not in mounted
    print("SBOM of alpha (%d deb packages): %.1f s" % (len(debs), seconds))


def test_build_with_sbom_writes_them_next_to_the_summary(tmp_path):
    """image_build sbom: true on the chain fixture: an SBOM pair per image in WORK_DIR/sbom."""
    definitions = str(tmp_path / "defs")
    shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "chain"), definitions)
    namespace = "localhost/cg-prov-sbom-%s" % RUN_ID
    work = str(tmp_path / "w")
    try:
        rc, output = playbook("build", {"image_build_definitions_path": definitions, "image_build_namespace": namespace,
                                        "image_build_work_dir": work, "image_build_sbom": True}, str(tmp_path))
        assert rc == 0, output[-3000:]
        with open(os.path.join(work, "summary.json"), encoding="utf-8") as handle:
            result = json.load(handle)
        assert result["images"] and sorted(result["sbom"]) == sorted(item["name"] for item in result["images"])
        for name, entry in result["sbom"].items():
            assert entry["spdx"] == os.path.join(work, "sbom", name + ".spdx.json"), entry
            with open(entry["cyclonedx"], encoding="utf-8") as handle:
                assert json.load(handle)["specVersion"] == "1.6"
        print("SBOM seconds per image: %s" % {n: e["seconds"] for n, e in result["sbom"].items()})
    finally:
        out = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True,
                             text=True, check=False).stdout.split()
        doomed = [ref for ref in out if ref.startswith(namespace + "/")]
        if doomed:
            subprocess.run(["podman", "rmi", "--force"] + doomed, capture_output=True, check=False)
