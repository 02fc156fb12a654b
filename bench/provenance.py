#!/usr/bin/env python
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What provenance costs: SBOMs, signatures and their verification, for a built set, against a real registry.

A throwaway TLS registry with htpasswd auth and a signing key pair is set up with the registry role
(its own policy.json and registries.d; the host's are not touched). Then, for every containergen
image of --namespace:

1. SBOM generation (syft on the image mounted read-only; SPDX 2.3 + CycloneDX 1.6), per image and
   for the set;
2. a first publish without signing or SBOMs (the baseline push), then, per image, what the signed
   publish adds: the signatures of the revision and the floating tag (Registry.sign, the code
   image_publish runs) and the SBOM artifacts (attach_sboms);
3. verification per pull (Registry.verify: the digest, the signature attachment, the ECDSA check),
   next to what reading the manifest alone costs (skopeo inspect);
4. a republish of the unchanged set, signed and with SBOMs: bytes sent and signatures made (both
   must be 0).

Usage (after scripts/setup.sh and `source scripts/env.sh`; as root):
    python bench/provenance.py --namespace localhost/containergen [--include NAME ...] [--port 5481]
        [--name default-trixie]
Writes bench/results/provenance-NAME.json and .md (the table) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".cache", "collections"))

from ansible_collections.containergen.images.plugins.module_utils import _publish, _sbom  # noqa: E402
from ansible_collections.containergen.images.plugins.module_utils._command import Runner  # noqa: E402

PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def ansible(argv: t.List[str], variables: t.Mapping[str, t.Any], work: str) -> str:
    """ansible-playbook/ansible with variables from a 0600 file (the registry password never on argv)."""
    path = os.path.join(work, "vars-%s.json" % uuid.uuid4().hex[:6])
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        json.dump(variables, handle)
    try:
        done = subprocess.run(argv + ["-e", "@" + path], cwd=REPO, capture_output=True, text=True, check=False,
                              env=dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json"))
    finally:
        os.unlink(path)
    if done.returncode != 0:
        raise SystemExit("%s failed: %s" % (" ".join(argv[:2]), (done.stdout + done.stderr)[-2000:]))
    return done.stdout


def publish(args: t.Dict[str, t.Any], work: str) -> t.Dict[str, t.Any]:
    out = ansible(["ansible", "localhost", "-m", "containergen.images.image_publish", "-a", json.dumps(args)],
                  {"ansible_python_interpreter": PYTHON}, work)
    return json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def local_images(namespace: str, include: t.Sequence[str]) -> t.Dict[str, str]:
    """name -> reference of the containergen images under namespace (tag latest)."""
    out = subprocess.run(["podman", "images", "--format", "json"], capture_output=True, text=True, check=True).stdout
    found = {}
    for item in json.loads(out):
        if "containergen.manifest.sha256" not in (item.get("Labels") or {}):
            continue
        for ref in item.get("Names") or []:
            if ref.startswith(namespace.rstrip("/") + "/") and ref.endswith(":latest"):
                name = ref[len(namespace.rstrip("/")) + 1:-len(":latest")]
                if "/" not in name and (not include or name in include):
                    found[name] = ref
    return dict(sorted(found.items()))


def table(result: t.Dict[str, t.Any]) -> str:
    rows = ["| image | SBOM s | SBOM KiB (SPDX+CDX) | push s | sign s (2 sigs) | SBOM push s | verify s | inspect s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in result["images"].items():
        rows.append("| %s | %.2f | %d | %.2f | %.2f | %.2f | %.3f | %.3f |" % (
            name, row["sbom_seconds"], row["sbom_bytes"] // 1024, row["push_seconds"], row["sign_seconds"],
            row["sbom_push_seconds"], row["verify_seconds"], row["inspect_seconds"]))
    total = result["set"]
    rows.append("| **set (%d images)** | **%.1f** | **%d** | **%.1f** | **%.1f** | **%.1f** | **%.2f** | **%.2f** |" % (
        len(result["images"]), total["sbom_seconds"], total["sbom_bytes"] // 1024, total["push_seconds"],
        total["sign_seconds"], total["sbom_push_seconds"], total["verify_seconds"], total["inspect_seconds"]))
    again = result["republish"]
    key_line = "Key opened once per publish (scrypt N=2^15): %.2f s. Registry bcrypt cost %d." % (
        result["key_open_seconds"], result["bcrypt_cost"])
    again_line = ("Republish of the unchanged set (signed, with SBOMs): %.1f s, %d bytes sent, %d signatures made, "
                  "%d SBOM artifacts pushed." % (again["seconds"], again["bytes_sent"], again["signatures_made"],
                                                 again["sbom_attached"]))
    rows += ["", key_line, again_line]
    return "\n".join(rows) + "\n"


def signature_count(registry: _publish.Registry, names: t.Iterable[str], digests: t.Mapping[str, str]) -> int:
    return sum(len(registry.signatures(name, digests[name])) for name in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--namespace", default="localhost/containergen")
    parser.add_argument("--include", nargs="*", default=[])
    parser.add_argument("--port", type=int, default=5481)
    parser.add_argument("--name", default="latest")
    parser.add_argument("--bcrypt-cost", type=int, default=10, help="the registry role's default is 10")
    parser.add_argument("--output", default=os.path.join(REPO, "bench", "results"))
    options = parser.parse_args()
    images = local_images(options.namespace, options.include)
    if not images:
        raise SystemExit("no containergen image under %s (build first)" % options.namespace)
    endpoint = "localhost:%d" % options.port
    remote_ns = "bench-%s" % uuid.uuid4().hex[:6]
    work = tempfile.mkdtemp(prefix="provenance-", dir="/var/tmp")
    os.chmod(work, 0o755)  # the registry runs as its own user (secrets in it are 0600 files)
    state = os.path.join(work, "registry")
    trust = os.path.join(work, "containers")
    os.makedirs(trust)
    with open(os.path.join(trust, "policy.json"), "w", encoding="utf-8") as handle:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, handle)
    variables = {
        "registry_port": options.port, "registry_config_dir": state + "/etc", "registry_data_dir": state + "/data",
        "registry_log_file": state + "/registry.log", "registry_pid_file": state + "/registry.pid",
        "registry_authfile": os.path.join(work, "auth.json"), "registry_bcrypt_cost": options.bcrypt_cost,
        "registry_users": [{"name": "publisher", "password": secrets.token_urlsafe(18)}],
        "registry_signing": True, "registry_signing_dir": state + "/signing",
        "registry_policy_file": trust + "/policy.json", "registry_registries_d": trust + "/registries.d",
    }
    runner = Runner()
    try:
        ansible(["ansible-playbook", "containergen.images.registry"], variables, work)
        common = {"registry": endpoint, "namespace": remote_ns, "local_namespace": options.namespace,
                  "images": list(images), "authfile": variables["registry_authfile"],
                  "registries_d": variables["registry_registries_d"], "lock_file": os.path.join(work, "images.lock")}
        key = {"sign_key": state + "/signing/cosign.key", "sign_passphrase_file": state + "/signing/cosign.password"}
        registry = _publish.Registry(runner, endpoint, remote_ns, authfile=variables["registry_authfile"],
                                     registries_d=variables["registry_registries_d"], **key)
        rows: t.Dict[str, t.Dict[str, t.Any]] = {name: {} for name in images}
        # 1. SBOMs
        sbom_dir = os.path.join(work, "sbom")
        ids = {}
        for name, ref in images.items():
            [info] = json.loads(runner(["podman", "image", "inspect", ref])[1])
            ids[name] = info["Id"]
            start = time.monotonic()
            paths = _sbom.generate(runner, ref, name, info.get("Labels") or {}, sbom_dir)
            rows[name]["sbom_seconds"] = time.monotonic() - start
            rows[name]["sbom_bytes"] = sum(os.path.getsize(p) for p in paths.values())
        # 2. the baseline push, then what signing and SBOMs add per image
        for name in images:
            start = time.monotonic()
            first = publish(dict(common, images=[name]), work)
            if first.get("failed"):
                raise SystemExit("publish %s: %s" % (name, first.get("msg")))
            rows[name]["push_seconds"] = time.monotonic() - start
            rows[name]["digest"] = first["images"][0]["digest"]
            rows[name]["bytes_sent"] = first["bytes_sent"]
        start = time.monotonic()
        registry.signer()
        key_open = time.monotonic() - start
        for name in images:
            start = time.monotonic()
            registry.sign(name, rows[name]["digest"], "latest-1")
            registry.sign(name, rows[name]["digest"], "latest")
            rows[name]["sign_seconds"] = time.monotonic() - start
            result = {"name": name, "digest": rows[name]["digest"], "bytes_sent": 0}
            start = time.monotonic()
            _publish.attach_sboms(registry, result, _publish.sbom_documents(sbom_dir, name, ids[name]), ids[name])
            rows[name]["sbom_push_seconds"] = time.monotonic() - start
            rows[name]["sbom_artifact_bytes"] = result["sbom_bytes_sent"]
        # 3. verification per pull, and a manifest read for comparison
        with open(state + "/signing/cosign.pub", "rb") as handle:
            public = [handle.read()]
        for name in images:
            start = time.monotonic()
            registry.verify(name, "latest", public)
            rows[name]["verify_seconds"] = time.monotonic() - start
            start = time.monotonic()
            registry.inspect(name, "latest")
            rows[name]["inspect_seconds"] = time.monotonic() - start
        # 4. the unchanged set again, signed and with SBOMs
        digests = {name: rows[name]["digest"] for name in images}
        before = signature_count(registry, images, digests)
        start = time.monotonic()
        again = publish(dict(common, sbom_dir=sbom_dir, **key), work)
        seconds = time.monotonic() - start
        if again.get("failed"):
            raise SystemExit("republish: %s" % again.get("msg"))
        made = signature_count(registry, images, digests) - before
        keys = ("sbom_seconds", "sbom_bytes", "push_seconds", "sign_seconds", "sbom_push_seconds", "verify_seconds",
                "inspect_seconds")
        result = {
            "namespace": options.namespace, "bcrypt_cost": options.bcrypt_cost, "key_open_seconds": key_open,
            "images": rows, "set": {k: sum(row[k] for row in rows.values()) for k in keys},
            "republish": {"seconds": seconds, "bytes_sent": again["bytes_sent"], "signatures_made": made,
                          "sbom_attached": len(again["sbom_attached"]), "changed": again["changed"]},
        }
    finally:
        subprocess.run(["start-stop-daemon", "--stop", "--pidfile", variables["registry_pid_file"], "--retry",
                        "TERM/10/KILL/5", "--oknodo"], capture_output=True, check=False)
        for certs in ("/etc/containers/certs.d", "/etc/docker/certs.d"):
            shutil.rmtree(os.path.join(certs, endpoint), ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(options.output, exist_ok=True)
    base = os.path.join(options.output, "provenance-%s" % options.name)
    with open(base + ".json", "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
    text = table(result)
    with open(base + ".md", "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    if result["republish"]["bytes_sent"] or made or result["republish"]["sbom_attached"]:
        raise SystemExit("republish of the unchanged set sent %d bytes and made %d signatures (want 0 and 0)"
                         % (result["republish"]["bytes_sent"], made))


if __name__ == "__main__":
    main()
