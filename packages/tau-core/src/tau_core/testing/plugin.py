"""The test kit as a plugin for the CLI: ``tau -p tau_core.testing.plugin run ...``.

Tools: ``write_file``, ``read_file``, ``append_line`` (not idempotent), ``append_once``
(idempotent through the idempotency key), ``sleep``, ``noop``.
Verifiers: ``file_equals`` (options ``path``, ``content``, ``protect``).
``TAU_TEST_TOOL_DELAY`` (seconds) slows ``append_line`` down, for kill tests.
"""

from __future__ import annotations

import os
from typing import Any

from tau_core.hookspecs import hookimpl

TAU_PLUGIN_API = 1


@hookimpl
def tau_register_tools(registry: Any) -> None:
    from . import AppendLine, FakeTool, ReadFile, Sleep, WriteFile

    delay = float(os.environ.get("TAU_TEST_TOOL_DELAY", "0") or 0)
    registry.register("write_file", WriteFile, help="write a text file (test kit)")
    registry.register("read_file", ReadFile, help="read a text file (test kit)")
    registry.register(
        "append_once",
        lambda: AppendLine("append_once", delay=delay, keyed=True),
        help="append a line once per idempotency key; idempotent (test kit)",
    )
    registry.register(
        "append_line",
        lambda: AppendLine(delay=delay),
        help="append a line to a file; not idempotent (test kit)",
    )
    registry.register("sleep", Sleep, help="wait some seconds (test kit)")
    registry.register("noop", lambda: FakeTool("noop"), help="does nothing (test kit)")


@hookimpl
def tau_register_verifiers(registry: Any) -> None:
    registry.register(
        "file_equals",
        "tau_core.testing:file_equals_factory",
        help="green when a file holds exactly the given text (test kit)",
    )
