"""The AES-256-GCM key ring: sealing, binding, rotation and key files (SPEC §3.8)."""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
from pathlib import Path
from uuid import UUID, uuid4

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from xavyo_connectors_core.errors import InvalidInput, SecretError
from xavyo_connectors_core.model import SealedSecret
from xavyo_connectors_core.secrets import (
    ENV_VAR,
    KeyRing,
    generate_key,
    keyring_from_env_or_file,
    load_key_file,
    open_all,
    seal_all,
    write_key_file,
)

TENANT = UUID("00000000-0000-0000-0000-0000000000a1")
CONNECTOR = UUID("00000000-0000-0000-0000-0000000000c1")
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def b64(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing([("a", KEY_A), ("b", KEY_B)])


def seal(ring: KeyRing, value: str, name: str = "password") -> SealedSecret:
    return ring.seal(value, tenant_id=TENANT, connector_id=CONNECTOR, name=name)


def open_(ring: KeyRing, sealed: SealedSecret, name: str = "password") -> str:
    return ring.open(sealed, tenant_id=TENANT, connector_id=CONNECTOR, name=name)


class TestSealing:
    def test_round_trip(self, ring: KeyRing) -> None:
        """A sealed value opens to itself with the same tenant, connector and name."""
        sealed = seal(ring, "s3cret")
        assert sealed.kid == "a"
        assert len(sealed.nonce) == 12
        assert b"s3cret" not in sealed.ciphertext
        assert open_(ring, sealed) == "s3cret"

    def test_nonce_is_random(self, ring: KeyRing) -> None:
        """Sealing the same value twice gives different nonces and ciphertexts."""
        one, two = seal(ring, "same"), seal(ring, "same")
        assert one.nonce != two.nonce
        assert one.ciphertext != two.ciphertext

    @given(st.text())
    def test_any_unicode_round_trips(self, value: str) -> None:
        """Any text, including empty, astral and control characters, round-trips."""
        ring = KeyRing([("a", KEY_A)])
        assert open_(ring, seal(ring, value)) == value

    @pytest.mark.parametrize(
        ("tenant", "connector", "name"),
        [
            (uuid4(), CONNECTOR, "password"),
            (TENANT, uuid4(), "password"),
            (TENANT, CONNECTOR, "token"),
        ],
        ids=["other-tenant", "other-connector", "other-name"],
    )
    def test_ciphertext_bound_to_owner(
        self, ring: KeyRing, tenant: UUID, connector: UUID, name: str
    ) -> None:
        """A ciphertext moved to another tenant, connector or secret name does not open."""
        sealed = seal(ring, "s3cret")
        with pytest.raises(SecretError) as info:
            ring.open(sealed, tenant_id=tenant, connector_id=connector, name=name)
        assert "s3cret" not in str(info.value)

    def test_tampered_ciphertext_fails(self, ring: KeyRing) -> None:
        """Flipping one bit of the ciphertext fails authentication."""
        sealed = seal(ring, "s3cret")
        flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
        with pytest.raises(SecretError):
            open_(ring, attrs.evolve(sealed, ciphertext=flipped))

    def test_malformed_nonce_fails_cleanly(self, ring: KeyRing) -> None:
        """A nonce of the wrong length is a SecretError, not a crypto library error."""
        sealed = seal(ring, "s3cret")
        with pytest.raises(SecretError):
            open_(ring, attrs.evolve(sealed, nonce=b""))

    def test_unknown_kid(self, ring: KeyRing) -> None:
        """A secret sealed under a key the ring does not hold does not open."""
        other = KeyRing([("z", bytes(32))])
        with pytest.raises(SecretError, match="not in the ring"):
            open_(ring, seal(other, "s3cret"))

    def test_wrong_key_same_kid(self) -> None:
        """A key ring with another key under the same kid does not open the secret."""
        sealed = seal(KeyRing([("a", KEY_A)]), "s3cret")
        with pytest.raises(SecretError):
            open_(KeyRing([("a", KEY_B)]), sealed)

    def test_seal_all_open_all(self, ring: KeyRing) -> None:
        """Every secret of a connector seals and opens under its own name."""
        plain = {"password": "p", "token": "t", "empty": ""}
        sealed = seal_all(ring, TENANT, CONNECTOR, plain)
        assert set(sealed) == set(plain)
        assert open_all(ring, TENANT, CONNECTOR, sealed) == plain
        swapped = {"password": sealed["token"], "token": sealed["password"]}
        with pytest.raises(SecretError):
            open_all(ring, TENANT, CONNECTOR, swapped)


class TestRotation:
    def test_new_primary_seals_old_keys_open(self, ring: KeyRing) -> None:
        """After with_new_primary, new secrets use the new kid and old ones still open."""
        old = seal(ring, "s3cret")
        kid, key = generate_key()
        rotated = ring.with_new_primary(kid, key)
        assert rotated.primary_kid == kid
        assert rotated.kids == (kid, "a", "b")
        assert ring.primary_kid == "a"  # the original ring is unchanged
        assert rotated.needs_reseal(old)
        assert open_(rotated, old) == "s3cret"
        resealed = rotated.reseal(old, tenant_id=TENANT, connector_id=CONNECTOR, name="password")
        assert resealed.kid == kid
        assert not rotated.needs_reseal(resealed)
        assert open_(rotated, resealed) == "s3cret"

    def test_resealed_opens_without_old_key(self, ring: KeyRing) -> None:
        """Once re-sealed, a secret no longer needs the retired key."""
        old = seal(ring, "s3cret")
        kid, key = generate_key()
        resealed = ring.with_new_primary(kid, key).reseal(
            old, tenant_id=TENANT, connector_id=CONNECTOR, name="password"
        )
        assert open_(KeyRing([(kid, key)]), resealed) == "s3cret"

    def test_duplicate_kid_refused(self, ring: KeyRing) -> None:
        """A new primary cannot reuse a kid of the ring."""
        with pytest.raises(InvalidInput):
            ring.with_new_primary("b", bytes(32))

    def test_generated_keys_are_unique(self) -> None:
        """generate_key gives 32-byte keys under distinct kids."""
        keys = [generate_key() for _ in range(200)]
        assert len({kid for kid, _ in keys}) == 200
        assert all(len(key) == 32 for _, key in keys)
        KeyRing(keys)  # valid kids


class TestTextForm:
    def test_parse_format_round_trip(self, ring: KeyRing) -> None:
        """format() gives kid:base64url entries, primary first, that parse() reads back."""
        text = ring.format()
        assert text == f"a:{b64(KEY_A)},b:{b64(KEY_B)}"
        assert KeyRing.parse(text) == ring

    def test_parse_tolerates_padding_and_whitespace(self) -> None:
        """Padding, spaces and newlines around entries are accepted."""
        padded = base64.urlsafe_b64encode(KEY_A).decode()
        ring = KeyRing.parse(f"  a:{padded} ,\n b:{b64(KEY_B)},\n")
        assert ring.kids == ("a", "b")

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "   ",
            "no-colon-at-all",
            ":" + b64(KEY_A),
            "a:",
            "a:not*base64!",
            "a:" + b64(b"short"),
            f"a:{b64(KEY_A)},a:{b64(KEY_B)}",
            f"bad kid:{b64(KEY_A)}",
            "a:" + b64(bytes(33)),
        ],
    )
    def test_bad_text_is_invalid_input(self, text: str) -> None:
        """Malformed key text raises InvalidInput."""
        with pytest.raises(InvalidInput):
            KeyRing.parse(text)

    def test_errors_never_echo_key_material(self) -> None:
        """Errors name the entry's position, never its content."""
        secret_ish = b64(b"0123456789abcdef0123456789")  # wrong length
        with pytest.raises(InvalidInput) as info:
            KeyRing.parse(f"a:{b64(KEY_A)},b:{secret_ish},{secret_ish}")
        message = str(info.value)
        assert secret_ish not in message
        assert b64(KEY_A) not in message
        assert [e.path for e in info.value.errors] == ["keys[1]", "keys[2]"]

    def test_repr_never_shows_keys(self, ring: KeyRing) -> None:
        """repr and str name the kids only."""
        for text in (repr(ring), str(ring), f"{ring}", repr([ring])):
            assert "a" in text and "b" in text
            for key in (KEY_A, KEY_B):
                assert b64(key) not in text
                assert repr(key) not in text
                assert key.hex() not in text

    def test_constructor_validates(self) -> None:
        """A ring needs at least one key, and every key is 32 bytes."""
        with pytest.raises(InvalidInput):
            KeyRing([])
        with pytest.raises(InvalidInput):
            KeyRing([("a", b"x" * 16)])


class TestKeyFile:
    def test_write_and_load(self, tmp_path: Path, ring: KeyRing) -> None:
        """write_key_file writes mode 0600 atomically; load_key_file reads it back."""
        path = tmp_path / "keys"
        write_key_file(path, ring)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_key_file(path) == ring
        write_key_file(path, ring.with_new_primary(*generate_key()))
        assert len(load_key_file(path)) == 3
        assert [p.name for p in tmp_path.iterdir()] == ["keys"]  # no temp files left

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing key file is a SecretError naming the file."""
        with pytest.raises(SecretError, match="key file"):
            load_key_file(tmp_path / "nope")

    def test_loose_permissions_warn(
        self, tmp_path: Path, ring: KeyRing, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A key file readable by others still loads, with a warning in the log."""
        path = tmp_path / "keys"
        write_key_file(path, ring)
        os.chmod(path, 0o644)
        with caplog.at_level(logging.WARNING):
            assert load_key_file(path) == ring
        assert "0600" in caplog.text
        assert b64(KEY_A) not in caplog.text


class TestKeyringFromEnvOrFile:
    def test_env_wins(self, tmp_path: Path, ring: KeyRing) -> None:
        """XAVYO_SECRET_KEYS is used when set; no key file is created."""
        got = keyring_from_env_or_file(tmp_path, environ={ENV_VAR: ring.format()})
        assert got == ring
        assert not (tmp_path / "keys").exists()

    def test_blank_env_falls_back_to_file(self, tmp_path: Path) -> None:
        """A blank variable is ignored."""
        keyring_from_env_or_file(tmp_path, environ={ENV_VAR: "  "})
        assert (tmp_path / "keys").exists()

    def test_file_created_once(self, tmp_path: Path) -> None:
        """The key file is created on first use with one key and mode 0600, then reused."""
        data_dir = tmp_path / "data"
        first = keyring_from_env_or_file(data_dir, environ={})
        path = data_dir / "keys"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(first) == 1
        assert keyring_from_env_or_file(data_dir, environ={}) == first
        assert sorted(p.name for p in data_dir.iterdir()) == ["keys"]

    def test_concurrent_first_use_agrees(self, tmp_path: Path) -> None:
        """Processes starting at once on an empty data directory share one key file."""
        rings: list[KeyRing] = []
        barrier = threading.Barrier(8)

        def start() -> None:
            barrier.wait()
            rings.append(keyring_from_env_or_file(tmp_path, environ={}))

        threads = [threading.Thread(target=start) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(rings) == 8
        assert all(r == rings[0] for r in rings)
        assert load_key_file(tmp_path / "keys") == rings[0]

    def test_uses_process_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without an explicit mapping, os.environ is read."""
        ring = KeyRing([("env", KEY_A)])
        monkeypatch.setenv(ENV_VAR, ring.format())
        assert keyring_from_env_or_file(tmp_path) == ring
