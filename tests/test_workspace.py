"""Cross-package checks with every distribution installed: entry points and a full run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import tau_core

TAU = Path(sys.executable).with_name("tau")
FIRST_PARTY = {
    "core": "tau-core",
    "provider": "tau-provider",
    "tools": "tau-tools",
    "safety": "tau-safety",
    "memory": "tau-memory",
}


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAU_")}
    env["TAU_HOME"] = str(tmp_path / "home")
    return env


def test_every_first_party_entry_point_resolves():
    eps = {ep.name: ep for ep in entry_points(group="tau.plugins")}
    assert set(FIRST_PARTY) <= set(eps)
    for name, dist in FIRST_PARTY.items():
        module = eps[name].load()
        assert module.TAU_PLUGIN_API == tau_core.PLUGIN_API
        assert eps[name].dist.metadata["Name"] == dist
        assert eps[name].dist.version == tau_core.__version__  # one version for all


def test_plugins_list_reports_all_loaded(tmp_path):
    proc = subprocess.run(
        [str(TAU), "plugins", "list", "--json"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    reports = {p["name"]: p for p in json.loads(proc.stdout)}
    for name, dist in FIRST_PARTY.items():
        assert reports[name]["status"] == "loaded", reports[name]
        assert reports[name]["dist"] == dist
    doctor = subprocess.run(
        [str(TAU), "plugins", "doctor"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.returncode == 0 and "all good" in doctor.stdout


def test_end_to_end_run_with_everything_installed(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "README").write_text("project\n")
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "turns": [
                    {
                        "tool_calls": [
                            {
                                "name": "write_file",
                                "arguments": {"path": "greeting.txt", "content": "Hello, Tau\n"},
                            }
                        ]
                    },
                    {"text": "done"},
                ]
            }
        )
    )
    env = _env(tmp_path)
    Path(env["TAU_HOME"]).mkdir()
    Path(env["TAU_HOME"], "config.toml").write_text(
        '[verifiers.file_equals]\npath = "greeting.txt"\ncontent = "Hello, Tau\\n"\n'
    )
    proc = subprocess.run(
        [
            str(TAU),
            "-p",
            "tau_core.testing.plugin",
            "run",
            "greet",
            "--model",
            f"scripted:{script}",
            "--preset",
            "workspace-write",
            "--verifier",
            "file_equals",
            "--workdir",
            str(work),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["status"] == "verified"
    # In a git work tree the evidence diff comes from git, untracked files included, and the
    # user's index is untouched.
    assert outcome["evidence"]["changed_files"] == ["greeting.txt"]
    assert "+Hello, Tau" in outcome["evidence"]["diff"]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=work, capture_output=True, text=True, check=True
    ).stdout
    assert status.splitlines() == ["?? README", "?? greeting.txt"]
