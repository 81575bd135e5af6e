"""``tau keys``: values come from stdin or a prompt, never from argv, and are never printed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tau_core
from tau_core import _credentials as credmod
from tau_core._cli import main
from tau_core._credentials import CredentialStore
from tau_core.testing._keyring import memory_keyring

SECRET = "sk-CLI-must-never-be-printed-4242"
PASSPHRASE = "cli passphrase for tests"
SRC = Path(tau_core.__file__).resolve().parents[1]


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "tau-home"
    monkeypatch.setenv("TAU_HOME", str(path))
    monkeypatch.setenv("TAU_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.delenv("TAU_PASSPHRASE", raising=False)
    monkeypatch.delenv("TAU_PLUGINS", raising=False)
    monkeypatch.delenv("TAU_PLUGIN_MODULES", raising=False)
    monkeypatch.chdir(tmp_path)  # no project tau.toml from the source tree
    monkeypatch.setattr(credmod, "can_prompt", lambda: False)
    return path


@pytest.fixture
def keyring(home):
    with memory_keyring() as backend:
        yield backend


def tau(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    """Run ``tau ARGV`` in-process with *stdin* piped in; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tau_process(home: Path, *argv: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    """Run ``tau ARGV`` as a real process with no controlling terminal."""
    environ = {
        **os.environ,
        "TAU_HOME": str(home),
        "TAU_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        **env,
    }
    if "TAU_PASSPHRASE" not in env:
        environ.pop("TAU_PASSPHRASE", None)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tau_core._cli import main; sys.exit(main())",
            *argv,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        start_new_session=True,  # no /dev/tty: nothing can prompt
        cwd=home.parent,
    )


def test_set_reads_the_value_from_stdin(keyring, home, monkeypatch, capsys):
    code, out, err = tau(
        monkeypatch, capsys, "keys", "set", "openai", "-d", "main key", stdin=SECRET + "\n"
    )
    assert code == 0, err
    assert SECRET not in out + err
    assert "set openai" in out
    credential = CredentialStore.open().get("openai")
    assert credential.value == SECRET  # exactly one trailing newline dropped
    assert credential.description == "main key"


def test_set_keeps_inner_newlines_and_drops_only_one(keyring, home, monkeypatch, capsys):
    assert tau(monkeypatch, capsys, "keys", "set", "pem", stdin="line1\nline2\n\n")[0] == 0
    assert CredentialStore.open().get("pem").value == "line1\nline2\n"


@pytest.mark.parametrize(
    "argv",
    [
        ("keys", "set", "openai", SECRET),
        ("keys", "set", "openai", f"--value={SECRET}"),
        ("keys", "set", "openai", "--value", SECRET),
        ("keys", "set", f"--token={SECRET}", "openai"),
    ],
)
def test_set_refuses_a_value_on_the_command_line(keyring, home, monkeypatch, capsys, argv):
    code, out, err = tau(monkeypatch, capsys, *argv, stdin="from-stdin-value")
    assert code == 2
    assert "refusing to take a secret from the command line" in err
    assert SECRET not in out + err
    assert not (home / "credentials.tau").exists()


def test_empty_stdin_is_refused(keyring, home, monkeypatch, capsys):
    code, _, err = tau(monkeypatch, capsys, "keys", "set", "openai", stdin="")
    assert code == 2
    assert "standard input was empty" in err


def test_bad_name_is_a_usage_error(keyring, home, monkeypatch, capsys):
    code, out, err = tau(monkeypatch, capsys, "keys", "set", "bad name", stdin=SECRET)
    assert code == 2
    assert "not a valid credential name" in err
    assert SECRET not in out + err


def test_list_json_shows_metadata_and_never_values(keyring, home, monkeypatch, capsys):
    tau(monkeypatch, capsys, "keys", "set", "openai", "-d", "main key", stdin=SECRET)
    tau(monkeypatch, capsys, "keys", "set", "github", stdin="ghp-" + SECRET)
    code, out, err = tau(monkeypatch, capsys, "keys", "list", "--json")
    assert code == 0, err
    assert SECRET not in out + err
    listing = json.loads(out)
    assert [entry["name"] for entry in listing] == ["github", "openai"]
    assert all(set(e) == {"name", "description", "created_at", "updated_at"} for e in listing)
    assert listing[1]["description"] == "main key"

    code, out, err = tau(monkeypatch, capsys, "keys", "list")
    assert code == 0
    assert SECRET not in out + err
    assert "openai" in out
    assert "main key" in out


def test_list_of_an_empty_store(keyring, home, monkeypatch, capsys):
    code, out, _ = tau(monkeypatch, capsys, "keys", "list", "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = tau(monkeypatch, capsys, "keys", "list")
    assert code == 0
    assert "no secrets" in out


def test_rm_removes_and_unknown_names_are_clear_errors(keyring, home, monkeypatch, capsys):
    tau(monkeypatch, capsys, "keys", "set", "openai", stdin=SECRET)
    code, out, err = tau(monkeypatch, capsys, "keys", "rm", "openai", "--json")
    assert code == 0, err
    assert json.loads(out) == {"removed": "openai"}
    assert CredentialStore.open().get_optional("openai") is None

    code, out, err = tau(monkeypatch, capsys, "keys", "rm", "openai")
    assert code == 5
    assert "no credential named 'openai'" in err
    assert "tau keys list" in err


def test_rotate_keyring_store(keyring, home, monkeypatch, capsys):
    tau(monkeypatch, capsys, "keys", "set", "openai", stdin=SECRET)
    old_key_id = CredentialStore.open().info().key_id
    code, out, err = tau(monkeypatch, capsys, "keys", "rotate", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["backend"] == "keyring"
    assert info["key_id"] != old_key_id
    assert info["count"] == 1
    assert list(keyring.passwords) == [("tau-credentials", info["key_id"])]
    assert SECRET not in out + err
    assert CredentialStore.open().get("openai").value == SECRET


def test_rotate_refuses_a_passphrase_on_the_command_line(keyring, home, monkeypatch, capsys):
    tau(monkeypatch, capsys, "keys", "set", "openai", stdin=SECRET)
    before = (home / "credentials.tau").read_bytes()
    code, out, err = tau(
        monkeypatch, capsys, "keys", "rotate", "--new-passphrase", "hunter2-on-argv"
    )
    assert code == 2
    assert "hunter2-on-argv" not in out + err
    assert (home / "credentials.tau").read_bytes() == before


def test_stray_arguments_are_refused_and_not_echoed(keyring, home, monkeypatch, capsys):
    tau(monkeypatch, capsys, "keys", "set", "openai", stdin=SECRET)
    for argv in (("keys", "rm", "openai", SECRET), ("keys", "list", SECRET)):
        code, out, err = tau(monkeypatch, capsys, *argv)
        assert code == 2
        assert "unexpected extra argument" in err
        assert SECRET not in out + err
    assert CredentialStore.open().get("openai").value == SECRET


def test_rotate_without_a_store(keyring, home, monkeypatch, capsys):
    code, _, err = tau(monkeypatch, capsys, "keys", "rotate")
    assert code == 5
    assert "nothing to rotate" in err


def test_keys_without_a_subcommand_is_a_usage_error(keyring, home, monkeypatch, capsys):
    with pytest.raises(SystemExit) as info:
        main(["keys"])
    assert info.value.code == 2


# ------------------------------------------------------------------------------ real processes


def test_process_without_keyring_passphrase_or_terminal_refuses(home):
    # keyring's own "no backend" stand-in, as on a headless server without a keyring daemon.
    no_backend = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = tau_process(home, "keys", "set", "openai", stdin=SECRET, **no_backend)
    assert result.returncode == 5, result.stderr
    assert "TAU_PASSPHRASE" in result.stderr
    assert "keyring" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not (home / "credentials.tau").exists()


def test_process_passphrase_store_set_list_rotate_rm(home):
    fail_keyring = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = tau_process(
        home,
        "keys",
        "set",
        "openai",
        stdin=SECRET + "\n",
        TAU_PASSPHRASE=PASSPHRASE,
        **fail_keyring,
    )
    assert result.returncode == 0, result.stderr

    result = tau_process(home, "keys", "list", "--json", TAU_PASSPHRASE=PASSPHRASE, **fail_keyring)
    assert result.returncode == 0, result.stderr
    assert [e["name"] for e in json.loads(result.stdout)] == ["openai"]
    assert SECRET not in result.stdout + result.stderr

    result = tau_process(home, "keys", "list", TAU_PASSPHRASE="wrong passphrase!", **fail_keyring)
    assert result.returncode == 5
    assert "wrong passphrase" in result.stderr

    result = tau_process(
        home,
        "keys",
        "rotate",
        "--new-passphrase",
        "--json",
        stdin="the rotated passphrase\n",
        TAU_PASSPHRASE=PASSPHRASE,
        **fail_keyring,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kdf"]["id"] == "argon2id"
    assert "the rotated passphrase" not in result.stdout + result.stderr

    result = tau_process(home, "keys", "list", TAU_PASSPHRASE=PASSPHRASE, **fail_keyring)
    assert result.returncode == 5
    result = tau_process(
        home, "keys", "rm", "openai", TAU_PASSPHRASE="the rotated passphrase", **fail_keyring
    )
    assert result.returncode == 0, result.stderr
    result = tau_process(
        home, "keys", "list", "--json", TAU_PASSPHRASE="the rotated passphrase", **fail_keyring
    )
    assert json.loads(result.stdout) == []
    assert (home / "credentials.tau").stat().st_mode & 0o777 == 0o600
