"""pytest fixtures of Tau's test kit, loaded through the ``pytest11`` entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def tau_home(tmp_path: Path) -> Iterator[Path]:
    """A private ``TAU_HOME`` with autoload off and an in-memory keyring."""
    from . import isolated_home

    with isolated_home(tmp_path / "tau-home") as home:
        yield home


@pytest.fixture
def tau_plugins(tau_home: Path) -> Any:
    """A fresh plugin manager holding only tau-core's own plugin; register more with
    ``tau_plugins.register(plugin)``."""
    from . import fresh_plugin_manager

    return fresh_plugin_manager()
