"""The encrypted credential store: round trips, no plaintext at rest, tamper and crash safety."""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tau_core
from tau_core import _credentials as credmod
from tau_core._config import Config
from tau_core._credentials import Credential, CredentialStore
from tau_core.errors import ConfigError, CredentialError, UsageError
from tau_core.testing._keyring import MemoryKeyring, memory_keyring, no_keyring

PASSPHRASE = "correct horse battery staple"
DATA = Path(__file__).parent / "data"
SRC = Path(tau_core.__file__).resolve().parents[1]

# Distinctive values: any of them found in any byte of TAU_HOME is a plaintext leak.
SECRETS = {
    "openai": "sk-LEAKCHECK-openai-7f3a9c2e1b",
    "github": "ghp_LEAKCHECK_github_55aa33cc",
    "unicode": "pässwörd-LEAKCHECK-🔑",
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private TAU_HOME, no TAU_PASSPHRASE, and no terminal to prompt on."""
    path = tmp_path / "tau-home"
    monkeypatch.setenv("TAU_HOME", str(path))
    monkeypatch.delenv("TAU_PASSPHRASE", raising=False)
    monkeypatch.setattr(credmod, "can_prompt", lambda: False)
    return path


@pytest.fixture(params=["keyring", "passphrase"])
def mode(request, home, monkeypatch):
    """Run the test once with an OS keyring (in memory) and once with a passphrase only."""
    if request.param == "keyring":
        with memory_keyring():
            yield "keyring"
    else:
        with no_keyring():
            monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
            yield "passphrase"


@pytest.fixture
def cheap_kdf(monkeypatch):
    """Use the OWASP-floor Argon2id cost for new keys in loops that derive hundreds of keys.

    The code path is the same; only the cost numbers in the header differ (and the header
    records them). The default cost is asserted separately.
    """
    monkeypatch.setattr(credmod, "_DEFAULT_COST", credmod._MIN_COST)


def store_path(home: Path) -> Path:
    return home / "credentials.tau"


def fill(store: CredentialStore) -> None:
    for name, value in SECRETS.items():
        store.set(name, value, description=f"the {name} key")


def all_bytes_under(directory: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def encodings(secret: str) -> list[bytes]:
    raw = secret.encode("utf-8")
    return [
        raw,
        secret.encode("utf-16-le"),
        json.dumps(secret)[1:-1].encode("ascii", "backslashreplace"),
        base64.b64encode(raw),
        raw.hex().encode("ascii"),
    ]


def assert_no_plaintext(directory: Path) -> None:
    files = all_bytes_under(directory)
    assert files, f"nothing written under {directory}"
    for path, data in files.items():
        for name, secret in SECRETS.items():
            for needle in encodings(secret):
                assert needle not in data, f"secret {name!r} found in {path}"
            assert b"LEAKCHECK" not in data, f"part of secret {name!r} found in {path}"


# ------------------------------------------------------------------------------ round trips


def test_set_get_list_rm_round_trip(mode, home):
    store = CredentialStore.open()
    fill(store)
    fresh = CredentialStore.open()
    for name, value in SECRETS.items():
        credential = fresh.get(name)
        assert credential.value == value
        assert credential.description == f"the {name} key"
        assert credential.created_at is not None
        assert credential.created_at.utcoffset().total_seconds() == 0
    assert [c.name for c in fresh.credentials()] == sorted(SECRETS)

    fresh.remove("github")
    assert CredentialStore.open().get_optional("github") is None
    assert [c.name for c in CredentialStore.open().credentials()] == ["openai", "unicode"]
    with pytest.raises(CredentialError, match=r"no credential named 'github'.*tau keys set"):
        CredentialStore.open().get("github")


def test_update_keeps_created_at_and_description(mode, home, monkeypatch):
    store = CredentialStore.open()
    first = store.set("openai", "v1", description="kept")
    monkeypatch.setattr(credmod, "_now", lambda: first.updated_at.replace(year=2099))
    second = store.set("openai", "v2")
    assert second.value == "v2"
    assert second.description == "kept"
    assert second.created_at == first.created_at
    assert second.updated_at.year == 2099
    assert store.set("openai", "v3", description="").description == ""


def test_store_mode_follows_backend(mode, home):
    CredentialStore.open().set("openai", "value-1")
    info = CredentialStore.open().info()
    assert info is not None
    assert info.backend == mode
    assert info.kdf["id"] == ("keyring" if mode == "keyring" else "argon2id")


def test_rm_unknown_name_is_a_clear_error(mode, home):
    store = CredentialStore.open()
    with pytest.raises(CredentialError, match=r"no credential named 'nope'.*tau keys list"):
        store.remove("nope")
    store.set("openai", "x-value")
    before = store_path(home).read_bytes()
    with pytest.raises(CredentialError, match="no credential named 'nope'"):
        store.remove("nope")
    assert store_path(home).read_bytes() == before


@pytest.mark.parametrize("name", ["", "has space", "a@b", "x:y", "-dash", ".dot", "a" * 129])
def test_bad_names_are_refused_without_echoing_the_value(home, name):
    with memory_keyring(), pytest.raises(UsageError, match="not a valid credential name") as info:
        CredentialStore.open().set(name, "sk-VALUE-must-not-echo")
    assert "sk-VALUE-must-not-echo" not in str(info.value)
    assert not store_path(home).exists()


def test_empty_value_is_refused(home):
    with memory_keyring(), pytest.raises(UsageError, match="empty"):
        CredentialStore.open().set("openai", "")


def test_get_optional_without_a_store_needs_no_key(home):
    with no_keyring():
        store = CredentialStore.open()
        assert store.get_optional("openai") is None
        assert store.credentials() == []
    assert not home.exists() or not store_path(home).exists()


def test_core_resolve_credential_hook_reads_the_store(home):
    from tau_core._plugin import tau_resolve_credential

    with memory_keyring():
        assert tau_resolve_credential("openai", Config()) is None  # no store yet
        CredentialStore.open().set("openai", "sk-from-hook")
        found = tau_resolve_credential("openai", Config())
        assert isinstance(found, Credential)
        assert found.value == "sk-from-hook"
        assert tau_resolve_credential("unknown", Config()) is None


# ------------------------------------------------------------------------------ never shown


def test_credential_never_shows_its_value():
    credential = Credential("openai", "sk-SHOWN-NOWHERE", description="d")
    for text in (repr(credential), str(credential), f"{credential}", format(credential)):
        assert "sk-SHOWN-NOWHERE" not in text
        assert "[REDACTED]" in text
    assert "sk-SHOWN-NOWHERE" not in repr([credential])
    assert "sk-SHOWN-NOWHERE" not in json.dumps(credential.metadata())
    assert set(credential.metadata()) == {"name", "description", "created_at", "updated_at"}


def test_plaintext_never_on_disk(mode, home):
    fill(CredentialStore.open())
    assert_no_plaintext(home)
    store = CredentialStore.open()
    store.remove("github")
    store.set("github", SECRETS["github"])
    assert_no_plaintext(home)
    if mode == "keyring":
        store.rotate()
    else:
        store.rotate(new_passphrase="another passphrase entirely")
    assert_no_plaintext(home)
    # Names and descriptions are inside the ciphertext too.
    data = store_path(home).read_bytes()
    assert b"openai" not in data
    assert b"the openai key" not in data


# ------------------------------------------------------------------------------ tampering


def _flip_everything(path: Path, store: CredentialStore, *, try_writes: bool) -> int:
    original = path.read_bytes()
    rejected = 0
    for bit in range(len(original) * 8):
        damaged = bytearray(original)
        damaged[bit // 8] ^= 1 << (bit % 8)
        path.write_bytes(bytes(damaged))
        with pytest.raises(CredentialError):
            store.credentials()
        if try_writes:
            with pytest.raises(CredentialError):
                store.set("new", "value-new")
        assert path.read_bytes() == bytes(damaged), f"bit {bit}: the damaged store was rewritten"
        rejected += 1
    path.write_bytes(original)
    return rejected


def test_every_bit_flip_is_rejected_keyring(home):
    with memory_keyring():
        store = CredentialStore.open()
        store.set("openai", "sk-small")
        path = store_path(home)
        assert _flip_everything(path, store, try_writes=True) == len(path.read_bytes()) * 8
        assert CredentialStore.open().get("openai").value == "sk-small"


def test_every_bit_flip_is_rejected_passphrase(home, monkeypatch, cheap_kdf):
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with no_keyring():
        store = CredentialStore.open()
        store.set("openai", "sk-small")
        path = store_path(home)
        assert _flip_everything(path, store, try_writes=False) == len(path.read_bytes()) * 8
        assert CredentialStore.open().get("openai").value == "sk-small"


def test_flips_in_the_body_fail_writes_too(home, monkeypatch):
    """Write attempts (not just reads) refuse a damaged passphrase store and leave it alone."""
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with no_keyring():
        store = CredentialStore.open()
        store.set("openai", "sk-small")
        path = store_path(home)
        original = path.read_bytes()
        for offset in (0, 9, 20, len(original) // 2, len(original) - 1):
            damaged = bytearray(original)
            damaged[offset] ^= 0x40
            path.write_bytes(bytes(damaged))
            for action in (lambda: store.set("x", "y-value"), store.rotate):
                with pytest.raises(CredentialError):
                    action()
                assert path.read_bytes() == bytes(damaged)


def test_every_truncation_and_extension_is_rejected(mode, home):
    store = CredentialStore.open()
    store.set("openai", "sk-small")
    path = store_path(home)
    original = path.read_bytes()
    for length in [*range(len(original)), -1]:
        damaged = original[:length] if length >= 0 else original + b"\0"
        path.write_bytes(damaged)
        with pytest.raises(CredentialError, match=r"corrupt|wrong passphrase"):
            store.credentials()
        with pytest.raises(CredentialError):
            store.set("other", "other-value")
        assert path.read_bytes() == damaged
    path.write_bytes(original)
    assert store.get("openai").value == "sk-small"


def test_corrupt_message_says_what_to_do(home):
    with memory_keyring():
        store = CredentialStore.open()
        store.set("openai", "sk-small")
        path = store_path(home)
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(CredentialError) as info:
            store.get("openai")
    message = str(info.value)
    assert str(path) in message
    assert "corrupt or was tampered with" in message
    assert "restore it from a backup" in message


def test_wrong_passphrase_is_a_clear_error(home, monkeypatch):
    with no_keyring():
        monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
        CredentialStore.open().set("openai", "sk-secret-wrong-pass")
        before = store_path(home).read_bytes()
        monkeypatch.setenv("TAU_PASSPHRASE", "not the passphrase")
        with pytest.raises(CredentialError) as info:
            CredentialStore.open().get("openai")
        with pytest.raises(CredentialError, match="wrong passphrase"):
            CredentialStore.open().set("other", "value")
    assert f"wrong passphrase for {store_path(home)} (or the file was altered)" in str(info.value)
    assert "TAU_PASSPHRASE" in str(info.value)
    assert "sk-secret-wrong-pass" not in str(info.value)
    assert store_path(home).read_bytes() == before


def test_newer_format_version_asks_for_an_upgrade(home):
    with memory_keyring():
        CredentialStore.open().set("openai", "sk-small")
        path = store_path(home)
        data = bytearray(path.read_bytes())
        struct.pack_into(">H", data, 8, 2)
        path.write_bytes(bytes(data))
        with pytest.raises(CredentialError, match=r"format version 2, newer.*upgrade tau-core"):
            CredentialStore.open().credentials()


def test_weakened_kdf_parameters_are_refused(home, monkeypatch):
    """A header asking for less than the OWASP floor is refused before any derivation."""
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    weak = credmod._Argon2Cost(memory_kib=1024, iterations=1, lanes=1)
    kdf = credmod._Argon2Kdf(weak, os.urandom(16))
    entry = {"value": "v", "description": "", "created_at": "2025-01-01T00:00:00+00:00"}
    entry["updated_at"] = entry["created_at"]
    blob = credmod._seal(kdf, "0123456789abcdef", kdf.derive(PASSPHRASE), {"x": entry})
    home.mkdir(parents=True)
    store_path(home).write_bytes(blob)
    with no_keyring(), pytest.raises(CredentialError, match=r"memory_kib.*outside 19456"):
        CredentialStore.open().get("x")


# ------------------------------------------------------------------------------ key sources


def test_new_passphrase_store_records_owasp_level_argon2id(home, monkeypatch):
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with no_keyring():
        CredentialStore.open().set("openai", "sk-1")
    data = store_path(home).read_bytes()
    assert data[:8] == b"TAUCRED\0"
    (version, length) = struct.unpack_from(">HI", data, 8)
    header = json.loads(data[14 : 14 + length])
    assert version == 1
    assert header["aead"] == "aes-256-gcm"
    kdf = header["kdf"]
    assert kdf["id"] == "argon2id"
    assert kdf["version"] == 0x13
    # The defaults, and at or above OWASP's minimum (19 MiB, 2 iterations, 1 lane).
    assert (kdf["memory_kib"], kdf["iterations"], kdf["lanes"]) == (65536, 3, 4)
    assert kdf["memory_kib"] >= 19456
    assert kdf["iterations"] >= 2
    assert kdf["lanes"] >= 1
    assert len(base64.b64decode(kdf["salt"])) == 16
    assert len(base64.b64decode(header["nonce"])) == 12
    assert len(header["key_id"]) == 16


def test_keyring_store_keeps_a_random_key_in_the_keyring(home):
    with memory_keyring() as keyring:
        CredentialStore.open().set("openai", "sk-1")
        info = CredentialStore.open().info()
        assert info is not None
        assert info.kdf == {"id": "keyring", "service": "tau-credentials"}
        stored = keyring.passwords[("tau-credentials", info.key_id)]
        assert len(base64.b64decode(stored)) == 32


def test_refuses_without_keyring_passphrase_or_terminal(home):
    with no_keyring(), pytest.raises(CredentialError) as info:
        CredentialStore.open().set("openai", "sk-never-stored")
    message = str(info.value)
    assert "TAU_PASSPHRASE" in message
    assert "keyring" in message
    assert "never stores secrets in plaintext" in message
    assert not store_path(home).exists()


def test_passphrase_store_refuses_without_a_passphrase(home, monkeypatch):
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with no_keyring():
        CredentialStore.open().set("openai", "sk-1")
    monkeypatch.delenv("TAU_PASSPHRASE")
    with (
        memory_keyring(),
        pytest.raises(CredentialError, match=r"needs a passphrase.*TAU_PASSPHRASE"),
    ):
        CredentialStore.open().get("openai")


def test_keyring_store_without_keyring_or_key_is_a_clear_error(home):
    with memory_keyring() as keyring:
        CredentialStore.open().set("openai", "sk-1")
        before = store_path(home).read_bytes()
        with no_keyring(), pytest.raises(CredentialError, match="master key in the OS keyring"):
            CredentialStore.open().get("openai")
        keyring.passwords.clear()
        with pytest.raises(CredentialError, match=r"master key [0-9a-f]{16} .* is not in the OS"):
            CredentialStore.open().set("other", "value")
    assert store_path(home).read_bytes() == before


def test_backend_setting_picks_the_key_source(home, monkeypatch):
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with memory_keyring() as keyring:
        config = Config(values={"credentials.backend": "passphrase"})
        CredentialStore.open(config).set("openai", "sk-1")
        info = CredentialStore.open(config).info()
        assert info is not None
        assert info.backend == "passphrase"
        assert keyring.passwords == {}
    forced = CredentialStore.open(
        Config(values={"credentials.backend": "keyring"}), path=home / "other.tau"
    )
    with no_keyring(), pytest.raises(CredentialError, match="cannot create credential store"):
        forced.set("openai", "sk-1")
    with pytest.raises(ConfigError, match=r"credentials\.backend.*'plaintext' is not one of"):
        CredentialStore.open(Config(values={"credentials.backend": "plaintext"}))


def test_prompts_twice_for_a_new_passphrase_and_once_after(home, monkeypatch):
    answers = iter([PASSPHRASE, PASSPHRASE, PASSPHRASE, "typo typo typo", PASSPHRASE])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(credmod.getpass, "getpass", fake_getpass)
    with no_keyring():
        CredentialStore.open(interactive=True).set("openai", "sk-1")
        assert [p.split(" for")[0] for p in prompts] == [
            "New passphrase",
            "Repeat the new passphrase: ",
        ]
        store = CredentialStore.open(interactive=True)
        assert store.get("openai").value == "sk-1"
        assert store.get("openai").value == "sk-1"  # the typed passphrase is remembered
        assert len(prompts) == 3
        with pytest.raises(CredentialError, match="wrong passphrase"):
            CredentialStore.open(interactive=True).get("openai")
        retry = CredentialStore.open(interactive=True)
        assert retry.get("openai").value == "sk-1"


def test_mismatched_or_short_new_passphrases_are_refused(home, monkeypatch):
    answers = iter(["first passphrase", "second passphrase"])
    monkeypatch.setattr(credmod.getpass, "getpass", lambda prompt="": next(answers))
    with no_keyring():
        with pytest.raises(UsageError, match="differ"):
            CredentialStore.open(interactive=True).set("openai", "sk-1")
        with pytest.raises(UsageError, match="at least 8"):
            CredentialStore.open(passphrase="short").set("openai", "sk-1")
    assert not store_path(home).exists()


def test_passphrases_are_unicode_normalised(home, cheap_kdf):
    composed, decomposed = "caf\u00e9 passphrase", "cafe\u0301 passphrase"
    with no_keyring():
        CredentialStore.open(passphrase=composed).set("openai", "sk-1")
        assert CredentialStore.open(passphrase=decomposed).get("openai").value == "sk-1"


# ------------------------------------------------------------------------------ files


def test_files_are_0600_whatever_the_umask(mode, home):
    old_umask = os.umask(0)
    try:
        store = CredentialStore.open()
        store.set("openai", "sk-1")
        modes = {}
        for action in ("set", "rm", "rotate"):
            if action == "set":
                store.set("github", "ghp-1")
            elif action == "rm":
                store.remove("github")
            else:
                store.rotate()
            for path in home.iterdir():
                modes[(action, path.name)] = path.stat().st_mode & 0o777
    finally:
        os.umask(old_umask)
    assert modes
    assert all(m == 0o600 for m in modes.values()), modes
    assert home.stat().st_mode & 0o777 == 0o700


def test_stale_temporary_files_are_cleaned_up(home):
    with memory_keyring():
        store = CredentialStore.open()
        store.set("openai", "sk-1")
        stale = home / ".credentials.tau.abc123.tmp"
        stale.write_bytes(b"left by a killed writer")
        store.set("github", "ghp-1")
    assert not stale.exists()


def test_concurrent_writers_lose_no_update(home):
    with memory_keyring():
        CredentialStore.open().set("seed", "seed-value")
        errors: list[BaseException] = []

        def writer(i: int) -> None:
            try:
                for j in range(5):
                    CredentialStore.open().set(f"k{i}-{j}", f"value-{i}-{j}")
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        names = {c.name for c in CredentialStore.open().credentials()}
    assert names == {"seed"} | {f"k{i}-{j}" for i in range(6) for j in range(5)}


# ------------------------------------------------------------------------------ rotation


def test_rotate_keyring_replaces_the_key_and_deletes_the_old_one(home):
    with memory_keyring() as keyring:
        fill(CredentialStore.open())
        before = {c.name: c for c in CredentialStore.open().credentials()}
        old = CredentialStore.open().info()
        assert old is not None
        info = CredentialStore.open().rotate()
        assert info.key_id != old.key_id
        assert info.count == len(SECRETS)
        assert list(keyring.passwords) == [("tau-credentials", info.key_id)]
        after = {c.name: c for c in CredentialStore.open().credentials()}
    assert after == before  # values and timestamps survive


def test_rotate_passphrase_changes_salt_and_passphrase(home, monkeypatch):
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with no_keyring():
        fill(CredentialStore.open())
        old = CredentialStore.open().info()
        info = CredentialStore.open().rotate(new_passphrase="the new passphrase")
        assert old is not None
        assert info.key_id != old.key_id
        assert info.kdf["salt"] != old.kdf["salt"]
        with pytest.raises(CredentialError, match="wrong passphrase"):
            CredentialStore.open().get("openai")
        monkeypatch.setenv("TAU_PASSPHRASE", "the new passphrase")
        assert CredentialStore.open().get("openai").value == SECRETS["openai"]
        # Without a new passphrase the salt and key still change.
        again = CredentialStore.open().rotate()
        assert again.kdf["salt"] != info.kdf["salt"]
        assert CredentialStore.open().get("unicode").value == SECRETS["unicode"]


def test_rotate_moves_between_keyring_and_passphrase(home, monkeypatch):
    monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
    with memory_keyring() as keyring:
        fill(CredentialStore.open())
        assert CredentialStore.open().info().backend == "keyring"
        info = CredentialStore.open().rotate(backend="passphrase")
        assert info.backend == "passphrase"
        assert keyring.passwords == {}
        with no_keyring():
            assert CredentialStore.open().get("openai").value == SECRETS["openai"]
        info = CredentialStore.open().rotate(backend="keyring")
        assert list(keyring.passwords) == [("tau-credentials", info.key_id)]
        monkeypatch.delenv("TAU_PASSPHRASE")
        assert CredentialStore.open().get("github").value == SECRETS["github"]
        with pytest.raises(UsageError, match="only applies to passphrase stores"):
            CredentialStore.open().rotate(new_passphrase="a new passphrase")


def test_rotate_without_a_store_is_a_clear_error(home):
    with memory_keyring(), pytest.raises(CredentialError, match="nothing to rotate"):
        CredentialStore.open().rotate()


class _Crash(BaseException):
    """Stands for the process dying: nothing after it runs, and no handler swallows it."""


class _Faults:
    """Counts every durable step (keyring writes, fchmod, fsync, rename) and dies at step N.

    Once dead, every later instrumented call dies too, as it would in a killed process.
    """

    def __init__(self, crash_at: int | None) -> None:
        self.crash_at = crash_at
        self.steps: list[str] = []

    def wrap(self, name, func):
        def step(*args, **kwargs):
            self.steps.append(name)
            if self.crash_at is not None and len(self.steps) >= self.crash_at:
                raise _Crash(f"crash at step {len(self.steps)} ({name})")
            return func(*args, **kwargs)

        return step

    def install(self, monkeypatch, keyring: MemoryKeyring | None) -> None:
        for name in ("replace", "fsync", "fchmod"):
            monkeypatch.setattr(os, name, self.wrap(f"os.{name}", getattr(os, name)))
        if keyring is not None:
            for name in ("set_password", "delete_password"):
                monkeypatch.setattr(keyring, name, self.wrap(name, getattr(keyring, name)))


OPERATIONS = {
    "rotate": lambda store: store.rotate(),
    "rotate-new-passphrase": lambda store: store.rotate(new_passphrase="the next passphrase"),
    "rotate-to-passphrase": lambda store: store.rotate(backend="passphrase"),
    "rotate-to-keyring": lambda store: store.rotate(backend="keyring"),
    "set": lambda store: store.set("openai", "sk-UPDATED-value"),
    "rm": lambda store: store.remove("github"),
}


@pytest.mark.parametrize(
    ("start", "operation"),
    [
        ("keyring", "rotate"),
        ("keyring", "rotate-to-passphrase"),
        ("keyring", "set"),
        ("keyring", "rm"),
        ("passphrase", "rotate"),
        ("passphrase", "rotate-new-passphrase"),
        ("passphrase", "rotate-to-keyring"),
        ("passphrase", "set"),
    ],
)
def test_a_crash_at_any_step_leaves_every_secret_readable(
    home, monkeypatch, cheap_kdf, start, operation
):
    crash_points = 0
    for crash_at in range(1, 50):
        case_home = home / f"crash-{crash_at}"
        monkeypatch.setenv("TAU_HOME", str(case_home))
        monkeypatch.setenv("TAU_PASSPHRASE", PASSPHRASE)
        config = Config(values={"credentials.backend": start})
        with memory_keyring() as keyring:
            fill(CredentialStore.open(config))
            faults = _Faults(crash_at)
            with monkeypatch.context() as patch:
                faults.install(patch, keyring)
                try:
                    OPERATIONS[operation](CredentialStore.open(config))
                except _Crash:
                    crashed = True
                else:
                    crashed = False
            # "Reboot": a new store object, whatever the keyring and the disk now hold.
            table = _read_with_old_or_new_passphrase(["the next passphrase"])
            if operation == "set":
                assert table["openai"] in (SECRETS["openai"], "sk-UPDATED-value")
                table["openai"] = SECRETS["openai"]
            if operation == "rm":
                assert table.pop("github", SECRETS["github"]) == SECRETS["github"]
                table["github"] = SECRETS["github"]
            assert table == SECRETS, f"crash at step {crash_at} ({faults.steps[-1:]}) lost data"
            assert store_path(case_home).stat().st_mode & 0o777 == 0o600
            # The store stays fully usable after the crash.
            CredentialStore.open(config).set("after", "after-crash")
            assert CredentialStore.open(config).get("after").value == "after-crash"
        if not crashed:
            break
        crash_points += 1
    else:
        pytest.fail(f"{operation} never completed")
    assert crash_points >= 4, f"only {crash_points} durable steps in {operation}: {faults.steps}"


def _read_with_old_or_new_passphrase(new: list[str]) -> dict[str, str]:
    for passphrase in [PASSPHRASE, *new]:
        os.environ["TAU_PASSPHRASE"] = passphrase
        try:
            store = CredentialStore.open()
            table = {c.name: c.value for c in store.credentials()}
        except CredentialError as exc:
            if "wrong passphrase" not in str(exc):
                raise
            continue
        table.pop("after", None)
        return table
    raise AssertionError("no passphrase opens the store after the crash")


_ROTATE_SCRIPT = """
import os, sys, time
from pathlib import Path
from tau_core import _credentials
from tau_core._credentials import CredentialStore

_credentials._DEFAULT_COST = _credentials._MIN_COST
# Stretch the durable steps a little so random kill points land inside the write too, not
# only inside the key derivation.
for name in ("fsync", "replace"):
    real = getattr(os, name)
    def slow(*args, _real=real):
        time.sleep(0.01)
        result = _real(*args)
        time.sleep(0.01)
        return result
    setattr(os, name, slow)

store = CredentialStore.open(path=Path(sys.argv[1]), passphrase=sys.argv[2], interactive=False)
store.credentials()
print("ready", flush=True)
store.rotate(new_passphrase=sys.argv[3])
print("done", flush=True)
"""


def test_rotation_survives_sigkill_at_random_points(home, cheap_kdf):
    """A real process rotating a real store is killed with SIGKILL at random moments.

    ``TAU_KILL_ITERATIONS`` raises the count (the default keeps the suite fast).
    """
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("SIGKILL is POSIX-only")
    iterations = int(os.environ.get("TAU_KILL_ITERATIONS", "12"))
    path = store_path(home)
    passphrases = [f"kill-loop passphrase {i}" for i in range(iterations + 1)]
    with no_keyring():
        fill(CredentialStore.open(passphrase=passphrases[0]))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("TAU_PASSPHRASE", None)

    def start(current: str, new: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", _ROTATE_SCRIPT, str(path), current, new],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line != "ready\n":
            _, err = proc.communicate(timeout=60)
            pytest.fail(f"the rotating process did not start: {line!r} {err}")
        return proc

    # Calibrate: how long does the rotation itself (after "ready") take here? Median of 3.
    spans = []
    for _ in range(3):
        proc = start(passphrases[0], passphrases[0])
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=60)
        spans.append(time.monotonic() - t0)
        assert proc.returncode == 0, err
    span = sorted(spans)[1]
    current, outcomes, keys_seen = passphrases[0], [], set()
    rng = random.Random(os.environ.get("TAU_KILL_SEED", "tau"))
    for i in range(1, iterations + 1):
        new = passphrases[i]
        proc = start(current, new)
        time.sleep((i - 1 + rng.random()) / iterations * span)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        outcomes.append("killed" if proc.returncode == -signal.SIGKILL else "finished")
        readable = []
        for candidate in (current, new):
            try:
                with no_keyring():
                    table = {
                        c.name: c.value
                        for c in CredentialStore.open(passphrase=candidate).credentials()
                    }
            except CredentialError as exc:
                if "wrong passphrase" not in str(exc):
                    raise
                continue
            assert table == SECRETS
            readable.append(candidate)
        assert len(readable) == 1, f"iteration {i}: readable with {readable}"
        current = readable[0]
        keys_seen.add("new" if current == new else "old")
        assert path.stat().st_mode & 0o777 == 0o600
    assert "killed" in outcomes, outcomes
    # Kills landed both before the rename (old key still in use) and after it (new key).
    assert keys_seen == {"old", "new"}, (keys_seen, outcomes, span)
    with no_keyring():
        CredentialStore.open(passphrase=current).set("final", "final-value")
    assert_no_plaintext(home)


# ------------------------------------------------------------------------------ golden files

# These files were written once by tau-core 0.1.0 and must NEVER be regenerated or edited:
# every future release must decrypt them unchanged. A format change gets a new version and
# new golden files next to these ones.
GOLDEN_PASSPHRASE = "golden-passphrase-do-not-use"
GOLDEN_KEYRING_KEY_ID = "eacb80290bdfbd26"
GOLDEN_KEYRING_MASTER_KEY = "qnltzButCCzCdMK0lHgyIoM90VucVxP+NhOdLKmwrqg="
GOLDEN_SECRETS = {
    "GITHUB_TOKEN": (
        "ghp_goldenGitHubToken9876543210",
        "",
        "2025-01-02T03:04:05+00:00",
        "2025-06-07T08:09:10+00:00",
    ),
    "openai": (
        "sk-golden-openai-0123456789abcdef",
        "OpenAI API key",
        "2025-01-02T03:04:05+00:00",
        "2025-01-02T03:04:05+00:00",
    ),
    "unicode.name-1": (
        "pässwörd-🔑-ünïcode\nsecond line",
        "Ünïcode — and a newline",
        "2025-03-04T05:06:07+00:00",
        "2025-03-04T05:06:07+00:00",
    ),
}


def _check_golden(store: CredentialStore) -> None:
    found = {
        c.name: (c.value, c.description, c.created_at.isoformat(), c.updated_at.isoformat())
        for c in store.credentials()
    }
    assert found == GOLDEN_SECRETS


def test_golden_passphrase_store_still_decrypts(home):
    home.mkdir()
    shutil.copyfile(DATA / "credentials-v1-passphrase.tau", store_path(home))
    with no_keyring():
        _check_golden(CredentialStore.open(passphrase=GOLDEN_PASSPHRASE))
        with pytest.raises(CredentialError, match="wrong passphrase"):
            CredentialStore.open(passphrase="not-the-golden-passphrase").credentials()
    assert store_path(home).read_bytes() == (DATA / "credentials-v1-passphrase.tau").read_bytes()


def test_golden_keyring_store_still_decrypts(home):
    home.mkdir()
    shutil.copyfile(DATA / "credentials-v1-keyring.tau", store_path(home))
    entry = {("tau-credentials", GOLDEN_KEYRING_KEY_ID): GOLDEN_KEYRING_MASTER_KEY}
    with memory_keyring(entry):
        _check_golden(CredentialStore.open())
        # And it stays a working store: a write keeps the old secrets.
        CredentialStore.open().set("added", "added-value")
        assert CredentialStore.open().get("openai").value == GOLDEN_SECRETS["openai"][0]


# ------------------------------------------------------------------------------ import cost


def test_importing_the_store_loads_neither_keyring_nor_cryptography():
    code = (
        "import sys, tau_core._credentials, tau_core._cli_keys\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('keyring', 'cryptography'))\n"
        "print(heavy)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
