# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this module util is **PRIVATE** to the collection. It can have breaking changes at any time.
# Do not use this from other collections or standalone plugins/modules!

"""Image signing keys and the client trust that enforces them (sigstore, cosign-compatible).

skopeo 1.9.3 signs with ``--sign-by-sigstore-private-key`` but cannot make a key, and reads only
the PEM type ``ENCRYPTED COSIGN PRIVATE KEY``: a PKCS#8 key sealed with NaCl secretbox under a key
derived from the passphrase by scrypt, in a JSON envelope (go-securesystemslib's ``encrypted``).
This module writes and opens that format, and edits ``policy.json`` and ``registries.d`` so that
pulls from our registry require a signature by our key. The passphrase lives only in a 0600 file:
it is never an argument of a command or a module, and never logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import typing as t

PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
# cosign's defaults (go-securesystemslib encrypted.Encrypt): N=2^15, r=8, p=1, 32-byte salt and key
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
PRIVATE_KEY, PUBLIC_KEY, PASSPHRASE = "cosign.key", "cosign.pub", "cosign.password"


class SigningError(Exception):
    pass


def _secretbox() -> t.Any:
    try:
        from nacl import secret  # pylint: disable=import-outside-toplevel
    except ImportError as exc:  # PyNaCl (pip) or python3-nacl (Debian)
        raise SigningError("signing keys need PyNaCl (pip install PyNaCl, or apt-get install python3-nacl): %s"
                           % exc) from exc
    return secret


def _kdf(passphrase: bytes, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def _pem(kind: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode("ascii").replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind)).encode("ascii")


def _unpem(kind: str, text: bytes) -> bytes:
    begin, end = ("-----BEGIN %s-----" % kind).encode(), ("-----END %s-----" % kind).encode()
    if begin not in text or end not in text:
        raise SigningError("not a PEM block of type %s" % kind)
    return base64.b64decode(b"".join(text.split(begin, 1)[1].split(end, 1)[0].split()))


def seal_private_key(pkcs8_der: bytes, passphrase: bytes) -> bytes:
    """The cosign PEM of a PKCS#8 private key, encrypted under passphrase."""
    salt, nonce = secrets.token_bytes(32), secrets.token_bytes(24)
    box = _secretbox().SecretBox(_kdf(passphrase, salt))
    envelope = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box.encrypt(pkcs8_der, nonce).ciphertext).decode(),
    }
    return _pem(PEM_TYPE, json.dumps(envelope, separators=(",", ":")).encode())


def open_private_key(pem: bytes, passphrase: bytes) -> bytes:
    """The PKCS#8 DER inside a cosign PEM; SigningError when the passphrase does not open it."""
    envelope = json.loads(_unpem(PEM_TYPE, pem))
    kdf, cipher = envelope["kdf"], envelope["cipher"]
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise SigningError("unsupported key envelope %s/%s" % (kdf.get("name"), cipher.get("name")))
    params = kdf["params"]
    key = _kdf(passphrase, base64.b64decode(kdf["salt"]), params["N"], params["r"], params["p"])
    box = _secretbox().SecretBox(key)
    try:
        return box.decrypt(base64.b64decode(envelope["ciphertext"]), base64.b64decode(cipher["nonce"]))
    except Exception as exc:  # nacl.exceptions.CryptoError: wrong passphrase or damaged file
        raise SigningError("the passphrase does not open the key (wrong passphrase or damaged key)") from exc


def new_key_pair() -> t.Tuple[bytes, bytes]:
    """(PKCS#8 DER private key, PEM public key) of a new ECDSA P-256 key, as cosign makes them."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return der, public_pem(der)


def public_pem(pkcs8_der: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    key = serialization.load_der_private_key(pkcs8_der, password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_private(path: str, data: bytes) -> None:
    """Create path 0600 (umask-proof), never readable by others even for a moment; atomic replace."""
    tmp = "%s.%s.tmp" % (path, secrets.token_hex(4))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def ensure_key_pair(key_dir: str, private_key: t.Optional[str] = None, public_key: t.Optional[str] = None,
                    passphrase_file: t.Optional[str] = None) -> t.Dict[str, t.Any]:
    """Make the key pair once (or check the operator's own key); returns the paths and whether it changed.

    An existing key is never replaced: its passphrase must open it, and its public key is written
    when missing. Private key and passphrase are 0600, the public key 0644.
    """
    private_key = private_key or os.path.join(key_dir, PRIVATE_KEY)
    public_key = public_key or os.path.join(key_dir, PUBLIC_KEY)
    passphrase_file = passphrase_file or os.path.join(key_dir, PASSPHRASE)
    for path in (private_key, public_key, passphrase_file):
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    changed = False
    if os.path.exists(private_key):
        if not os.path.exists(passphrase_file):
            raise SigningError("%s: the key exists but its passphrase file %s does not" % (private_key, passphrase_file))
        try:
            der = open_private_key(_read(private_key), _read(passphrase_file).rstrip(b"\n"))
        except (SigningError, ValueError, KeyError) as exc:
            raise SigningError("%s: %s" % (private_key, exc)) from exc
    else:
        if not os.path.exists(passphrase_file):
            _write_private(passphrase_file, secrets.token_urlsafe(32).encode())
        der = new_key_pair()[0]
        _write_private(private_key, seal_private_key(der, _read(passphrase_file).rstrip(b"\n")))
        changed = True
    for path in (private_key, passphrase_file):
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
            changed = True
    pem = public_pem(der)
    if not os.path.exists(public_key) or _read(public_key) != pem:
        with open(public_key, "wb") as handle:
            handle.write(pem)
        os.chmod(public_key, 0o644)
        changed = True
    return {"changed": changed, "private_key": private_key, "public_key": public_key,
            "passphrase_file": passphrase_file,
            "key_id": hashlib.sha256(_unpem("PUBLIC KEY", pem)).hexdigest()}


# ---- client trust ---------------------------------------------------------------------------------

DEFAULT_POLICY: t.Dict[str, t.Any] = {"default": [{"type": "insecureAcceptAnything"}]}


def policy_with_scope(policy: t.Optional[t.Mapping[str, t.Any]], scope: str, public_key: str) -> t.Dict[str, t.Any]:
    """policy.json with scope (a registry HOST:PORT, or a repository under it) requiring our signature.

    Everything else (the default, other transports and scopes) is kept as it is. signedIdentity is
    left at its default (matchRepoDigestOrExact): a tag pulls only with a signature made for that
    tag, which is why publishing signs the floating tag when it moves.
    """
    result = json.loads(json.dumps(policy)) if policy else dict(DEFAULT_POLICY)
    result.setdefault("default", DEFAULT_POLICY["default"])
    docker = result.setdefault("transports", {}).setdefault("docker", {})
    docker[scope] = [{"type": "sigstoreSigned", "keyPath": public_key}]
    return result


def registries_d_text(scope: str) -> str:
    """A registries.d file that stores and reads sigstore signatures as OCI attachments for scope."""
    return "# containergen.images: cosign-compatible signatures (sha256-<digest>.sig) for %s\n" \
           "docker:\n  %s:\n    use-sigstore-attachments: true\n" % (scope, json.dumps(scope))


def write_trust(scope: str, public_key: str, policy_file: t.Optional[str], registries_d: str) -> t.Dict[str, t.Any]:
    """Add our scope to policy_file (None: leave the policy alone) and a registries.d file for it."""
    changed = False
    current = None
    if policy_file is None:
        pass
    elif os.path.exists(policy_file):
        with open(policy_file, encoding="utf-8") as handle:
            try:
                current = json.load(handle)
            except ValueError as exc:
                raise SigningError("%s: not JSON (%s); fix or remove it" % (policy_file, exc)) from exc
    wanted = policy_with_scope(current, scope, public_key) if policy_file else current
    if policy_file and wanted != current:
        os.makedirs(os.path.dirname(policy_file) or ".", exist_ok=True)
        tmp = policy_file + ".containergen.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(wanted, handle, indent=4)
            handle.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, policy_file)
        changed = True
    os.makedirs(registries_d, exist_ok=True)
    name = os.path.join(registries_d, "containergen-%s.yaml" % "".join(c if c.isalnum() or c in ".-" else "_"
                                                                       for c in scope))
    text = registries_d_text(scope)
    if not os.path.exists(name) or _read(name).decode("utf-8") != text:
        with open(name, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(name, 0o644)
        changed = True
    return {"changed": changed, "policy_file": policy_file, "registries_d_file": name}


# ---- signatures (cosign's format; Debian's skopeo verifies them but was built without signing) -----

SIGNATURE_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE = "cosign container image signature"


def signature_payload(reference: str, digest: str, creator: str = "containergen.images") -> bytes:
    """The simple-signing payload that binds an image reference (repo:tag) to a manifest digest."""
    return json.dumps({"critical": {"identity": {"docker-reference": reference},
                                    "image": {"docker-manifest-digest": digest}, "type": PAYLOAD_TYPE},
                       "optional": {"creator": creator}}, separators=(",", ":"), sort_keys=True).encode()


def payload_identity(payload: bytes) -> t.Tuple[str, str]:
    critical = json.loads(payload).get("critical") or {}
    return ((critical.get("identity") or {}).get("docker-reference", ""),
            (critical.get("image") or {}).get("docker-manifest-digest", ""))


class Signer(object):
    """The private key, opened once from its file and the 0600 passphrase file."""

    def __init__(self, private_key: str, passphrase_file: str) -> None:
        from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

        try:
            der = open_private_key(_read(private_key), _read(passphrase_file).rstrip(b"\n"))
        except (SigningError, ValueError, KeyError, OSError) as exc:
            raise SigningError("%s: %s" % (private_key, exc)) from exc
        self.key = serialization.load_der_private_key(der, password=None)

    def sign(self, payload: bytes) -> str:
        """base64 of the ECDSA-SHA256 (ASN.1 DER) signature of payload, as cosign stores it."""
        from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel

        return base64.b64encode(self.key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()

    def verifies(self, payload: bytes, signature: str) -> bool:
        from cryptography.exceptions import InvalidSignature  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel
        from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel

        try:
            self.key.public_key().verify(base64.b64decode(signature), payload, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


def _blob(directory: str, data: bytes) -> t.Dict[str, t.Any]:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(directory, digest), "wb") as handle:
        handle.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def read_attachment(directory: str) -> t.List[t.Tuple[bytes, t.Dict[str, t.Any]]]:
    """(payload, layer descriptor) of each signature in a skopeo dir: copy of a sha256-<digest>.sig image."""
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    result = []
    for layer in manifest.get("layers") or []:
        if layer.get("mediaType") == SIGNATURE_MEDIA_TYPE:
            result.append((_read(os.path.join(directory, layer["digest"].split(":", 1)[1])), layer))
    return result


def write_attachment(directory: str, signatures: t.Sequence[t.Tuple[bytes, t.Mapping[str, t.Any]]]) -> None:
    """A skopeo dir: image holding signatures [(payload, layer descriptor)] as cosign lays them out."""
    os.makedirs(directory, exist_ok=True)
    layers = []
    for payload, layer in signatures:
        descriptor = dict(layer)
        descriptor.update(_blob(directory, payload), mediaType=SIGNATURE_MEDIA_TYPE)
        layers.append(descriptor)
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]}},
                        separators=(",", ":")).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": dict(_blob(directory, config), mediaType="application/vnd.oci.image.config.v1+json"),
                "layers": layers}
    with open(os.path.join(directory, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, separators=(",", ":"))
    with open(os.path.join(directory, "version"), "w", encoding="utf-8") as handle:
        handle.write("Directory Transport Version: 1.1\n")


def add_signature(signatures: t.Sequence[t.Tuple[bytes, t.Mapping[str, t.Any]]], signer: Signer, reference: str,
                  digest: str) -> t.Optional[t.List[t.Tuple[bytes, t.Mapping[str, t.Any]]]]:
    """signatures plus ours for (reference, digest), or None when ours for them is there already.

    Signatures by other keys (an older key while rotating) are kept.
    """
    if any(payload_identity(payload) == (reference, digest)
           and signer.verifies(payload, (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
           for payload, layer in signatures):
        return None
    payload = signature_payload(reference, digest)
    return list(signatures) + [(payload, {"annotations": {SIGNATURE_ANNOTATION: signer.sign(payload)}})]


def verify_signatures(signatures: t.Sequence[t.Tuple[bytes, t.Mapping[str, t.Any]]], public_keys: t.Sequence[bytes],
                      reference: str, digest: str) -> bool:
    """policy.json's sigstoreSigned with the default signedIdentity, for one image: some signature by one of
    public_keys (PEM) binds digest to reference (repo:tag), or, for a pull by digest, to any tag of the repository.

    For clients whose containers/image cannot check sigstore signatures (Debian's builds).
    """
    from cryptography.exceptions import InvalidSignature  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ec  # pylint: disable=import-outside-toplevel

    keys = [serialization.load_pem_public_key(pem) for pem in public_keys]
    repository = reference.split("@", 1)[0]  # by digest: any tag of the repository (its host may have a :port)
    for payload, layer in signatures:
        signed_reference, signed_digest = payload_identity(payload)
        if signed_digest != digest:
            continue
        if "@" in reference:
            if signed_reference.rsplit(":", 1)[0] != repository:
                continue
        elif signed_reference != reference:
            continue
        try:
            signature = base64.b64decode((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
        except ValueError:
            continue
        for key in keys:
            try:
                key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
                return True
            except (InvalidSignature, ValueError):
                pass
    return False


def read_public_keys(paths: t.Sequence[str]) -> t.List[bytes]:
    """Every PEM public key in the files paths (a trust file may hold several: the old and the new key while
    rotating). SigningError naming the file when one holds none or cannot be read."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    keys = []
    for path in paths:
        try:
            text = _read(path)
        except OSError as exc:
            raise SigningError("%s: %s" % (path, exc.strerror or exc)) from exc
        blocks = [b"-----BEGIN PUBLIC KEY-----" + part.split(b"-----END PUBLIC KEY-----", 1)[0]
                  + b"-----END PUBLIC KEY-----\n" for part in text.split(b"-----BEGIN PUBLIC KEY-----")[1:]]
        if not blocks:
            raise SigningError("%s: no PEM public key (-----BEGIN PUBLIC KEY-----) in it" % path)
        for block in blocks:
            try:
                serialization.load_pem_public_key(block)
            except ValueError as exc:
                raise SigningError("%s: a public key that does not load (%s)" % (path, exc)) from exc
            keys.append(block)
    return keys
