"""``tau plugins``: list plugins and diagnose failures."""

from __future__ import annotations

import argparse
from typing import Any

from ._cli import print_json

__all__ = ["add_parser"]


def add_parser(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = s.add_parser("list", help="list plugins, their status and what they provide")
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(handler=cmd_list)
    doc = s.add_parser("doctor", help="explain plugin failures, with tracebacks and fixes")
    doc.add_argument("--json", action="store_true", help="print a JSON array of problems")
    doc.set_defaults(handler=cmd_doctor)


def _manager() -> Any:
    from ._plugins import get_plugin_manager

    return get_plugin_manager()


def cmd_list(args: argparse.Namespace) -> int:
    manager = _manager()
    reports = [r for r in manager.reports if r.name != "tau-live-view"]
    if args.json:
        print_json([r.to_dict() for r in reports])
        return 0
    for r in reports:
        provides = ", ".join(f"{k}: {' '.join(v)}" for k, v in r.provides.items() if v)
        where = f"{r.dist} {r.version}" if r.dist else "module"
        line = f"{r.name:<16} {r.status:<8} {where:<24} {provides}"
        if r.error:
            line += f"\n{'':<16} {r.error}"
        print(line.rstrip())
    for c in manager.collisions:
        print(f"collision: {c}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    manager = _manager()
    failed = [r for r in manager.reports if r.status == "failed"]
    collisions = manager.collisions
    if args.json:
        print_json(
            [{**r.to_dict(), "traceback": r.traceback, "fix": r.fix} for r in failed]
            + [{"collision": str(c)} for c in collisions]
        )
        return 1 if failed or collisions else 0
    if not failed and not collisions:
        loaded = sum(1 for r in manager.reports if r.status == "loaded")
        blocked = sum(1 for r in manager.reports if r.status == "blocked")
        print(f"all good: {loaded} plugin(s) loaded, {blocked} blocked, no failures")
        return 0
    for r in failed:
        print(f"plugin {r.name!r} ({r.dist or 'module'} {r.version or ''}) FAILED")
        print(f"  error: {r.error}")
        if r.traceback:
            print("  traceback:")
            print("    " + r.traceback.rstrip().replace("\n", "\n    "))
        print(f"  fix: {r.fix}")
    for c in collisions:
        print(f"collision: {c}")
    return 1
