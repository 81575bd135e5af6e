"""Deterministic agent tests from real runs: the ``tau_cassette`` pytest fixture.

Loaded automatically through the ``pytest11`` entry point. A test that asks for
``tau_cassette`` records every model call its Tau runs make into
``cassettes/<test module>/<test name>.json`` next to the test file, or replays them from it::

    def test_greeting(tau_cassette, tmp_path):
        outcome = tau_core.run("Write greeting.txt", model="openai:gpt-4.1", ...)
        assert outcome.status == "verified"

The mode comes from ``pytest --tau-cassette=record|replay``, else ``TAU_CASSETTE``, else
``replay`` when the file exists; a missing cassette fails the test with how to record it. In
replay no provider is called, so no key and no network are needed; a request that differs from
the recorded one fails the run (``failed``, naming the cassette, the interaction and the first
differing field), and recorded calls the test never made fail it at teardown.

Paths under pytest's base temporary directory and under the project root are written as
``[tau:basetemp]`` and ``[tau:rootdir]``, so a cassette replays on any machine. The hooks that
record and replay are tau-provider's plugin (``tau_provider._plugin``): autoloaded in normal
use; a test that builds its own plugin manager registers it, e.g.
``fresh_plugin_manager(tau_provider._plugin, ...)``.

Outside pytest use :func:`use_cassette` (or ``TAU_CASSETTE``, see ``docs/cassettes.md``).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from ._cassette import (
    DEFAULT_PATH,
    ENV_MODE,
    Cassette,
    CassetteError,
    Mode,
    parse_mode,
    use_cassette,
)

__all__ = [
    "DEFAULT_PATH",
    "Cassette",
    "CassetteError",
    "cassette_path",
    "pytest_addoption",
    "tau_cassette",
    "use_cassette",
]

_OPTION = "--tau-cassette"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("tau").addoption(
        _OPTION,
        dest="tau_cassette",
        choices=("record", "replay"),
        default=None,
        help="record model calls of tests using the tau_cassette fixture (calls the real "
        "provider), or replay them from the cassettes (default: replay when the file exists)",
    )


def cassette_path(node: pytest.Item) -> Path:
    """Where the cassette of test *node* lives: ``cassettes/<module>/<test name>.json`` in
    the test file's directory (a class name and parameters are part of the test name)."""
    name = node.nodeid.split("::", 1)[-1].replace("::", ".")
    name = re.sub(r"[^\w.\[\]-]", "_", name)
    return node.path.parent / "cassettes" / node.path.stem / f"{name}.json"


@pytest.fixture
def tau_cassette(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cassette]:
    """Record (``--tau-cassette=record``) or replay this test's model calls; yields the
    :class:`Cassette`."""
    path = cassette_path(cast(pytest.Item, request.node))
    mode: Mode | None = request.config.getoption("tau_cassette") or parse_mode(
        os.environ.get(ENV_MODE)
    )
    if mode is None:
        if not path.exists():
            pytest.fail(
                f"no cassette for {request.node.nodeid} at {path}: record it once with "
                f"`pytest {_OPTION}=record {request.node.nodeid}` (this calls the real "
                "provider, so it needs its key), then commit the file",
                pytrace=False,
            )
        mode = "replay"
    placeholders: dict[str, str] = {}
    for name, where in (
        ("basetemp", tmp_path_factory.getbasetemp()),
        ("rootdir", request.config.rootpath),
    ):
        placeholders[name] = str(where)
        if str(where.resolve()) != str(where):
            placeholders[f"{name}_resolved"] = str(where.resolve())
    with contextlib.ExitStack() as stack:
        try:
            cassette = stack.enter_context(use_cassette(path, mode, placeholders=placeholders))
        except CassetteError as exc:
            pytest.fail(str(exc), pytrace=False)
        yield cassette
    if cassette.unused:
        pytest.fail(
            f"cassette {path}: {cassette.unused} of {len(cassette.interactions)} recorded model "
            f"call(s) were never made (the test now makes fewer calls, or tau-provider's plugin "
            f"is not registered with the plugin manager it uses): re-record with "
            f"`pytest {_OPTION}=record {request.node.nodeid}`",
            pytrace=False,
        )
