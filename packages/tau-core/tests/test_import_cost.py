"""``import tau_core`` stays cheap: checked in a fresh interpreter, not this test process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tau_core

HEAVY = (
    "httpx",
    "keyring",
    "cryptography",
    "openai",
    "anthropic",
    "sqlite3",
    "cattrs",
    "tomllib",
    "platformdirs",
)


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out))


def test_import_tau_core_loads_nothing_heavy():
    loaded = _modules_after("import tau_core")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    assert "tau_core._loop" not in loaded and "tau_core._journal" not in loaded


def test_first_use_loads_only_what_it_needs():
    loaded = _modules_after("import tau_core\ntau_core.Authority.from_preset('read-only')")
    assert not {
        m
        for m in loaded
        if m.split(".")[0] in ("httpx", "keyring", "cryptography", "sqlite3", "cattrs")
    }


def test_public_names_resolve_and_all_is_sorted():
    # Sorted the way ruff's RUF022 sorts (constants first), with no duplicates or strays.
    assert len(set(tau_core.__all__)) == len(tau_core.__all__)
    assert set(tau_core.__all__) == {*tau_core._EXPORTS, "__version__"}
    for name in tau_core.__all__:
        assert getattr(tau_core, name) is not None
    assert set(dir(tau_core)) >= set(tau_core.__all__)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="does_not_exist"):
        tau_core.does_not_exist  # noqa: B018 - the access is the test
