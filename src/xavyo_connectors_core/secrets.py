"""The AES-256-GCM key ring that seals connector secrets (SPEC §3.8).

Every secret value is sealed with a random 12-byte nonce under the ring's *primary* key;
the tenant id, the connector id and the secret's name are bound to the ciphertext as
associated data, so a ciphertext copied to another connector, tenant or secret name
does not open. Every key of the ring opens what it sealed, which is what makes rotation
possible: put a new primary first (``with_new_primary``), then re-seal every stored
secret whose ``needs_reseal`` is true.

Keys travel as text: ``kid:base64url-key`` entries separated by commas, primary first
(``XAVYO_SECRET_KEYS``, or the key file ``<data-dir>/keys`` created with mode 0600 on
first use). No repr, log line or error message of this module ever contains key material
or a secret value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import secrets as _random
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from xavyo_connectors_core.errors import FieldError, InvalidInput, SecretError
from xavyo_connectors_core.model import SealedSecret

__all__ = [
    "ENV_VAR",
    "KEY_FILE_NAME",
    "KEY_SIZE",
    "KeyRing",
    "generate_key",
    "keyring_from_env_or_file",
    "load_key_file",
    "open_all",
    "seal_all",
    "write_key_file",
]

ENV_VAR = "XAVYO_SECRET_KEYS"
"""The environment variable holding the key ring text; it wins over the key file."""

KEY_FILE_NAME = "keys"
"""The key file's name inside the data directory."""

KEY_SIZE = 32
"""AES-256: every key is 32 bytes."""

NONCE_SIZE = 12

log = logging.getLogger(__name__)

_KID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
_AD_PREFIX = b"xavyo-connectors/secret/v1\x00"


def _check_kid(kid: str) -> bool:
    return isinstance(kid, str) and bool(_KID_RE.fullmatch(kid))


def _entry_errors(path: str, kid: str, key: bytes, seen: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not _check_kid(kid):
        errors.append(FieldError(path, "kid must be 1-64 letters, digits, '.', '_' or '-'"))
    elif kid in seen:
        errors.append(FieldError(path, "kid is used by another key"))
    seen.add(kid)
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        errors.append(FieldError(path, f"key must be {KEY_SIZE} bytes"))
    return errors


def _encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii").rstrip("=")


def _decode_key(text: str) -> bytes | None:
    if not _B64URL_RE.fullmatch(text):
        return None
    stripped = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None


def _associated_data(tenant_id: UUID, connector_id: UUID, name: str) -> bytes:
    # UUIDs are fixed-width, and the name comes last, so the encoding is unambiguous.
    return _AD_PREFIX + tenant_id.bytes + connector_id.bytes + name.encode("utf-8")


def generate_key() -> tuple[str, bytes]:
    """Make a new random key with a fresh kid.

    The kid is the UTC date and eight random hex digits (``20250131-9f2c41d0``): it sorts
    by creation day and two keys made the same day do not collide.

    Returns:
        ``(kid, key)`` with a 32-byte key from the operating system's CSPRNG.
    """
    kid = f"{datetime.now(UTC):%Y%m%d}-{_random.token_hex(4)}"
    return kid, _random.token_bytes(KEY_SIZE)


class KeyRing:
    """An ordered set of ``kid``-tagged AES-256 keys; the first one seals, all open.

    A key ring is immutable: ``with_new_primary`` returns a new one. Its repr names the
    kids only.
    """

    __slots__ = ("_aead", "_keys", "_primary")

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        """Build a ring from ``(kid, key)`` pairs, primary first.

        Raises:
            InvalidInput: no keys, a malformed or duplicate kid, or a key that is not
                32 bytes (the message names the entry's position, never the key).
        """
        errors: list[FieldError] = []
        if not keys:
            errors.append(FieldError("keys", "must hold at least one key"))
        seen: set[str] = set()
        for index, (kid, key) in enumerate(keys):
            errors.extend(_entry_errors(f"keys[{index}]", kid, key, seen))
        if errors:
            raise InvalidInput(errors)
        self._keys: dict[str, bytes] = {kid: bytes(key) for kid, key in keys}
        self._primary: str = keys[0][0]
        self._aead: dict[str, AESGCM] = {kid: AESGCM(key) for kid, key in self._keys.items()}

    # ------------------------------------------------------------------ text form

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Parse ``kid:base64url-key`` entries separated by commas, primary first.

        Whitespace and newlines around entries are ignored; base64 padding is optional.

        Raises:
            InvalidInput: the text is empty or an entry is malformed. Errors name the
                entry's position (``keys[1]``), never its content.
        """
        entries = [e.strip() for e in re.split(r"[,\s]+", text.strip()) if e.strip()]
        if not entries:
            raise InvalidInput([FieldError("keys", "must hold at least one kid:key entry")])
        errors: list[FieldError] = []
        pairs: list[tuple[str, bytes]] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            path = f"keys[{index}]"
            kid, sep, encoded = entry.partition(":")
            if not sep or not kid or not encoded:
                errors.append(FieldError(path, "must be kid:base64url-key"))
                continue
            key = _decode_key(encoded)
            if key is None:
                errors.append(FieldError(path, "key is not base64url text"))
                continue
            errors.extend(_entry_errors(path, kid, key, seen))
            pairs.append((kid, key))
        if errors:
            raise InvalidInput(errors)
        return cls(pairs)

    def format(self) -> str:
        """The ring as ``kid:base64url-key,…`` text, primary first (``parse`` reads it)."""
        return ",".join(f"{kid}:{_encode_key(key)}" for kid, key in self._keys.items())

    # ------------------------------------------------------------------ keys

    @property
    def primary_kid(self) -> str:
        """The kid of the key that seals."""
        return self._primary

    @property
    def kids(self) -> tuple[str, ...]:
        """Every kid, primary first."""
        return tuple(self._keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(primary={self._primary!r}, kids={list(self._keys)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyRing):
            return NotImplemented
        return list(self._keys.items()) == list(other._keys.items())

    __hash__ = None  # type: ignore[assignment]

    def with_new_primary(self, kid: str, key: bytes) -> KeyRing:
        """A new ring with ``(kid, key)`` as its primary, keeping every other key.

        Raises:
            InvalidInput: the kid is already in the ring, or the key is malformed.
        """
        if kid in self._keys:
            raise InvalidInput([FieldError("kid", "is already in the key ring")])
        return KeyRing([(kid, key), *self._keys.items()])

    # ------------------------------------------------------------------ sealing

    def seal(
        self, plaintext: str, *, tenant_id: UUID, connector_id: UUID, name: str
    ) -> SealedSecret:
        """Seal one secret value under the primary key, bound to its owner and name."""
        nonce = _random.token_bytes(NONCE_SIZE)
        ad = _associated_data(tenant_id, connector_id, name)
        ciphertext = self._aead[self._primary].encrypt(nonce, plaintext.encode("utf-8"), ad)
        return SealedSecret(kid=self._primary, nonce=nonce, ciphertext=ciphertext)

    def open(self, sealed: SealedSecret, *, tenant_id: UUID, connector_id: UUID, name: str) -> str:
        """Open a sealed secret of this tenant, connector and secret name.

        Raises:
            SecretError: the kid is not in the ring, or the ciphertext does not
                authenticate (tampered, or sealed for another tenant, connector or name).
        """
        aead = self._aead.get(sealed.kid)
        if aead is None:
            raise SecretError(f"secret {name!r} was sealed with a key that is not in the ring")
        ad = _associated_data(tenant_id, connector_id, name)
        try:
            plaintext = aead.decrypt(sealed.nonce, sealed.ciphertext, ad)
        except (InvalidTag, ValueError):
            raise SecretError(
                f"secret {name!r} does not open: it was tampered with or belongs to "
                "another connector"
            ) from None
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(f"secret {name!r} is not UTF-8 text") from None

    def needs_reseal(self, sealed: SealedSecret) -> bool:
        """Whether ``sealed`` was sealed by a key other than the primary."""
        return sealed.kid != self._primary

    def reseal(
        self, sealed: SealedSecret, *, tenant_id: UUID, connector_id: UUID, name: str
    ) -> SealedSecret:
        """Open ``sealed`` and seal it again under the primary key (a fresh nonce).

        Raises:
            SecretError: as ``open``.
        """
        plaintext = self.open(sealed, tenant_id=tenant_id, connector_id=connector_id, name=name)
        return self.seal(plaintext, tenant_id=tenant_id, connector_id=connector_id, name=name)


def seal_all(
    ring: KeyRing, tenant_id: UUID, connector_id: UUID, secrets: Mapping[str, str]
) -> dict[str, SealedSecret]:
    """Seal every ``name -> value`` of one connector."""
    return {
        name: ring.seal(value, tenant_id=tenant_id, connector_id=connector_id, name=name)
        for name, value in secrets.items()
    }


def open_all(
    ring: KeyRing, tenant_id: UUID, connector_id: UUID, sealed: Mapping[str, SealedSecret]
) -> dict[str, str]:
    """Open every sealed secret of one connector.

    Raises:
        SecretError: one of them does not open.
    """
    return {
        name: ring.open(value, tenant_id=tenant_id, connector_id=connector_id, name=name)
        for name, value in sealed.items()
    }


# --------------------------------------------------------------------------- key file


def load_key_file(path: Path) -> KeyRing:
    """Read a key file (the ``parse`` format).

    Raises:
        SecretError: the file cannot be read.
        InvalidInput: its content is malformed.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretError(f"cannot read the key file {str(path)!r}: {exc.strerror}") from None
    if mode & 0o077:
        log.warning("the key file %s is readable by other users; make it mode 0600", path)
    return KeyRing.parse(text)


def _write_temp(directory: Path, text: str) -> Path:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".keys.", suffix=".tmp")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write ``ring`` to ``path`` atomically (temp file + rename), with mode 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_temp(path.parent, ring.format() + "\n")
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _create_key_file(path: Path) -> KeyRing:
    """Create the key file with one new key, unless another process made it first."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ring = KeyRing([generate_key()])
    tmp = _write_temp(path.parent, ring.format() + "\n")
    try:
        os.link(tmp, path)  # atomic and never overwrites: the first creator wins
    except FileExistsError:
        return load_key_file(path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return ring


def keyring_from_env_or_file(
    data_dir: Path, *, environ: Mapping[str, str] | None = None
) -> KeyRing:
    """The standalone server's key ring.

    ``XAVYO_SECRET_KEYS`` wins when it is set and not blank; otherwise the key file
    ``<data_dir>/keys`` is read, and created with one generated key (mode 0600) when it
    does not exist yet. Two processes starting at once end up with the same file.

    Raises:
        InvalidInput: the variable or the file is malformed.
        SecretError: the key file cannot be read.
    """
    env = os.environ if environ is None else environ
    text = env.get(ENV_VAR, "")
    if text.strip():
        return KeyRing.parse(text)
    path = Path(data_dir) / KEY_FILE_NAME
    if path.exists():
        return load_key_file(path)
    return _create_key_file(path)
