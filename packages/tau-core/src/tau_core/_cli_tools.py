"""``tau tools``: list the registered tools; run one call exactly as the loop would."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._cli import print_json
from .errors import UsageError

__all__ = ["add_parser"]


def add_parser(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = s.add_parser("list", help="list the registered tools with their specs")
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(handler=cmd_list)
    call = s.add_parser(
        "call",
        help="run one tool call under an authority, exactly as the loop would",
        description="Run one tool call under an authority, exactly as the loop would: schema "
        "check, capabilities, the authority's decision (fail closed), wrappers, timeout, "
        "redaction. Exit 0 when the call succeeded, 3 when it was denied (nothing ran), "
        "5 when the tool reported an error.",
    )
    call.add_argument("tool", metavar="NAME")
    call.add_argument("--args", metavar="JSON", default="{}", help="the arguments, a JSON object")
    call.add_argument(
        "--allow",
        metavar="GRANT",
        action="append",
        default=[],
        help="grant a permission (repeatable)",
    )
    call.add_argument("--preset", metavar="NAME", help="start from a named authority preset")
    call.add_argument(
        "--approval",
        choices=("never", "ask", "deny"),
        default="deny",
        help="what to do when the grants do not cover the call (default deny)",
    )
    call.add_argument("--workdir", metavar="DIR", default=".", help="working directory")
    call.add_argument("--timeout", metavar="SECONDS", type=float, default=120.0)
    call.add_argument(
        "--json", action="store_true", help='print {"ok", "content", "error", "decision"}'
    )
    call.set_defaults(handler=cmd_call)


def cmd_list(args: argparse.Namespace) -> int:
    from ._plugins import get_plugin_manager
    from ._serialization import to_dict

    registry = get_plugin_manager().registries["tools"]
    rows: list[dict[str, Any]] = []
    for entry in registry:
        row: dict[str, Any] = {
            "name": entry.name,
            "plugin": entry.plugin,
            "dist": entry.dist,
            "help": entry.help,
        }
        try:
            spec = registry.load(entry.name)().spec
            row["spec"] = to_dict(spec)
            row["error"] = None
        except Exception as exc:  # a broken tool plugin is listed with its error, not fatal
            row["spec"] = None
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        if row["spec"] is None:
            print(f"{row['name']:<12} ({row['plugin']}) FAILED: {row['error']}")
        else:
            spec = row["spec"]
            print(f"{row['name']:<12} {spec['side_effect']:<8} ({row['plugin']}) {row['help']}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from ._authority import Authority, Grant
    from ._cli_run import _approver
    from ._single import call_tool

    try:
        arguments = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f'--args is not JSON ({exc}); pass an object like \'{{"path": "a"}}\''
        ) from None
    if not isinstance(arguments, dict):
        raise UsageError('--args must be a JSON object, e.g. \'{"path": "README.md"}\'')
    grants = [Grant.parse(g) for g in args.allow]
    if args.preset:
        authority = Authority.from_preset(args.preset, *grants, approval=args.approval)
    else:
        authority = Authority(grants=tuple(grants), approval=args.approval)
    outcome = call_tool(
        args.tool,
        arguments,
        authority=authority,
        workdir=args.workdir,
        approver=_approver,
        timeout=args.timeout,
    )
    data = outcome.to_dict()
    if args.json:
        print_json(data)
    elif data["ok"]:
        content = data["content"]
        sys.stdout.write((content if isinstance(content, str) else json.dumps(content)) + "\n")
    else:
        err = data["error"]
        sys.stderr.write(f"tau: {args.tool}: {err['code']}: {err['message']}\n")
        if err.get("hint"):
            sys.stderr.write(f"hint: {err['hint']}\n")
    if outcome.stopped is not None:
        return 3
    return 0 if outcome.ok else 5
