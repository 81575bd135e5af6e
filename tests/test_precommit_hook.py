"""The pre-commit hook definition shipped in .pre-commit-hooks.yaml runs and fails on a secret."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dcQz"  # synthetic, right shape


def _hook_entry() -> list[str]:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert re.search(r"^- id: tau-safety-scan$", text, re.M)
    match = re.search(r"^  entry: (.+)$", text, re.M)
    assert match is not None, "the hook has no entry"
    argv = shlex.split(match.group(1))
    assert argv[0] == "tau"
    # pre-commit runs the entry from the environment's scripts directory.
    return [str(Path(sys.executable).parent / "tau"), *argv[1:]]


def test_the_hook_entry_fails_a_staged_file_with_a_secret_and_passes_a_clean_one(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "settings.py"
    bad.write_text(f'STRIPE_KEY = "{STRIPE}"\n')
    clean = tmp_path / "README.md"
    clean.write_text("Nothing secret here.\n")
    entry = _hook_entry()

    failed = subprocess.run([*entry, str(clean), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1, failed.stderr
    assert "settings.py:1:" in failed.stdout and STRIPE not in failed.stdout

    passed = subprocess.run([*entry, str(clean)], capture_output=True, text=True)
    assert passed.returncode == 0, passed.stdout + passed.stderr
