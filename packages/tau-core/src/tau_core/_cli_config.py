"""``tau config``: read and write configuration."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._cli import print_json

__all__ = ["add_parser"]


def add_parser(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    get = s.add_parser("get", help="print the value of a dotted key (e.g. run.model)")
    get.add_argument("key")
    get.add_argument("--json", action="store_true", help="print {key, value, source} as JSON")
    get.set_defaults(handler=cmd_get)
    put = s.add_parser("set", help="set a dotted key in the user (or project) config file")
    put.add_argument("key")
    put.add_argument("value", help='a TOML value (3, true, "text", ["a"]) or plain text')
    put.add_argument(
        "--project",
        action="store_true",
        help="write ./tau.toml (or the nearest one) instead of the user config",
    )
    put.set_defaults(handler=cmd_set)
    path = s.add_parser("path", help="print the config files and TAU_HOME")
    path.add_argument("--json", action="store_true", help="print a JSON object")
    path.set_defaults(handler=cmd_path)


def cmd_get(args: argparse.Namespace) -> int:
    from ._config import load_config

    config = load_config()
    value = config.get(args.key)
    if args.json:
        print_json({"key": args.key, "value": value, "source": config.sources.get(args.key)})
        return 0 if value is not None else 1
    if value is None:
        return 1
    print(value if not isinstance(value, dict | list | bool) else __import__("json").dumps(value))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from ._config import project_config_path, set_config_value

    target = None
    if args.project:
        target = project_config_path() or Path.cwd() / "tau.toml"
    path = set_config_value(args.key, args.value, target)
    print(f"{args.key} set in {path}")
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    from ._config import config_paths

    paths = {k: (str(v) if v is not None else None) for k, v in config_paths().items()}
    if args.json:
        print_json(paths)
    else:
        for k, v in paths.items():
            print(f"{k:<8} {v or '(none)'}")
    return 0
