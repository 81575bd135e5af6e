"""The encrypted credential store: secrets by name, never plaintext on disk.

The store is one file, ``$TAU_HOME/credentials.tau`` (mode 0600, written atomically: temporary
file, fsync, rename, directory fsync). Its master key comes from one of two places, recorded in
the file itself:

* **keyring** — a random 256-bit key kept in the OS keyring (service ``tau-credentials``,
  username = the key id);
* **passphrase** — a key derived from a passphrase (``TAU_PASSPHRASE``, or a hidden prompt
  on the terminal) with Argon2id at or above the OWASP minimums.

With neither a usable keyring nor a passphrase the store refuses to work; it never falls back to
plaintext. Which source a *new* store uses follows ``credentials.backend`` (``auto`` prefers the
keyring); an existing store is always opened the way its header says.

The file format (header, Argon2id key derivation, AEAD, padding) is in :mod:`tau_core._credfile`.

Writers take an advisory lock on ``credentials.tau.lock`` so concurrent ``tau keys`` commands do
not lose updates. Rotation (:meth:`CredentialStore.rotate`) re-encrypts everything under a new
key and is crash-safe: at every instant the file on disk decrypts with the old key or with the new
one, and the old keyring entry is deleted only after the new file is in place.

``keyring`` and ``cryptography`` (the ``credentials`` extra) are imported only when a store is
actually read or written.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import json
import logging
import os
import secrets as _secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, cast

from attrs import define, field, frozen

from ._config import Config, tau_home
from ._credfile import (
    _AEAD,
    _DEFAULT_COST,
    _KEY_LEN,
    _MIN_COST,  # noqa: F401 - unused here; the tests reach it through this module
    _NAME_RE,
    _SALT_LEN,
    Backend,
    _Argon2Cost,  # noqa: F401 - unused here; the tests reach it through this module
    _Argon2Kdf,
    _corrupt,
    _Header,
    _Kdf,
    _KeyringKdf,
    _missing_extra,
    _parse_file,
    _parse_table,
    _seal,
    _unseal,
)
from ._fsutil import atomic_write
from .errors import ConfigError, CredentialError, UsageError

__all__ = ["Credential", "CredentialStore", "StoreInfo"]

log = logging.getLogger("tau_core.credentials")

BackendSetting = Literal["auto", "keyring", "passphrase"]

STORE_FILENAME = "credentials.tau"
KEYRING_SERVICE = "tau-credentials"
_MIN_PASSPHRASE = 8
REDACTED = "[REDACTED]"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@frozen(repr=False)
class Credential:
    """One secret and its metadata. ``repr()`` and ``str()`` never show the value.

    Attributes:
        name: The logical name, e.g. ``"openai"``; grants refer to it as ``secret:NAME@TOOL``.
        value: The secret itself. Pass it only to the tool or provider granted it.
        description: What the secret is for (free text, not secret).
        created_at: When it was first stored (UTC), if it came from the store.
        updated_at: When its value or description last changed (UTC), if it came from the store.

    .. versionadded:: 0.1
    """

    name: str
    value: str
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"Credential(name={self.name!r}, value={REDACTED!r}, "
            f"description={self.description!r}, created_at={_iso(self.created_at)!r}, "
            f"updated_at={_iso(self.updated_at)!r})"
        )

    def __str__(self) -> str:
        return REDACTED

    def metadata(self) -> dict[str, str | None]:
        """Everything but the value, JSON-ready: name, description, created_at, updated_at."""
        return {
            "name": self.name,
            "description": self.description,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@frozen
class StoreInfo:
    """What a store file's header says (not authenticated until the file is decrypted).

    Attributes:
        path: The store file.
        backend: Where the master key lives: ``"keyring"`` or ``"passphrase"``.
        key_id: The id of the current master key; it changes at every rotation.
        kdf: The key-derivation record of the header (no secret in it).
        count: How many secrets the store holds, when known.

    .. versionadded:: 0.1
    """

    path: Path
    backend: Backend
    key_id: str
    kdf: dict[str, Any]
    count: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of this info."""
        return {
            "path": str(self.path),
            "backend": self.backend,
            "key_id": self.key_id,
            "kdf": self.kdf,
            "count": self.count,
        }


# --------------------------------------------------------------------------- names


def _to_credential(name: str, entry: dict[str, str]) -> Credential:
    return Credential(
        name=name,
        value=entry["value"],
        description=entry["description"],
        created_at=datetime.fromisoformat(entry["created_at"]),
        updated_at=datetime.fromisoformat(entry["updated_at"]),
    )


def check_name(name: str) -> str:
    """Return *name* if it is a valid credential name.

    Raises:
        UsageError: It is empty, too long, or has characters other than letters, digits,
            ``_``, ``.`` and ``-`` (or starts with ``.`` or ``-``).
    """
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"{name!r} is not a valid credential name: use 1-128 letters, digits, '_', '.' or "
            "'-', not starting with '.' or '-' (e.g. openai, GITHUB_TOKEN)"
        )
    return name


# --------------------------------------------------------------------------- key sources


def can_prompt() -> bool:
    """Whether a hidden prompt can reach a person: stdin is a terminal, or /dev/tty opens."""
    if sys.stdin is not None and sys.stdin.isatty():
        return True
    if os.name != "posix":
        return False
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _import_keyring() -> ModuleType:
    try:
        import keyring  # noqa: TID251 - this module is the one place allowed to touch the keyring
    except ImportError:
        raise _missing_extra("keyring") from None
    return keyring


def _keyring_status() -> tuple[float, str]:
    """(priority of the OS keyring backend, its description); priority <= 0 means none."""
    try:
        keyring = _import_keyring()
    except CredentialError:
        return 0.0, "the keyring package is not installed"
    from keyring.backends import chainer, fail, null  # noqa: TID251 - the one allowed module

    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring config must not hide the passphrase route
        return 0.0, f"the keyring failed to start ({type(exc).__name__}: {exc})"
    if isinstance(backend, fail.Keyring | null.Keyring):
        return 0.0, "no OS keyring backend is available"
    try:
        if isinstance(backend, chainer.ChainerBackend):
            priority = max((float(b.priority) for b in backend.backends), default=0.0)
        else:
            priority = float(type(backend).priority)
    except Exception as exc:  # backends signal "not usable here" by raising from priority
        return 0.0, f"the keyring backend {type(backend).__name__} is not usable ({exc})"
    return priority, f"keyring backend {type(backend).__module__}.{type(backend).__name__}"


def _keyring_call(action: str, func: Any, *args: str) -> Any:
    try:
        return func(*args)
    except Exception as exc:
        raise CredentialError(
            f"the OS keyring refused to {action} ({type(exc).__name__}: {exc}); unlock or fix "
            "the keyring and retry, or use a passphrase instead: "
            "`tau config set credentials.backend passphrase`"
        ) from None


def _keyring_store_key(service: str, key_id: str, key: bytes) -> None:
    keyring = _import_keyring()
    text = base64.b64encode(key).decode("ascii")
    _keyring_call(f"store master key {key_id}", keyring.set_password, service, key_id, text)


def _keyring_delete_key(service: str, key_id: str) -> bool:
    """Delete a master key; return whether that worked (a leftover key is harmless)."""
    try:
        _import_keyring().delete_password(service, key_id)
    except Exception as exc:
        log.warning(
            "could not delete the old master key %s from the OS keyring (%s); it is no longer "
            "used and can be removed by hand (service %r)",
            key_id,
            type(exc).__name__,
            service,
        )
        return False
    return True


def _new_key_id() -> str:
    return _secrets.token_hex(8)


@define
class _Snapshot:
    """A decrypted store: its header, key, secret table, and the passphrase that opened it."""

    header: _Header
    key: bytes = field(repr=False)
    table: dict[str, dict[str, str]] = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)


# --------------------------------------------------------------------------- the store


@define
class CredentialStore:
    """The encrypted credential store under ``TAU_HOME``.

    Open it with :meth:`open`; nothing is read until a method needs it, and every method reads
    the file afresh, so several processes can share one store.

    Attributes:
        path: The store file, ``$TAU_HOME/credentials.tau`` by default.
        backend: ``credentials.backend`` from the config: where a *new* store keeps its master
            key (``auto`` prefers the OS keyring, then a passphrase).

    .. versionadded:: 0.1
    """

    path: Path
    backend: BackendSetting = "auto"
    _passphrase: str | None = field(default=None, repr=False, alias="passphrase")
    _interactive: bool | None = field(default=None, alias="interactive")
    _keys: dict[str, tuple[str | None, bytes]] = field(factory=dict, repr=False, init=False)
    _prompted: bool = field(default=False, repr=False, init=False)

    @classmethod
    def open(
        cls,
        config: Config | None = None,
        *,
        path: Path | None = None,
        passphrase: str | None = None,
        interactive: bool | None = None,
    ) -> CredentialStore:
        """The store described by *config* (or the defaults). Does not touch the disk.

        Args:
            config: The loaded configuration; ``credentials.backend`` picks the key source of
                a new store.
            path: The store file; defaults to ``credentials.tau`` in :func:`tau_home`.
            passphrase: The passphrase, instead of ``TAU_PASSPHRASE`` or a prompt.
            interactive: Whether a hidden prompt may ask for a passphrase; by default, when a
                terminal is attached.

        Raises:
            ConfigError: ``credentials.backend`` is not ``auto``, ``keyring`` or ``passphrase``.
        """
        backend = "auto" if config is None else config.get("credentials.backend", "auto")
        if backend not in ("auto", "keyring", "passphrase"):
            raise ConfigError(
                f"{backend!r} is not one of auto, keyring, passphrase", key="credentials.backend"
            )
        return cls(
            path=path or tau_home() / STORE_FILENAME,
            backend=cast(BackendSetting, backend),
            passphrase=passphrase,
            interactive=interactive,
        )

    # ------------------------------------------------------------------ reading

    def exists(self) -> bool:
        """Whether the store file exists."""
        return self.path.exists()

    def get(self, name: str) -> Credential:
        """The credential called *name*.

        Raises:
            CredentialError: It is not in the store, or the store cannot be opened.
        """
        found = self.get_optional(name)
        if found is None:
            raise CredentialError(
                f"no credential named {name!r} in {self.path}; set it with `tau keys set {name}`"
            )
        return found

    def get_optional(self, name: str) -> Credential | None:
        """The credential called *name*, or None when the store (or the name) does not exist.

        Raises:
            CredentialError: The store exists but is locked, corrupt, or its key is unavailable.
        """
        snap = self._load()
        if snap is None or name not in snap.table:
            return None
        return _to_credential(name, snap.table[name])

    def credentials(self) -> list[Credential]:
        """Every credential, sorted by name (an empty list when there is no store)."""
        snap = self._load()
        if snap is None:
            return []
        return [_to_credential(n, snap.table[n]) for n in sorted(snap.table)]

    def info(self) -> StoreInfo | None:
        """What the store's header says, without decrypting it; None when there is no store.

        Raises:
            CredentialError: The file is unreadable or its header is malformed.
        """
        data = self._read_bytes()
        if data is None:
            return None
        header, _, _ = _parse_file(self.path, data)
        return StoreInfo(self.path, header.backend, header.key_id, header.kdf.to_json())

    # ------------------------------------------------------------------ writing

    def set(self, name: str, value: str, *, description: str | None = None) -> Credential:
        """Store *value* under *name*, creating the store if needed.

        Args:
            name: The credential name (letters, digits, ``_ . -``).
            value: The secret; must not be empty.
            description: What it is for; None keeps the current description.

        Returns:
            The stored credential.

        Raises:
            UsageError: Bad name or empty value.
            CredentialError: The store cannot be opened or created (no keyring and no
                passphrase, corrupt file, wrong passphrase).
        """
        check_name(name)
        if not isinstance(value, str):
            raise UsageError(f"the value for {name!r} must be a str, not {type(value).__name__}")
        if not value:
            raise UsageError(f"the value for {name!r} is empty; a credential needs a value")
        with self._locked():
            snap = self._load() or self._create()
            now = _now().isoformat()
            old = snap.table.get(name)
            snap.table[name] = {
                "value": value,
                "description": (
                    description if description is not None else (old["description"] if old else "")
                ),
                "created_at": old["created_at"] if old else now,
                "updated_at": now,
            }
            self._write(snap.header.kdf, snap.header.key_id, snap.key, snap.table)
            return _to_credential(name, snap.table[name])

    def remove(self, name: str) -> None:
        """Delete the credential called *name*.

        Raises:
            CredentialError: There is no such credential, or the store cannot be opened.
        """
        with self._locked():
            snap = self._load()
            if snap is None or name not in snap.table:
                raise CredentialError(
                    f"no credential named {name!r} in {self.path}; `tau keys list` shows the "
                    "names it holds"
                )
            del snap.table[name]
            self._write(snap.header.kdf, snap.header.key_id, snap.key, snap.table)

    def rotate(
        self, *, new_passphrase: str | None = None, backend: Backend | None = None
    ) -> StoreInfo:
        """Re-encrypt every secret under a new master key (and new salt), crash-safely.

        Keyring stores get a new random key under a new key id; the file is rewritten
        atomically, and only then is the old key deleted from the keyring. Passphrase stores get
        a new salt and key id (and *new_passphrase*, when given). A crash at any point leaves
        the file readable with either the old or the new key.

        Args:
            new_passphrase: The passphrase from now on (passphrase stores only).
            backend: Move the master key to ``"keyring"`` or ``"passphrase"``; by default it
                stays where it is.

        Returns:
            The new header's info.

        Raises:
            UsageError: *new_passphrase* for a keyring store, or a too short passphrase.
            CredentialError: There is no store, it cannot be opened, or the keyring refuses.
        """
        with self._locked():
            snap = self._load()
            if snap is None:
                raise CredentialError(
                    f"nothing to rotate: there is no credential store at {self.path}; add a "
                    "secret with `tau keys set NAME` first"
                )
            old = snap.header
            target: Backend = backend or old.backend
            if new_passphrase is not None and target != "passphrase":
                raise UsageError(
                    "a new passphrase only applies to passphrase stores; this store keeps its "
                    "master key in the OS keyring (rotate with --backend passphrase to change)"
                )
            key_id = _new_key_id()
            kdf: _Kdf
            passphrase: str | None = None
            if target == "keyring":
                self._require_keyring(for_what=f"move {self.path} to the OS keyring")
                kdf = _KeyringKdf(KEYRING_SERVICE)
                key = os.urandom(_KEY_LEN)
                _keyring_store_key(kdf.service, key_id, key)
            else:
                if new_passphrase is not None:
                    passphrase = _check_new_passphrase(new_passphrase)
                elif snap.passphrase is not None:
                    passphrase = snap.passphrase
                else:
                    passphrase = self._passphrase_for(new=True)
                kdf = _Argon2Kdf(_DEFAULT_COST, os.urandom(_SALT_LEN))
                key = kdf.derive(passphrase)
            try:
                self._write(kdf, key_id, key, snap.table)
            except BaseException:
                if isinstance(kdf, _KeyringKdf):
                    self._forget_unused_key(kdf.service, key_id)
                raise
            self._keys.pop(_cache_key(old.kdf, old.key_id), None)
            self._keys[_cache_key(kdf, key_id)] = (passphrase, key)
            if new_passphrase is not None:
                self._passphrase, self._prompted = new_passphrase, False
            if isinstance(old.kdf, _KeyringKdf):
                _keyring_delete_key(old.kdf.service, old.key_id)
            return StoreInfo(self.path, target, key_id, kdf.to_json(), len(snap.table))

    # ------------------------------------------------------------------ internals

    def _read_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CredentialError(
                f"cannot read credential store {self.path}: {exc.strerror}; check that the "
                "file and TAU_HOME belong to you"
            ) from None

    def _load(self) -> _Snapshot | None:
        data = self._read_bytes()
        if data is None:
            return None
        header, aad, ciphertext = _parse_file(self.path, data)
        key, passphrase = self._key_for(header)
        payload = _unseal(header, key, aad, ciphertext)
        if payload is None:
            if header.backend == "keyring":  # the entry may be repaired; ask the keyring again
                self._keys.pop(_cache_key(header.kdf, header.key_id), None)
            if self._prompted:  # let the next attempt ask again instead of reusing a typo
                self._passphrase, self._prompted = None, False
            if header.backend == "passphrase":
                raise CredentialError(
                    f"wrong passphrase for {self.path} (or the file was altered): check "
                    "TAU_PASSPHRASE or what you typed; if the passphrase is right, restore the "
                    "file from a backup"
                )
            raise _corrupt(
                self.path,
                f"it does not decrypt with its master key {header.key_id} from the OS keyring "
                "(the file or the keyring entry was altered)",
            )
        return _Snapshot(header, key, _parse_table(self.path, payload), passphrase)

    def _key_for(self, header: _Header) -> tuple[bytes, str | None]:
        """The master key *header* needs, and the passphrase it came from (passphrase stores).

        Keys are cached per store object, by key source and (for passphrase stores) by
        passphrase, so a command derives each Argon2id key once.
        """
        slot = _cache_key(header.kdf, header.key_id)
        if isinstance(header.kdf, _KeyringKdf):
            cached = self._keys.get(slot)
            key = cached[1] if cached else self._key_from_keyring(header.kdf.service, header.key_id)
            self._keys[slot] = (None, key)
            return key, None
        passphrase = self._passphrase_for(new=False)
        cached = self._keys.get(slot)
        key = cached[1] if cached and cached[0] == passphrase else header.kdf.derive(passphrase)
        self._keys[slot] = (passphrase, key)
        return key, passphrase

    def _key_from_keyring(self, service: str, key_id: str) -> bytes:
        keyring = _import_keyring()
        priority, detail = _keyring_status()
        if priority <= 0:
            raise CredentialError(
                f"credential store {self.path} keeps its master key in the OS keyring, but "
                f"{detail}; run Tau where that keyring is available and unlocked (or rotate to a "
                "passphrase there: `tau keys rotate --backend passphrase`)"
            )
        text = _keyring_call(f"read master key {key_id}", keyring.get_password, service, key_id)
        if text is None:
            raise CredentialError(
                f"the master key {key_id} of credential store {self.path} is not in the OS "
                f"keyring ({detail}, service {service!r}); without it the secrets cannot be "
                "decrypted: restore the keyring entry, or move the store aside and set the keys "
                "again"
            )
        try:
            key = base64.b64decode(str(text).encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            key = b""
        if len(key) != _KEY_LEN:
            raise CredentialError(
                f"the OS keyring entry {service!r}/{key_id} for {self.path} is not a Tau master "
                "key (expected 32 bytes of base64); restore the entry from a backup"
            )
        return key

    def _passphrase_for(self, *, new: bool) -> str:
        """The passphrase: given to :meth:`open`, else ``TAU_PASSPHRASE``, else a prompt.

        A typed passphrase is remembered by this object (so one command prompts once), a
        mistyped one is forgotten again by :meth:`_load`. *new* asks twice and checks length.
        """
        given = self._passphrase or os.environ.get("TAU_PASSPHRASE")
        if given:
            return _check_new_passphrase(given) if new else given
        if not self._can_prompt():
            raise CredentialError(
                f"credential store {self.path} needs a passphrase and none was given: set "
                "TAU_PASSPHRASE, or run the command in a terminal to be prompted"
            )
        try:
            if not new:
                entered = getpass.getpass(f"Passphrase for {self.path}: ")
            else:
                entered = _check_new_passphrase(
                    getpass.getpass(f"New passphrase for {self.path}: ")
                )
                if getpass.getpass("Repeat the new passphrase: ") != entered:
                    raise UsageError("the two passphrases differ; nothing was changed")
        except EOFError:
            raise CredentialError(
                f"no passphrase was entered for {self.path}; nothing was changed"
            ) from None
        self._passphrase = entered
        self._prompted = True
        return entered

    def _can_prompt(self) -> bool:
        return can_prompt() if self._interactive is None else self._interactive

    def _require_keyring(self, *, for_what: str) -> None:
        priority, detail = _keyring_status()
        if priority <= 0:
            raise CredentialError(
                f"cannot {for_what}: {detail}; install and unlock a keyring backend (Secret "
                "Service, macOS Keychain, Windows Credential Locker), or use a passphrase: "
                "`tau config set credentials.backend passphrase` and set TAU_PASSPHRASE"
            )

    def _create(self) -> _Snapshot:
        """Choose the key source for a new store and make its master key (nothing written)."""
        backend = self.backend
        if backend == "auto":
            priority, detail = _keyring_status()
            if priority >= 1:
                backend = "keyring"
            elif self._passphrase or os.environ.get("TAU_PASSPHRASE") or self._can_prompt():
                backend = "passphrase"
            else:
                raise CredentialError(
                    f"cannot create credential store {self.path}: there is no usable OS keyring "
                    f"({detail}) and no passphrase; set TAU_PASSPHRASE, run the command in a "
                    "terminal to be prompted for a passphrase, or install and unlock a keyring "
                    "backend. Tau never stores secrets in plaintext"
                )
        key_id = _new_key_id()
        kdf: _Kdf
        if backend == "keyring":
            self._require_keyring(for_what=f"create credential store {self.path} in the keyring")
            kdf = _KeyringKdf(KEYRING_SERVICE)
            key = os.urandom(_KEY_LEN)
            _keyring_store_key(kdf.service, key_id, key)
            passphrase = None
        else:
            passphrase = self._passphrase_for(new=True)
            kdf = _Argon2Kdf(_DEFAULT_COST, os.urandom(_SALT_LEN))
            key = kdf.derive(passphrase)
        self._keys[_cache_key(kdf, key_id)] = (passphrase, key)
        header = _Header(aead=_AEAD, kdf=kdf, key_id=key_id, nonce=b"")
        return _Snapshot(header, key, {}, passphrase)

    def _write(self, kdf: _Kdf, key_id: str, key: bytes, table: dict[str, dict[str, str]]) -> None:
        data = _seal(kdf, key_id, key, table)
        directory = self.path.parent
        if not directory.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in directory.glob(f".{self.path.name}.*.tmp"):
            # Left by a writer that was killed mid-write (we hold the lock, so none is live).
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            atomic_write(self.path, data, mode=0o600)
        except OSError as exc:
            raise CredentialError(
                f"cannot write credential store {self.path}: {exc.strerror}; the previous "
                "version is unchanged. Check free space and permissions of the directory"
            ) from None

    def _forget_unused_key(self, service: str, key_id: str) -> None:
        """After a failed rotation, delete the new keyring key unless the file already uses it."""
        try:
            data = self._read_bytes()
            on_disk = _parse_file(self.path, data)[0].key_id if data is not None else None
        except CredentialError:
            return  # cannot tell which key the file needs: keep both
        if on_disk != key_id:
            _keyring_delete_key(service, key_id)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive advisory lock on ``<store>.lock`` while reading and rewriting."""
        directory = self.path.parent
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(
                self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600
            )
        except OSError as exc:
            raise CredentialError(
                f"cannot lock credential store {self.path}: {exc.strerror}; check that TAU_HOME "
                f"({directory}) exists and is writable by you"
            ) from None
        try:
            _lock_fd(fd)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _lock_fd(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:  # LK_LOCK gives up after ~10 s; keep waiting like flock does
                continue
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)


def _check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < _MIN_PASSPHRASE:
        raise UsageError(
            f"the new passphrase is {len(passphrase)} characters long; use at least "
            f"{_MIN_PASSPHRASE} (a few random words are easy to type and hard to guess)"
        )
    return passphrase


def _cache_key(kdf: _Kdf, key_id: str) -> str:
    """Where a key is cached: a derived key depends on the KDF record only, a keyring key on
    the entry it was read from."""
    if isinstance(kdf, _Argon2Kdf):
        return json.dumps(kdf.to_json(), sort_keys=True)
    return json.dumps([kdf.to_json(), key_id], sort_keys=True)
