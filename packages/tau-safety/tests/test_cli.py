"""``tau safety scan`` and ``tau audit`` through the real ``tau`` entry point."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tau_core import Agent, Authority, Journal
from tau_core._cli import main
from tau_core._plugins import reset_plugin_manager
from tau_core.testing import (
    FakeTool,
    ScriptedModel,
    ScriptedVerifier,
    fresh_plugin_manager,
    make_plugin,
)
from tau_safety import _plugin

STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dcQz"  # synthetic, right shape
PLUGIN = ["-p", "tau_safety._plugin"]


@pytest.fixture(autouse=True)
def _fresh_manager(tau_home: Path) -> Iterator[None]:
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def _tau(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*PLUGIN, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_finds_a_secret_in_a_file_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "settings.py").write_text(f'DEBUG = True\nSTRIPE_KEY = "{STRIPE}"\n')
    code, out, err = _tau(capsys, "safety", "scan", str(tmp_path / "settings.py"))
    assert code == 1
    assert f"{tmp_path / 'settings.py'}:2:" in out and "stripe" in out
    assert STRIPE not in out + err
    assert "1 secret(s) found in 1 file(s)" in err


def test_scan_json_walks_directories_skips_git_and_binaries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(STRIPE)
    (tmp_path / "src" / "blob.bin").write_bytes(b"\0\1" + STRIPE.encode())
    encoded = base64.b64encode(f"key={STRIPE}".encode()).decode()
    (tmp_path / "src" / "deploy.yaml").write_text(f"payload: {encoded}\n")
    code, out, _ = _tau(capsys, "safety", "scan", "--json", str(tmp_path))
    report = json.loads(out)
    assert code == 1
    assert report["files_scanned"] == 1
    [finding] = report["findings"]
    assert finding["path"].endswith("deploy.yaml")
    assert finding["encoding"] == "base64"
    assert finding["line"] == 1
    assert STRIPE not in out


def test_scan_of_clean_input_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO("nothing to see here\nuuid = 123e4567-e89b-12d3-a456-426614174000\n"),
    )
    code, out, err = _tau(capsys, "safety", "scan", "-")
    assert (code, out) == (0, "")
    assert "0 secret(s) found in 1 file(s)" in err


def test_scan_of_a_missing_path_exits_2_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _tau(capsys, "safety", "scan", str(tmp_path / "nope.txt"))
    assert code == 2
    assert "nope.txt" in err and "does not exist" in err


def _recorded_run(tau_home: Path, tmp_path: Path) -> str:
    work = tmp_path / "work"
    work.mkdir()
    journal = Journal(tau_home / "journal.sqlite3")
    try:
        tool = FakeTool("cat", f"key {STRIPE}")
        model = ScriptedModel([{"tool_calls": [{"name": "cat", "arguments": {}}]}, {"text": "ok"}])
        outcome = Agent(
            model,
            plugins=fresh_plugin_manager(make_plugin(tools=[tool]), _plugin),
            journal=journal,
            authority=Authority.from_preset("read-only"),
            verifier=ScriptedVerifier("green"),
        ).run("read it", workdir=work)
        assert outcome.status == "verified", outcome
        return outcome.run_id
    finally:
        journal.close()


def test_audit_show_lists_decisions_and_redactions_with_their_hashes(
    tau_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _recorded_run(tau_home, tmp_path)
    code, out, _ = _tau(capsys, "audit", "show", run_id, "--json")
    entries: list[dict[str, Any]] = json.loads(out)
    assert code == 0
    kinds = [e["kind"] for e in entries]
    assert "decision" in kinds and "redaction" in kinds
    assert all(len(e["hash"]) == 64 for e in entries)
    assert STRIPE not in out
    code, out, _ = _tau(capsys, "audit", "show", run_id)
    assert code == 0 and "redaction" in out


def test_audit_verify_passes_then_names_the_first_broken_link(
    tau_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = _recorded_run(tau_home, tmp_path)
    code, out, _ = _tau(capsys, "audit", "verify", run_id)
    assert code == 0 and "chain intact" in out

    conn = sqlite3.connect(tau_home / "journal.sqlite3")
    conn.execute("DROP TRIGGER events_append_only_update")
    seq = conn.execute(
        "SELECT seq FROM events WHERE run_id = ? AND kind = 'redaction'", (run_id,)
    ).fetchone()[0]
    conn.execute("UPDATE events SET data = '{}' WHERE run_id = ? AND seq = ?", (run_id, seq))
    conn.commit()
    conn.close()

    code, out, _ = _tau(capsys, "audit", "verify", run_id, "--json")
    report = json.loads(out)
    assert code == 1
    assert (report["ok"], report["broken_at"]) == (False, seq)
    assert "changed after it was written" in report["reason"]


def test_audit_of_an_unknown_run_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _tau(capsys, "audit", "verify", "nope")
    assert code == 2 and "no run 'nope'" in err
