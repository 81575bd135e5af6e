"""Shared by tau-provider's tests: the loopback server speaking OpenAI's wire format
(``fixtures/openai/loopback.py``, importable as ``tau_provider_tests_openai_loopback`` once this
file has loaded), a ``server`` fixture running one, and breakers and rate limits reset around
every test (they are process-wide)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tau_provider._breaker import breakers
from tau_provider._ratelimit import rate_limits

LOOPBACK = "tau_provider_tests_openai_loopback"


def _load_loopback() -> Any:
    if LOOPBACK not in sys.modules:
        path = Path(__file__).parent / "fixtures" / "openai" / "loopback.py"
        spec = importlib.util.spec_from_file_location(LOOPBACK, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[LOOPBACK] = module
        spec.loader.exec_module(module)
    return sys.modules[LOOPBACK]


lb = _load_loopback()


@pytest.fixture(autouse=True)
def _fresh_shared_state() -> Iterator[None]:
    breakers().clear()
    rate_limits().clear()
    yield
    breakers().clear()
    rate_limits().clear()


@pytest.fixture
def server() -> Iterator[Any]:
    s = lb.LoopbackServer()
    try:
        yield s
    finally:
        s.close()
