"""The ``tau`` command line.

Exit codes (every command):

===  =====================================================================
0    success; for ``tau run``: ``verified``, or ``unverified`` when asked for
1    an unexpected error (a bug: please report it with the traceback)
2    usage or configuration error (bad flag, bad grant, bad config file)
3    ``tau run``: ``blocked``
4    ``tau run``: ``exhausted``
5    ``tau run``: ``failed``; other commands: a Tau error (store locked, journal corrupt …)
===  =====================================================================
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import ConfigError, TauError, UsageError

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {"verified": 0, "unverified": 0, "blocked": 3, "exhausted": 4, "failed": 5}
EXIT_USAGE = 2
EXIT_ERROR = 5

# Built-in command groups: name -> (module, one-line help). Each module has add_parser(sub).
_BUILTIN = {
    "run": ("_cli_run", "run an agent on a task under an authority, with a verifier"),
    "plugins": ("_cli_plugins", "list plugins and diagnose failures"),
    "sessions": ("_cli_sessions", "list, show, resume, replay and fork recorded runs"),
    "tools": ("_cli_tools", "list tools; run one tool call under an authority"),
    "keys": ("_cli_keys", "manage secrets in the encrypted credential store"),
    "config": ("_cli_config", "read and write configuration"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own exit, with our wording
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"tau: error: {message}\n")


def _plugin_modules(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``-p MODULE`` global options from the rest (they must come first)."""
    modules: list[str] = []
    rest = list(argv)
    while len(rest) >= 2 and rest[0] in ("-p", "--plugin"):
        modules.append(rest[1])
        rest = rest[2:]
    return modules, rest


def build_parser(plugin_commands: dict[str, str]) -> argparse.ArgumentParser:
    epilog = ""
    if plugin_commands:
        width = max(len(n) for n in plugin_commands)
        epilog = "commands from plugins:\n" + "\n".join(
            f"  {n.ljust(width)}  {h}" for n, h in sorted(plugin_commands.items())
        )
    parser = _Parser(
        prog="tau",
        description="Tau runs AI agents as real software: a task, the authority it may use, and "
        "the verifier that decides when the work is done.",
        epilog=epilog + "\n\nexit codes: 0 verified, 2 usage error, 3 blocked, 4 exhausted, "
        "5 failed (see `tau run --help`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tau {__version__}")
    parser.add_argument(
        "-p",
        "--plugin",
        metavar="MODULE",
        action="append",
        default=[],
        help="load a plugin module by import name (repeatable; before the command)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module, help_text) in _BUILTIN.items():
        mod = importlib.import_module(f"{__package__}.{module}")
        mod.add_parser(sub, name, help_text)
    return parser


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(f"tau: error: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tau`` command."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    modules, rest = _plugin_modules(args_in)
    if rest == ["--version"]:  # answered without loading plugins or building the parser
        sys.stdout.write(f"tau {__version__}\n")
        return 0
    try:
        from ._plugins import get_plugin_manager

        manager = get_plugin_manager(extra_modules=modules)
        commands = manager.registries["commands"]
        plugin_commands = {e.name: e.help for e in commands if e.name not in _BUILTIN}
        if rest and rest[0] in plugin_commands:
            return _run_plugin_command(manager, rest[0], rest[1:])
        parser = build_parser(plugin_commands)
        args = parser.parse_args(rest)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_USAGE
        handler = args.handler
        code: int = handler(args)
        return code
    except (UsageError, ConfigError) as exc:
        return fail(str(exc), EXIT_USAGE)
    except TauError as exc:
        return fail(str(exc), EXIT_ERROR)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


def _run_plugin_command(manager: Any, name: str, argv: list[str]) -> int:
    factory = manager.registries["commands"].load(name)
    command = factory()
    parser = _Parser(prog=f"tau {name}", description=manager.registries["commands"].get(name).help)
    command.configure(parser)
    args = parser.parse_args(argv)
    code: int = command.run(args)
    return code
