# -*- coding: utf-8 -*-
# Copyright (c) containergen.images contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests for _signing: the cosign key format, the key pair's files and modes, and the trust files.
(skopeo signing with these keys and the enforcement on pull are tested in tests/integration/test_provenance.py.)"""

import base64
import json
import os
import stat

import pytest

from ansible_collections.containergen.images.plugins.module_utils import _signing
from ansible_collections.containergen.images.plugins.module_utils._signing import SigningError


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sealed_key_is_cosigns_envelope_and_opens_only_with_its_passphrase():
    der, public = _signing.new_key_pair()
    pem = _signing.seal_private_key(der, b"s3cret")
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n")
    assert pem.endswith(b"-----END ENCRYPTED COSIGN PRIVATE KEY-----\n")
    envelope = json.loads(_signing._unpem(_signing.PEM_TYPE, pem))  # pylint: disable=protected-access
    assert envelope["kdf"]["name"] == "scrypt"
    assert envelope["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(envelope["kdf"]["salt"])) == 32
    assert envelope["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(envelope["cipher"]["nonce"])) == 24
    assert len(base64.b64decode(envelope["ciphertext"])) == len(der) + 16  # Poly1305 tag
    assert _signing.open_private_key(pem, b"s3cret") == der
    assert _signing.public_pem(der) == public
    with pytest.raises(SigningError, match="passphrase does not open"):
        _signing.open_private_key(pem, b"wrong")


def test_key_pair_is_made_once_with_private_files_0600(tmp_path):
    key_dir = str(tmp_path / "signing")
    old = os.umask(0o022)
    try:
        first = _signing.ensure_key_pair(key_dir)
    finally:
        os.umask(old)
    assert first["changed"]
    assert mode(first["private_key"]) == 0o600 and mode(first["passphrase_file"]) == 0o600
    assert mode(first["public_key"]) == 0o644 and mode(key_dir) == 0o700
    with open(first["private_key"], "rb") as handle:
        key = handle.read()
    assert b"ENCRYPTED COSIGN PRIVATE KEY" in key
    again = _signing.ensure_key_pair(key_dir)
    assert not again["changed"] and again["key_id"] == first["key_id"]
    with open(first["private_key"], "rb") as handle:
        assert handle.read() == key
    # a loosened mode is tightened again
    os.chmod(first["passphrase_file"], 0o644)
    assert _signing.ensure_key_pair(key_dir)["changed"] and mode(first["passphrase_file"]) == 0o600


def test_own_key_is_kept_and_its_public_key_written(tmp_path):
    der, public = _signing.new_key_pair()
    (tmp_path / "pass").write_bytes(b"mine\n")
    (tmp_path / "own.key").write_bytes(_signing.seal_private_key(der, b"mine"))
    os.chmod(tmp_path / "own.key", 0o600)
    os.chmod(tmp_path / "pass", 0o600)
    result = _signing.ensure_key_pair(str(tmp_path / "d"), str(tmp_path / "own.key"), str(tmp_path / "own.pub"),
                                      str(tmp_path / "pass"))
    assert (tmp_path / "own.pub").read_bytes() == public
    assert result["changed"] and not os.path.exists(tmp_path / "d" / "cosign.key")


def test_own_key_with_a_wrong_passphrase_fails_naming_the_file(tmp_path):
    der = _signing.new_key_pair()[0]
    (tmp_path / "own.key").write_bytes(_signing.seal_private_key(der, b"right"))
    (tmp_path / "pass").write_bytes(b"wrong")
    with pytest.raises(SigningError, match=r"own\.key: the passphrase does not open the key"):
        _signing.ensure_key_pair(str(tmp_path), str(tmp_path / "own.key"), None, str(tmp_path / "pass"))


def test_key_without_its_passphrase_file_fails(tmp_path):
    (tmp_path / "cosign.key").write_bytes(b"x")
    with pytest.raises(SigningError, match="passphrase file .* does not"):
        _signing.ensure_key_pair(str(tmp_path))


DEBIAN_POLICY = {"default": [{"type": "insecureAcceptAnything"}],
                 "transports": {"docker-daemon": {"": [{"type": "insecureAcceptAnything"}]},
                                "docker": {"other.example:5000": [{"type": "reject"}]}}}


def test_policy_scope_is_added_and_the_rest_kept():
    policy = _signing.policy_with_scope(DEBIAN_POLICY, "localhost:5341", "/etc/containergen/signing/cosign.pub")
    assert policy["default"] == [{"type": "insecureAcceptAnything"}]
    assert policy["transports"]["docker-daemon"] == DEBIAN_POLICY["transports"]["docker-daemon"]
    assert policy["transports"]["docker"] == {
        "other.example:5000": [{"type": "reject"}],
        "localhost:5341": [{"type": "sigstoreSigned", "keyPath": "/etc/containergen/signing/cosign.pub"}],
    }
    assert "localhost:5341" not in DEBIAN_POLICY["transports"]["docker"]  # not edited in place
    assert _signing.policy_with_scope(None, "r:1", "/k")["default"] == [{"type": "insecureAcceptAnything"}]


def test_write_trust_is_idempotent(tmp_path):
    policy_file, registries_d = str(tmp_path / "policy.json"), str(tmp_path / "registries.d")
    with open(policy_file, "w", encoding="utf-8") as handle:
        json.dump(DEBIAN_POLICY, handle)
    first = _signing.write_trust("localhost:5341", "/k.pub", policy_file, registries_d)
    assert first["changed"]
    assert first["registries_d_file"] == os.path.join(registries_d, "containergen-localhost_5341.yaml")
    with open(first["registries_d_file"], encoding="utf-8") as handle:
        assert handle.read().endswith('docker:\n  "localhost:5341":\n    use-sigstore-attachments: true\n')
    assert not _signing.write_trust("localhost:5341", "/k.pub", policy_file, registries_d)["changed"]
    with open(policy_file, encoding="utf-8") as handle:
        assert json.load(handle)["transports"]["docker"]["localhost:5341"][0]["keyPath"] == "/k.pub"


def test_write_trust_refuses_a_broken_policy(tmp_path):
    (tmp_path / "policy.json").write_text("{not json")
    with pytest.raises(SigningError, match="policy.json: not JSON"):
        _signing.write_trust("r:1", "/k", str(tmp_path / "policy.json"), str(tmp_path / "d"))


REF = "localhost:5341/ns/keystone"
DIGEST, OTHER = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.fixture(name="keys", scope="module")
def fixture_keys(tmp_path_factory):
    keys = _signing.ensure_key_pair(str(tmp_path_factory.mktemp("keys")))
    with open(keys["public_key"], "rb") as handle:
        keys["pem"] = handle.read()
    return keys


def test_signature_is_added_once_and_verifies_like_the_default_signed_identity(keys):
    signer = _signing.Signer(keys["private_key"], keys["passphrase_file"])
    signatures = _signing.add_signature([], signer, REF + ":latest-1", DIGEST)
    assert _signing.add_signature(signatures, signer, REF + ":latest-1", DIGEST) is None  # no second one
    [(payload, layer)] = signatures
    assert json.loads(payload)["critical"] == {"identity": {"docker-reference": REF + ":latest-1"},
                                               "image": {"docker-manifest-digest": DIGEST},
                                               "type": "cosign container image signature"}
    assert list(layer["annotations"]) == ["dev.cosignproject.cosign/signature"]
    verify = _signing.verify_signatures
    assert verify(signatures, [keys["pem"]], REF + ":latest-1", DIGEST)
    assert verify(signatures, [keys["pem"]], REF + "@" + DIGEST, DIGEST)  # by digest: any tag of the repo
    assert not verify(signatures, [keys["pem"]], REF + ":latest", DIGEST)  # a tag nobody signed
    assert not verify(signatures, [keys["pem"]], REF + ":latest-1", OTHER)  # another digest
    assert not verify(signatures, [keys["pem"]], "localhost:5341/ns/other@" + DIGEST, DIGEST)
    assert not verify(signatures, [_signing.new_key_pair()[1]], REF + ":latest-1", DIGEST)  # another key
    assert verify(signatures, [_signing.new_key_pair()[1], keys["pem"]], REF + ":latest-1", DIGEST)  # rotation
    tampered = [(payload.replace(b"latest-1", b"latest-9"), layer)]
    assert not verify(tampered, [keys["pem"]], REF + ":latest-9", DIGEST)


def test_attachment_round_trips_through_a_dir_image(keys, tmp_path):
    signer = _signing.Signer(keys["private_key"], keys["passphrase_file"])
    signatures = _signing.add_signature([], signer, REF + ":latest-1", DIGEST)
    signatures = _signing.add_signature(signatures, signer, REF + ":latest", DIGEST)
    _signing.write_attachment(str(tmp_path / "sig"), signatures)
    with open(tmp_path / "sig" / "manifest.json", encoding="utf-8") as handle:
        manifest = json.load(handle)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [_signing.SIGNATURE_MEDIA_TYPE] * 2
    assert [s[0] for s in _signing.read_attachment(str(tmp_path / "sig"))] == [s[0] for s in signatures]
