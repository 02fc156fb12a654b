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
import pathlib
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

from ansible_collections.containergen.images.plugins.module_utils import _referrers, _signing  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._publish import (  # noqa: E402
    PublishError, Registry,
)
from test_publish_registry import module, playbook  # noqa: E402  pylint: disable=import-error

RUN_ID = uuid.uuid4().hex[:8]
PORT = 5471
REGISTRY_PORT = PORT  # the tls_registry fixture's port for this module
REGISTRY_STATE_DIR = "/var/tmp/cg-prov/registry-%s" % RUN_ID
ENDPOINT = "localhost:%d" % PORT
LOCAL_NS = "localhost/cg-prov-%s" % RUN_ID
REMOTE_NS = "prov-%s" % RUN_ID
BASE = "localhost/containergen/debian12-rootfs:bookworm"

pytestmark = pytest.mark.integration


def signing_vars(state: str, work: pathlib.Path) -> dict:
    """Signing enforced, with the trust (policy.json, registries.d) in a directory of the test's own."""
    trust = work / "containers"
    trust.mkdir()
    # the host's policy as Debian ships it: the default must survive
    (trust / "policy.json").write_text(json.dumps({
        "default": [{"type": "insecureAcceptAnything"}],
        "transports": {"docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}}}), encoding="utf-8")
    return {"registry_signing": True, "registry_signing_enforce": True, "registry_signing_dir": state + "/signing",
            "registry_policy_file": str(trust / "policy.json"), "registry_registries_d": str(trust / "registries.d")}


REGISTRY_EXTRA_VARS = signing_vars  # the tls_registry fixture's extra role variables


@pytest.fixture(scope="module")
def registry(tls_registry):
    variables = tls_registry["vars"]
    again_rc, again = playbook("registry", variables, tls_registry["work"])
    assert again_rc == 0 and "changed=0" in again, again[-2000:]
    signing = variables["registry_signing_dir"]
    return dict(tls_registry, key=signing + "/cosign.key", passphrase=signing + "/cosign.password",
                pub=signing + "/cosign.pub", policy=variables["registry_policy_file"],
                registries_d=variables["registry_registries_d"], variables=variables)


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


def publish(registry, names, signed=True, sbom_dir=None, key=None):
    args = {"registry": ENDPOINT, "namespace": REMOTE_NS, "local_namespace": LOCAL_NS, "images": names,
            "authfile": registry["authfile"], "lock_file": os.path.join(registry["work"], "images.lock"),
            "registries_d": registry["registries_d"]}
    if signed:
        key = key or {"key": registry["key"], "passphrase": registry["passphrase"]}
        args.update(sign_key=key["key"], sign_passphrase_file=key["passphrase"])
    if sbom_dir:
        args["sbom_dir"] = sbom_dir
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
    # validated by the reference libraries: spdx-tools (SPDX 2.3 rules) and the CycloneDX 1.6 JSON schema
    from spdx_tools.spdx.parser.parse_anything import parse_file  # pylint: disable=import-outside-toplevel
    from spdx_tools.spdx.validation.document_validator import (  # pylint: disable=import-outside-toplevel
        validate_full_spdx_document,
    )
    from cyclonedx.schema import SchemaVersion  # pylint: disable=import-outside-toplevel
    from cyclonedx.validation.json import JsonStrictValidator  # pylint: disable=import-outside-toplevel

    problems = validate_full_spdx_document(parse_file(paths["spdx"]))
    assert not problems, [p.validation_message for p in problems[:5]]
    with open(paths["cyclonedx"], encoding="utf-8") as handle:
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(handle.read()) is None
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


# ---- SBOMs as OCI artifacts, verification before pull, rotation, cull and garbage collection ----------------

def oci(registry):
    """The registry's HTTP API as the collection uses it (TLS verified by the role's CA in certs.d)."""
    return _referrers.client(ENDPOINT, registry["authfile"])


def api_repo(name):
    return "%s/%s" % (REMOTE_NS, name)


def list_tags(registry, name):
    status, _head, data = oci(registry).request("GET", api_repo(name), "tags/list", ok=(200, 404))
    return (json.loads(data).get("tags") or []) if status == 200 else []


def verify_module(registry, references, keys, require_sbom=False):
    return module("image_verify", {"references": references, "trusted_keys": keys, "require_sbom": require_sbom,
                                   "authfile": registry["authfile"], "registries_d": registry["registries_d"]},
                  registry["work"])


def test_sbom_artifacts_refer_to_the_image_and_an_unchanged_republish_sends_nothing(registry, images):
    make_image("epsilon", "e-" + RUN_ID)
    sbom_dir = os.path.join(registry["work"], "sbom")
    try:
        first = publish(registry, ["epsilon"], sbom_dir=sbom_dir)
        assert not first.get("failed"), first.get("msg")
        [result] = first["images"]
        assert result["action"] == "pushed" and first["sbom_attached"] == ["epsilon"] and result["signed"]
        # the registry password (read from the authfile for the HTTP API) is nowhere in the result or its invocation
        password = registry["variables"]["registry_users"][0]["password"]
        assert password not in json.dumps(first)
        digest, sboms = result["digest"], result["sbom"]
        # made by the publish (none was there), for this very image
        local_id = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", "%s/epsilon:latest" % LOCAL_NS],
                                  capture_output=True, text=True, check=True).stdout.strip()
        with open(os.path.join(sbom_dir, "epsilon.cdx.json"), "rb") as handle:
            cdx_bytes = handle.read()
        with open(os.path.join(sbom_dir, "epsilon.spdx.json"), "rb") as handle:
            spdx_bytes = handle.read()
        properties = {p["name"]: p["value"] for p in json.loads(cdx_bytes)["metadata"]["properties"]}
        assert properties["containergen:image-id"] == "sha256:" + local_id
        # distribution 2.8: no referrers API, so the tag-schema fallback index lists both artifacts
        client_ = oci(registry)
        assert client_.request("GET", api_repo("epsilon"), "referrers/" + digest, ok=(404,))[0] == 404
        fallback = digest.replace(":", "-")
        assert fallback in list_tags(registry, "epsilon")
        listed = {m["artifactType"]: m for m in client_.referrers(api_repo("epsilon"), digest)}
        wanted = {_referrers.SPDX: sboms["spdx"], _referrers.CYCLONEDX: sboms["cyclonedx"]}
        assert {k: m["digest"] for k, m in listed.items()} == wanted
        subject = client_.manifest(api_repo("epsilon"), digest)[0]
        for media_type, local in ((_referrers.SPDX, spdx_bytes), (_referrers.CYCLONEDX, cdx_bytes)):
            descriptor, raw = client_.manifest(api_repo("epsilon"), listed[media_type]["digest"])
            manifest = json.loads(raw)
            assert descriptor["mediaType"] == _referrers.MANIFEST
            assert manifest["subject"] == subject and manifest["artifactType"] == media_type
            assert manifest["config"]["mediaType"] == _referrers.EMPTY
            assert manifest["annotations"][_referrers.CREATOR_ANNOTATION] == "sha256:" + local_id
            [layer] = manifest["layers"]
            assert client_.request("GET", api_repo("epsilon"), "blobs/" + layer["digest"])[2] == local
        with open(os.path.join(registry["work"], "images.lock.json"), encoding="utf-8") as handle:
            lock = json.load(handle)
        assert lock["provenance"][repo("epsilon")] == {"digest": digest, "signed": True, "sbom": sboms}
        index_before = client_.manifest(api_repo("epsilon"), fallback)[0]["digest"]
        tags_before = sorted(list_tags(registry, "epsilon"))
        # an unchanged republish: 0 bytes, no new artifact, no new signature, nothing changed
        again = publish(registry, ["epsilon"], sbom_dir=sbom_dir)
        assert not again.get("failed"), again.get("msg")
        assert (again["bytes_sent"], again["sbom_attached"], again["changed"]) == (0, [], False)
        assert again["images"][0]["sbom"] == sboms and again["images"][0]["action"] == "unchanged"
        assert client_.manifest(api_repo("epsilon"), fallback)[0]["digest"] == index_before
        assert sorted(list_tags(registry, "epsilon")) == tags_before
        assert len(signature_layers(registry, "epsilon", digest)) == 2
        # verified before a pull, SBOMs required
        checked = verify_module(registry, [lock["images"][repo("epsilon")]], [registry["pub"]], require_sbom=True)
        assert not checked.get("failed"), checked.get("msg")
        assert checked["images"][0]["digest"] == digest and checked["images"][0]["sbom"] == sboms
        print("SBOM made at publish %.2f s; sent %d bytes of SBOM artifacts; republish %d bytes; verify %.3f s"
              % (result["sbom_seconds"], result["sbom_bytes_sent"], again["bytes_sent"],
                 checked["images"][0]["seconds"]))
    finally:
        subprocess.run(["podman", "rmi", "--force", "%s/epsilon:latest" % LOCAL_NS], capture_output=True, check=False)


def test_image_verify_refuses_unsigned_moved_and_sbomless_images(registry, images):
    """gamma was pushed by hand (unsigned); alpha has no SBOM; a wrong key signs nothing we trust."""
    published = publish(registry, ["alpha"])
    digest = published["images"][0]["digest"]
    gamma = verify_module(registry, [repo("gamma") + ":latest"], [registry["pub"]])
    assert gamma.get("failed") and "has no signature by a trusted key" in gamma["msg"], gamma
    no_sbom = verify_module(registry, ["%s@%s" % (repo("alpha"), digest)], [registry["pub"]], require_sbom=True)
    assert no_sbom.get("failed") and "no spdx SBOM artifact refers to %s" % digest in no_sbom["msg"], no_sbom
    other = os.path.join(registry["work"], "other.pub")
    with open(other, "wb") as handle:
        handle.write(_signing.new_key_pair()[1])
    wrong = verify_module(registry, ["%s@%s" % (repo("alpha"), digest)], [other])
    assert wrong.get("failed") and "no signature by a trusted key" in wrong["msg"], wrong
    right = verify_module(registry, ["%s@%s" % (repo("alpha"), digest), repo("alpha") + ":latest"], [registry["pub"]])
    assert not right.get("failed") and [i["digest"] for i in right["images"]] == [digest, digest], right


def new_key(registry, name, passphrase=None):
    """A key pair of the operator's own (cosign's format) at paths of their choosing."""
    directory = os.path.join(registry["work"], name)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    paths = {"key": os.path.join(directory, "own.key"), "passphrase": os.path.join(directory, "own.pass"),
             "pub": os.path.join(directory, "own.pub")}
    if passphrase is not None:
        der, pub = _signing.new_key_pair()
        with open(os.open(paths["passphrase"], os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
            handle.write(passphrase)
        with open(os.open(paths["key"], os.O_WRONLY | os.O_CREAT, 0o600), "wb") as handle:
            handle.write(_signing.seal_private_key(der, passphrase))
        with open(paths["pub"], "wb") as handle:
            handle.write(pub)
    made = module("signing_trust", {"key_dir": directory, "private_key": paths["key"], "public_key": paths["pub"],
                                    "passphrase_file": paths["passphrase"]}, registry["work"])
    assert not made.get("failed"), made.get("msg")
    return dict(paths, result=made)


def test_key_rotation_old_signatures_stay_valid_until_culled_and_own_key(registry, images):
    # bring your own key: signing_trust keeps it as it is (never replaced), and publishing signs with it
    own = new_key(registry, "own-key", passphrase=b"operator chosen passphrase")
    assert own["result"]["changed"] is False
    with open(own["key"], "rb") as handle:
        assert handle.read().startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    make_image("eta", "h1-" + RUN_ID)
    old = publish(registry, ["eta"], key=own)
    assert not old.get("failed"), old.get("msg")
    old_digest = old["images"][0]["digest"]
    # rotation: a new key signs the next revision; a trust file holding both keys accepts both revisions
    new = new_key(registry, "rotated")
    assert new["result"]["changed"] is True and new["result"]["key_id"] != own["result"]["key_id"]
    make_image("eta", "h2-" + RUN_ID)
    try:
        rotated = publish(registry, ["eta"], key=new)
        assert not rotated.get("failed"), rotated.get("msg")
        new_digest = rotated["images"][0]["digest"]
        assert rotated["images"][0]["revision"] == 2 and new_digest != old_digest
        both = os.path.join(registry["work"], "trusted.pub")
        with open(both, "wb") as handle:
            for path in (own["pub"], new["pub"]):
                with open(path, "rb") as key:
                    handle.write(key.read())
        references = [repo("eta") + ":latest-1", repo("eta") + ":latest-2", repo("eta") + ":latest"]
        accepted = verify_module(registry, references, [both])
        assert not accepted.get("failed"), accepted.get("msg")
        assert [i["digest"] for i in accepted["images"]] == [old_digest, new_digest, new_digest]
        refused = verify_module(registry, references, [new["pub"]])  # the old revision needs the old key
        assert refused.get("failed") and refused["msg"].startswith(
            "image_verify: eta: %s:latest-1 (%s) has no signature by a trusted key" % (repo("eta"), old_digest)), refused
        # the role's key trusts none of them
        assert verify_module(registry, [repo("eta") + ":latest"], [registry["pub"]]).get("failed")
        # once the old revision is culled, the new key alone accepts every kept reference
        culled = module("image_cull", {"registry": ENDPOINT, "namespace": REMOTE_NS, "images": ["eta"],
                                       "max_age_days": 0, "authfile": registry["authfile"],
                                       "registries_d": registry["registries_d"]}, registry["work"])
        assert not culled.get("failed") and culled["images"][0]["deleted"] == ["latest-1"], culled
        assert Registry.signature_tag(old_digest) not in list_tags(registry, "eta")
        assert not verify_module(registry, references[1:], [new["pub"]]).get("failed")
        # a wrong passphrase for an own key is one line naming the key file, and no secret
        with open(own["passphrase"], "wb") as handle:
            handle.write(b"not it")
        make_image("eta", "h3-" + RUN_ID)
        bad = publish(registry, ["eta"], key=own)
        assert bad.get("failed") and "%s: the passphrase does not open the key" % own["key"] in bad["msg"], bad
        assert "not it" not in bad["msg"] and "\n" not in bad["msg"]
        assert "latest-3" not in list_tags(registry, "eta")  # the key is opened before anything is pushed
    finally:
        subprocess.run(["podman", "rmi", "--force", "%s/eta:latest" % LOCAL_NS], capture_output=True, check=False)


def blob_path(registry, digest):
    hexdigest = digest.split(":", 1)[1]
    return os.path.join(registry["state"], "data", "docker", "registry", "v2", "blobs", "sha256", hexdigest[:2],
                        hexdigest, "data")


def referenced(client_, repository, reference, seen, manifests=None):
    """Every digest (manifests and blobs) that repository:reference reaches: index children, config, layers.
    manifests (a set) gets the digests that are manifests."""
    found = client_.manifest(repository, reference)
    assert found is not None, "%s:%s is gone" % (repository, reference)
    descriptor, raw = found
    if descriptor["digest"] in seen:
        return
    seen.add(descriptor["digest"])
    if manifests is not None:
        manifests.add(descriptor["digest"])
    manifest = json.loads(raw)
    for child in manifest.get("manifests") or []:
        referenced(client_, repository, child["digest"], seen, manifests)
    for blob in ([manifest["config"]] if manifest.get("config") else []) + (manifest.get("layers") or []):
        seen.add(blob["digest"])


def test_cull_removes_sbom_and_signatures_of_culled_revisions_and_gc_keeps_every_kept_reference(registry, images):
    sbom_dir = os.path.join(registry["work"], "sbom-zeta")
    try:
        make_image("zeta", "z1-" + RUN_ID)
        first = publish(registry, ["zeta"], sbom_dir=sbom_dir)
        make_image("zeta", "z2-" + RUN_ID)
        second = publish(registry, ["zeta"], sbom_dir=sbom_dir)
        for result in (first, second):
            assert not result.get("failed"), result.get("msg")
        old, new = first["images"][0], second["images"][0]
        client_ = oci(registry)
        old_reached, parts = set(), {}
        for part in (old["digest"].replace(":", "-"), old["digest"], Registry.signature_tag(old["digest"])):
            parts[part] = set()
            referenced(client_, api_repo("zeta"), part, parts[part])
            old_reached |= parts[part]
        culled = module("image_cull", {"registry": ENDPOINT, "namespace": REMOTE_NS, "images": ["zeta"],
                                       "max_age_days": 0, "authfile": registry["authfile"],
                                       "registries_d": registry["registries_d"]}, registry["work"])
        assert not culled.get("failed"), culled.get("msg")
        [result] = culled["images"]
        assert result["deleted"] == ["latest-1"] and result["kept"] == ["latest-2"]
        assert result["signatures_deleted"] == [Registry.signature_tag(old["digest"])]
        assert set(old["sbom"].values()) <= set(result["artifacts_deleted"])
        tags = list_tags(registry, "zeta")
        assert old["digest"].replace(":", "-") not in tags and Registry.signature_tag(old["digest"]) not in tags
        for digest in [old["digest"]] + list(old["sbom"].values()):
            assert client_.manifest(api_repo("zeta"), digest) is None, digest
        # the kept digest keeps its SBOMs and signatures
        assert {m["digest"] for m in client_.referrers(api_repo("zeta"), new["digest"])} == set(new["sbom"].values())
        assert Registry.signature_tag(new["digest"]) in tags
        # garbage collection (the registry role's gc entry point: stop, collect, start)
        rc, output = playbook("registry_gc", registry["variables"], registry["work"])
        assert rc == 0, output[-3000:]
        print("\n".join(line for line in output.splitlines() if "eligible" in line or "blobs and" in line))
        client_ = oci(registry)
        # every blob a kept tag reaches (images, signatures, SBOM indexes and artifacts) is there and is served
        kept = set()
        names = ["alpha", "beta", "gamma", "delta", "epsilon", "eta", "zeta"]
        for name in names:
            for tag in list_tags(registry, name):
                referenced(client_, api_repo(name), tag, kept)
        blobs = [d for d in kept if os.path.exists(blob_path(registry, d))]
        assert sorted(blobs) == sorted(kept)  # manifests are blobs too in distribution's storage
        for name in ("zeta",):
            for tag in list_tags(registry, name):
                seen, manifests = set(), set()
                referenced(client_, api_repo(name), tag, seen, manifests)
                for digest in seen - manifests:  # served (manifests are fetched above, by referenced)
                    assert client_.request("HEAD", api_repo(name), "blobs/" + digest, ok=(200,))[0] == 200
        for kind, digest in new["sbom"].items():
            [layer] = json.loads(client_.manifest(api_repo("zeta"), digest)[1])["layers"]
            with open(os.path.join(sbom_dir, "zeta.%s.json" % ("spdx" if kind == "spdx" else "cdx")), "rb") as handle:
                assert client_.request("GET", api_repo("zeta"), "blobs/" + layer["digest"])[2] == handle.read()
        # what only the culled revision reached (its SBOM documents and artifacts, its signature, its own layer) is gone
        only_old = old_reached - kept
        left = {part: sorted(d for d in reached - kept if os.path.exists(blob_path(registry, d)))
                for part, reached in parts.items()}
        links = sorted(os.path.relpath(os.path.join(root, name_), registry["state"])
                       for root, _dirs, files in os.walk(os.path.join(registry["state"], "data", "docker", "registry",
                                                                      "v2", "repositories"))
                       for name_ in files for digests in left.values() for d in digests
                       if d.split(":")[1] in os.path.join(root, name_))
        assert only_old and not any(left.values()), (left, links)
        print("gc: kept %d blobs of %d repositories; removed %d that only the culled revision reached"
              % (len(kept), len(names), len(only_old)))
    finally:
        subprocess.run(["podman", "rmi", "--force", "%s/zeta:latest" % LOCAL_NS], capture_output=True, check=False)
