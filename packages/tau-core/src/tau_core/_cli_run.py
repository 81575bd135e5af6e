"""``tau run``: run an agent on a task and print its outcome."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from ._authority import Authority, Budgets, Grant
from ._cli import EXIT_CODES, print_json
from .errors import ConfigError, UsageError
from .hookspecs import hookimpl

__all__ = ["add_parser"]


def add_parser(sub: Any, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="grants: read:PATH write:PATH exec:PROGRAM net:HOST[:PORT] tool:NAME "
        "secret:NAME@TOOL\npresets: read-only, workspace-write, full\n"
        "exit codes: 0 verified (or unverified when --unverified), 3 blocked, 4 exhausted, "
        "5 failed, 2 usage error",
    )
    p.add_argument("task", help="what to do, in words")
    p.add_argument("--model", metavar="SPEC", help="provider:model (default: config run.model)")
    p.add_argument(
        "--fallback",
        metavar="SPEC",
        action="append",
        default=None,
        help="a model spec to fall back to on retryable failures (repeatable)",
    )
    p.add_argument(
        "--tool",
        metavar="NAME",
        action="append",
        default=None,
        help="offer only this tool to the model (repeatable; default: config run.tools, "
        "else every registered tool)",
    )
    p.add_argument("--verify", metavar="CMD", help="verify with the `command` verifier running CMD")
    p.add_argument("--verifier", metavar="NAME", help="verify with the registered verifier NAME")
    p.add_argument(
        "--allow",
        metavar="GRANT",
        action="append",
        default=[],
        help="grant a permission (repeatable)",
    )
    p.add_argument("--preset", metavar="NAME", help="start from a named authority preset")
    p.add_argument(
        "--approval",
        choices=("never", "ask", "deny"),
        help="what to do with calls the grants do not cover (default deny)",
    )
    p.add_argument("--workdir", metavar="DIR", default=".", help="working directory (default .)")
    p.add_argument("--max-turns", metavar="N", type=int, help="most model calls")
    p.add_argument(
        "--max-cost",
        metavar="USD",
        type=float,
        help="most US dollars the run may spend (checked worst-case before each model call)",
    )
    p.add_argument(
        "--unknown-price",
        metavar="POLICY",
        help="with a cost budget, a model whose price is unknown: `block` the run (default), "
        "or `cap:TOKENS` to allow such calls up to TOKENS tokens in all",
    )
    p.add_argument(
        "--unverified",
        action="store_true",
        help="run without a verifier on purpose (the outcome is then `unverified`)",
    )
    p.add_argument("--run-id", metavar="ID", help="use this run id instead of a generated one")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object {run_id, status, reason, summary, evidence}",
    )
    p.set_defaults(handler=run_command)


def _unknown_price(text: str) -> dict[str, Any]:
    """``--unknown-price block`` or ``cap:TOKENS`` as Budgets fields."""
    policy, sep, tokens = text.partition(":")
    if policy == "block" and not sep:
        return {"unknown_price": "block"}
    if policy == "cap" and tokens.isdigit() and int(tokens) > 0:
        return {"unknown_price": "cap", "unknown_price_max_tokens": int(tokens)}
    raise UsageError(
        f"--unknown-price {text}: use `block`, or `cap:TOKENS` with a positive number of "
        "tokens (e.g. cap:50000)"
    )


def build_budgets(args: argparse.Namespace, config: Any) -> Budgets:
    """The run's budgets: ``[budgets]`` from config, then ``run.max_turns``, then the flags.

    Raises:
        UsageError: A flag's value is bad.
        ConfigError: The config's budgets do not fit together (``unknown_price = "cap"``
            without ``unknown_price_max_tokens``).
    """
    values = dict(config.get("budgets", {}) or {})
    max_turns = args.max_turns if args.max_turns is not None else config.get("run.max_turns")
    if max_turns is not None:
        if max_turns < 1:
            raise UsageError(f"--max-turns {max_turns}: it must be at least 1")
        values["max_turns"] = max_turns
    if args.max_cost is not None:
        if not (math.isfinite(args.max_cost) and args.max_cost > 0):
            raise UsageError(
                f"--max-cost {args.max_cost:g}: it must be a positive number of US dollars "
                "(e.g. --max-cost 0.50)"
            )
        values["max_cost"] = args.max_cost
    if args.unknown_price is not None:
        values.update(_unknown_price(args.unknown_price))
    if values.get("unknown_price") == "cap" and values.get("unknown_price_max_tokens") is None:
        key = "budgets.unknown_price"
        raise ConfigError(
            "'cap' also needs budgets.unknown_price_max_tokens, the most tokens the run may "
            "spend on calls whose price is unknown: set it (`tau config set "
            "budgets.unknown_price_max_tokens 50000`), pass --unknown-price cap:TOKENS, "
            "or use 'block'",
            path=config.sources.get(key),
            key=key,
        )
    return Budgets(**values)


def build_authority(args: argparse.Namespace, config: Any) -> Authority:
    preset = args.preset or config.get("run.preset")
    grants = [Grant.parse(g) for g in args.allow]
    budgets = build_budgets(args, config)
    approval = args.approval or config.get("run.approval", "deny")
    if preset:
        return Authority.from_preset(preset, *grants, budgets=budgets, approval=approval)
    return Authority(grants=tuple(grants), budgets=budgets, approval=approval)


def _approver(call: Any, decision: Any) -> Any:
    if not sys.stdin.isatty():
        return False

    import asyncio

    async def ask() -> bool:
        question = (
            f"\n{call.name} wants {decision.needed_grant or decision.message}. Allow once? [y/N] "
        )
        answer = await asyncio.to_thread(input, question)
        return answer.strip().lower() in ("y", "yes")

    return ask()


class LiveView:
    """A plugin printing the run as it happens (turns, tool calls, decisions, verifier)."""

    TAU_PLUGIN_API = 1

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout

    def _say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    @hookimpl
    def tau_event(self, event: Any) -> None:
        d = event.data
        if event.kind == "model_response":
            msg = d.get("response", {}).get("message", {})
            texts = [p.get("text", "") for p in msg.get("parts", []) if p.get("type") == "text"]
            turn = event.key.split(":")[1]
            text = " ".join(t.strip() for t in texts if t.strip())
            self._say(
                f"turn {int(turn) + 1} [{d.get('route', '')}]" + (f": {text[:300]}" if text else "")
            )
        elif event.kind == "decision":
            mark = "allow" if d["allowed"] else "DENY "
            self._say(f"  policy {mark} {d['tool']} ({d['rule_id']}): {d['message']}")
        elif event.kind == "tool_result":
            r = d["result"]
            status = "ok" if r.get("error") is None else f"error {r['error']['code']}"
            content = r.get("content")
            preview = content if isinstance(content, str) else str(content)
            self._say(f"  tool {r['name']} -> {status}: {preview.strip()[:200]}")
        elif event.kind == "verifier_result":
            r = d["result"]
            self._say(f"verifier {r['verifier']}: {r['status']} - {r['summary']}")
        elif event.kind == "segment" and d.get("resumed"):
            self._say(f"resuming run {event.run_id}")


def make_agent(args: argparse.Namespace, manager: Any, config: Any, **kwargs: Any) -> Any:
    from ._run import Agent

    model = args.model or config.get("run.model")
    if not model:
        raise UsageError(
            "no model: pass --model provider:model (e.g. scripted:demo.json) or set "
            "run.model with `tau config set run.model SPEC`"
        )
    if args.verify and args.verifier:
        raise UsageError("pass either --verify CMD or --verifier NAME, not both")
    verifier, options = None, {}
    if args.verify:
        verifier, options = "command", {"command": args.verify}
    elif args.verifier or config.get("run.verifier"):
        verifier = args.verifier or config.get("run.verifier")
        options = config.get(f"verifiers.{verifier}", {}) or {}
    fallback = args.fallback if args.fallback is not None else config.get("run.fallback", [])
    tools = getattr(args, "tool", None) or config.get("run.tools", None)
    return Agent(
        model,
        tools=tools,
        fallback=fallback,
        authority=build_authority(args, config),
        verifier=verifier,
        verifier_options=options,
        unverified=args.unverified,
        approver=_approver,
        plugins=manager,
        max_parallel_tools=config.get("run.max_parallel_tools", 4),
        tool_timeout=float(config.get("run.tool_timeout", 120.0)),
        **kwargs,
    )


def report(outcome: Any, as_json: bool) -> int:
    if as_json:
        print_json(outcome.to_dict())
    else:
        sys.stdout.write("\n" + outcome.to_markdown() + "\n")
    return EXIT_CODES[outcome.status]


def run_command(args: argparse.Namespace) -> int:
    from ._config import load_config
    from ._plugins import get_plugin_manager

    config = load_config()
    manager = get_plugin_manager()
    agent = make_agent(args, manager, config)
    if not args.json:
        manager.register(LiveView(), "tau-live-view")
    outcome = agent.run(args.task, workdir=args.workdir, run_id=args.run_id)
    return report(outcome, args.json)
