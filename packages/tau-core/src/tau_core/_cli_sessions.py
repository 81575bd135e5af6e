"""``tau sessions``: list, show, resume, replay and fork recorded runs."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ._cli import print_json

__all__ = ["add_parser"]


def add_parser(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(name, help=help_text, description=help_text)
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    lst = s.add_parser("list", help="list recorded runs")
    lst.add_argument("--json", action="store_true", help="print a JSON array")
    lst.set_defaults(handler=cmd_list)
    show = s.add_parser("show", help="show a run's specification, events and outcome")
    show.add_argument("run_id")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(handler=cmd_show)
    for action, help_ in (
        ("resume", "continue an interrupted run from its journal"),
        ("replay", "re-drive a finished run from its journal: no provider call, no tool run"),
    ):
        a = s.add_parser(action, help=help_, description=help_)
        a.add_argument("run_id")
        a.add_argument("--json", action="store_true", help="print the outcome as JSON")
        a.set_defaults(handler=cmd_resume if action == "resume" else cmd_replay)
    fork = s.add_parser("fork", help="start a new run from a run's events up to one event")
    fork.add_argument("run_id")
    fork.add_argument(
        "--at",
        metavar="SEQ",
        type=int,
        required=True,
        help="the last event (its seq, see `tau sessions show`) to keep",
    )
    fork.add_argument("--json", action="store_true", help="print {run_id, parent, at}")
    fork.set_defaults(handler=cmd_fork)


def _journal() -> Any:
    from ._config import load_config
    from ._journal import Journal

    return Journal(synchronous=load_config().get("journal.synchronous", "normal"))


def cmd_list(args: argparse.Namespace) -> int:
    runs = _journal().runs()
    if args.json:
        print_json(
            [
                {
                    "run_id": r.run_id,
                    "created_at": r.created_at,
                    "status": r.status,
                    "reason": r.reason,
                    "goal": r.goal,
                    "events": r.events,
                    "parent_run_id": r.parent_run_id,
                }
                for r in runs
            ]
        )
        return 0
    if not runs:
        print("no runs recorded yet")
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created_at))
        status = r.status + (f"({r.reason})" if r.reason else "")
        print(f"{r.run_id}  {when}  {status:<28} {r.goal[:60]}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    record = _journal().get_run(args.run_id)
    if args.json:
        print_json(
            {
                "run_id": record.run_id,
                "created_at": record.created_at,
                "spec": record.spec,
                "parent_run_id": record.parent_run_id,
                "fork_seq": record.fork_seq,
                "events": [
                    {"seq": e.seq, "kind": e.kind, "key": e.key, "at": e.at, "data": e.data}
                    for e in record.events
                ],
                "outcome": record.outcome,
            }
        )
        return 0
    print(f"run {record.run_id}: {record.spec['task']['goal']}")
    if record.parent_run_id:
        print(f"forked from {record.parent_run_id} at event {record.fork_seq}")
    for e in record.events:
        print(f"{e.seq:>5}  {e.kind:<16} {e.key}")
    outcome = record.outcome
    print(
        "outcome: "
        + (
            f"{outcome['status']}({outcome['reason']}): {outcome['summary']}"
            if outcome
            else "none (interrupted; `tau sessions resume` continues it)"
        )
    )
    return 0


def _agent(run_id: str, journal: Any) -> Any:
    from ._cli_run import _approver
    from ._config import load_config
    from ._plugins import get_plugin_manager
    from ._run import Agent

    config = load_config()
    modules = journal.get_run(run_id).spec.get("plugin_modules", [])
    return Agent.for_run(
        run_id,
        journal=journal,
        plugins=get_plugin_manager(extra_modules=modules),
        approver=_approver,
        max_parallel_tools=config.get("run.max_parallel_tools", 4),
    )


def _outcome(outcome: Any, as_json: bool) -> int:
    from ._cli_run import report

    return report(outcome, as_json)


def cmd_resume(args: argparse.Namespace) -> int:
    journal = _journal()
    agent = _agent(args.run_id, journal)
    if not args.json:
        from ._cli_run import LiveView

        agent.plugins.register(LiveView(), "tau-live-view")
    return _outcome(agent.resume(args.run_id), args.json)


def cmd_replay(args: argparse.Namespace) -> int:
    journal = _journal()
    return _outcome(_agent(args.run_id, journal).replay(args.run_id), args.json)


def cmd_fork(args: argparse.Namespace) -> int:
    new_id = _journal().fork(args.run_id, args.at)
    if args.json:
        print_json({"run_id": new_id, "parent_run_id": args.run_id, "at": args.at})
    else:
        sys.stdout.write(f"{new_id}\n(continue it with `tau sessions resume {new_id}`)\n")
    return 0
