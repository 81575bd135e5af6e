"""The on-disk format of the credential store: header, key derivation, AEAD, padding.

File format, version 1 (all integers big-endian)::

    offset      size  field
    0           8     magic b"TAUCRED\\0"
    8           2     format version, uint16 (1)
    10          4     header length N, uint32 (at most 65536)
    14          N     header: a UTF-8 JSON object (written with sorted keys, no spaces)
    14 + N      rest  AEAD ciphertext of the payload, with its 16-byte tag at the end

The header::

    {"aead": "aes-256-gcm",
     "kdf": {"id": "argon2id", "version": 19, "memory_kib": 65536, "iterations": 3,
             "lanes": 4, "salt": "<base64, 16 bytes>"}
         or {"id": "keyring", "service": "tau-credentials"},
     "key_id": "<16 lowercase hex digits, new at every rotation>",
     "nonce": "<base64, 12 bytes, new at every write>"}

The associated data of the AEAD is every byte before the ciphertext (magic, version, length and
header), so flipping any bit of the file, truncating it or appending to it makes decryption fail.
For ``argon2id`` the key is ``Argon2id(passphrase as NFC-normalised UTF-8, salt, memory_kib,
iterations, lanes, length=32)`` (Argon2 version 0x13 = 19); for ``keyring`` it is the base64 text
stored in the OS keyring under (``service``, ``key_id``). Readers reject Argon2 parameters below
19456 KiB / 2 iterations / 1 lane (the OWASP floor) or above 2 GiB / 64 / 64.

The payload is UTF-8 JSON, optionally followed by ASCII spaces that pad it to a multiple of 256
bytes (so the file size says little about the secrets)::

    {"secrets": {"<name>": {"value": "...", "description": "...",
                            "created_at": "<ISO 8601 UTC>", "updated_at": "<ISO 8601 UTC>"}}}

A store that fails any of these checks is reported as corrupt and never overwritten.

``cryptography`` (the ``credentials`` extra) is imported only when a store is actually sealed,
opened or its key derived. The key sources, locking and rotation live in
:mod:`tau_core._credentials`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import struct
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from attrs import frozen

from .errors import CredentialError

Backend = Literal["keyring", "passphrase"]

MAGIC = b"TAUCRED\0"
FORMAT_VERSION = 1
_PREFIX = struct.Struct(">8sHI")
_MAX_HEADER = 65536
_TAG_LEN = 16
_NONCE_LEN = 12
_SALT_LEN = 16
_KEY_LEN = 32
_PAD_TO = 256
_AEAD = "aes-256-gcm"
_ARGON2_VERSION = 0x13
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_KEY_ID_RE = re.compile(r"[0-9a-f]{16}")


@frozen
class _Argon2Cost:
    """Argon2id cost parameters: memory in KiB, passes over memory, parallel lanes."""

    memory_kib: int
    iterations: int
    lanes: int


# RFC 9106's second recommended setting (64 MiB, 3 passes, 4 lanes): above every OWASP
# minimum. New stores and rotations use it; files record what they were written with.
_DEFAULT_COST = _Argon2Cost(memory_kib=65536, iterations=3, lanes=4)
# What readers accept: the OWASP floor (19 MiB, 2 passes, 1 lane) up to 2 GiB / 64 / 64, so a
# tampered header can neither weaken the derivation nor make it exhaust memory.
_MIN_COST = _Argon2Cost(memory_kib=19456, iterations=2, lanes=1)
_MAX_COST = _Argon2Cost(memory_kib=2 * 1024 * 1024, iterations=64, lanes=64)


# --------------------------------------------------------------------------- lazy dependencies


def _missing_extra(module: str) -> CredentialError:
    return CredentialError(
        f"the credential store needs the {module!r} package, which is not installed; "
        "install tau-core with its credentials extra: pip install 'tau-core[credentials]'"
    )


def _aes(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise _missing_extra("cryptography") from None
    return AESGCM(key)


def _normalise_passphrase(passphrase: str) -> bytes:
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


# --------------------------------------------------------------------------- header


@frozen
class _Argon2Kdf:
    cost: _Argon2Cost
    salt: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "id": "argon2id",
            "version": _ARGON2_VERSION,
            "memory_kib": self.cost.memory_kib,
            "iterations": self.cost.iterations,
            "lanes": self.cost.lanes,
            "salt": base64.b64encode(self.salt).decode("ascii"),
        }

    def derive(self, passphrase: str) -> bytes:
        try:
            from cryptography.exceptions import UnsupportedAlgorithm
            from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
        except ImportError:
            raise _missing_extra("cryptography") from None
        try:
            kdf = Argon2id(
                salt=self.salt,
                length=_KEY_LEN,
                iterations=self.cost.iterations,
                lanes=self.cost.lanes,
                memory_cost=self.cost.memory_kib,
            )
            return kdf.derive(_normalise_passphrase(passphrase))
        except UnsupportedAlgorithm:
            raise CredentialError(
                "the installed cryptography/OpenSSL build has no Argon2id; upgrade cryptography "
                "to 44 or newer (its wheels bundle an OpenSSL with Argon2)"
            ) from None
        except MemoryError:
            raise CredentialError(
                f"not enough memory for the Argon2id key derivation ({self.cost.memory_kib} KiB); "
                "free some memory and retry"
            ) from None


@frozen
class _KeyringKdf:
    service: str

    def to_json(self) -> dict[str, Any]:
        return {"id": "keyring", "service": self.service}


_Kdf = _Argon2Kdf | _KeyringKdf


@frozen
class _Header:
    aead: str
    kdf: _Kdf
    key_id: str
    nonce: bytes

    @property
    def backend(self) -> Backend:
        return "keyring" if isinstance(self.kdf, _KeyringKdf) else "passphrase"

    def to_bytes(self) -> bytes:
        obj = {
            "aead": self.aead,
            "kdf": self.kdf.to_json(),
            "key_id": self.key_id,
            "nonce": base64.b64encode(self.nonce).decode("ascii"),
        }
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _corrupt(path: Path, detail: str) -> CredentialError:
    return CredentialError(
        f"credential store {path} is corrupt or was tampered with: {detail}; restore it from a "
        "backup, or move it aside and set the keys again with `tau keys set NAME`"
    )


def _b64(path: Path, value: Any, what: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise _corrupt(path, f"the header's {what} is not base64 text")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _corrupt(path, f"the header's {what} is not base64 text") from None
    if len(raw) != length or base64.b64encode(raw).decode("ascii") != value:
        raise _corrupt(path, f"the header's {what} is not {length} bytes of canonical base64")
    return raw


def _int_in(path: Path, kdf: dict[str, Any], key: str, low: int, high: int) -> int:
    value = kdf.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _corrupt(path, f"the Argon2id parameter {key!r} is {value!r}, outside {low}..{high}")
    return value


def _parse_kdf(path: Path, kdf: Any) -> _Kdf:
    if not isinstance(kdf, dict):
        raise _corrupt(path, "the header has no 'kdf' object")
    kind = kdf.get("id")
    if kind == "keyring":
        service = kdf.get("service")
        if not isinstance(service, str) or not service:
            raise _corrupt(path, "the header names no keyring service")
        return _KeyringKdf(service)
    if kind == "argon2id":
        if kdf.get("version") != _ARGON2_VERSION:
            raise _corrupt(path, f"unsupported Argon2 version {kdf.get('version')!r}")
        cost = _Argon2Cost(
            memory_kib=_int_in(path, kdf, "memory_kib", _MIN_COST.memory_kib, _MAX_COST.memory_kib),
            iterations=_int_in(path, kdf, "iterations", _MIN_COST.iterations, _MAX_COST.iterations),
            lanes=_int_in(path, kdf, "lanes", _MIN_COST.lanes, _MAX_COST.lanes),
        )
        if cost.memory_kib < 8 * cost.lanes:
            raise _corrupt(path, "Argon2id memory is below 8 KiB per lane")
        return _Argon2Kdf(cost, _b64(path, kdf.get("salt"), "salt", _SALT_LEN))
    raise _corrupt(path, f"unknown key source {kind!r} (expected 'argon2id' or 'keyring')")


def _parse_file(path: Path, data: bytes) -> tuple[_Header, bytes, bytes]:
    """Split a store file into (header, associated data, ciphertext), checking the structure."""
    if len(data) < _PREFIX.size:
        raise _corrupt(path, f"the file is {len(data)} bytes, shorter than the fixed prefix")
    magic, version, header_len = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise _corrupt(path, "it does not start with the Tau credential store magic")
    if version > FORMAT_VERSION:
        raise CredentialError(
            f"credential store {path} has format version {version}, newer than this Tau "
            f"understands ({FORMAT_VERSION}); upgrade tau-core"
        )
    if version != FORMAT_VERSION:
        raise _corrupt(path, f"format version {version} does not exist")
    end = _PREFIX.size + header_len
    if header_len > _MAX_HEADER or end + _TAG_LEN > len(data):
        raise _corrupt(path, "the header length does not fit the file (truncated?)")
    try:
        obj = json.loads(data[_PREFIX.size : end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _corrupt(path, "the header is not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise _corrupt(path, "the header is not a JSON object")
    if obj.get("aead") != _AEAD:
        aead = obj.get("aead")
        if isinstance(aead, str) and aead.isascii() and aead.isprintable():
            raise CredentialError(
                f"credential store {path} uses cipher {aead!r}, which this Tau does not "
                "support; upgrade tau-core (or the file was altered)"
            )
        raise _corrupt(path, "the header names no cipher")
    key_id = obj.get("key_id")
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise _corrupt(path, "the header's key id is not 16 hex digits")
    header = _Header(
        aead=_AEAD,
        kdf=_parse_kdf(path, obj.get("kdf")),
        key_id=key_id,
        nonce=_b64(path, obj.get("nonce"), "nonce", _NONCE_LEN),
    )
    return header, data[:end], data[end:]


def _seal(kdf: _Kdf, key_id: str, key: bytes, table: dict[str, dict[str, str]]) -> bytes:
    header = _Header(aead=_AEAD, kdf=kdf, key_id=key_id, nonce=os.urandom(_NONCE_LEN))
    header_bytes = header.to_bytes()
    aad = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes)) + header_bytes
    payload = json.dumps({"secrets": table}, sort_keys=True, ensure_ascii=False).encode("utf-8")
    payload += b" " * (-len(payload) % _PAD_TO)
    return aad + cast(bytes, _aes(key).encrypt(header.nonce, payload, aad))


def _unseal(header: _Header, key: bytes, aad: bytes, ciphertext: bytes) -> bytes | None:
    """Decrypt and authenticate the payload; None when *key* is wrong or a byte was altered."""
    try:
        from cryptography.exceptions import InvalidTag
    except ImportError:
        raise _missing_extra("cryptography") from None
    try:
        return cast(bytes, _aes(key).decrypt(header.nonce, ciphertext, aad))
    except InvalidTag:
        return None


def _parse_table(path: Path, payload: bytes) -> dict[str, dict[str, str]]:
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        obj = None
    secrets = obj.get("secrets") if isinstance(obj, dict) else None
    if not isinstance(secrets, dict):
        raise _corrupt(path, "it decrypted, but its contents are not a secret table")
    for name, entry in secrets.items():
        fields = ("value", "description", "created_at", "updated_at")
        ok = isinstance(entry, dict) and all(isinstance(entry.get(f), str) for f in fields)
        if not ok or not _NAME_RE.fullmatch(name):
            raise _corrupt(path, "it decrypted, but an entry of its secret table is malformed")
        try:
            datetime.fromisoformat(entry["created_at"])
            datetime.fromisoformat(entry["updated_at"])
        except ValueError:
            raise _corrupt(path, f"the timestamps of secret {name!r} are not ISO 8601") from None
    return cast(dict[str, dict[str, str]], secrets)
