"""Outcome and evidence as Markdown (terminals, reports) and HTML (notebooks)."""

from __future__ import annotations

import html
import json
from typing import Any

from ._outcome import Evidence, Outcome

__all__ = ["evidence_html", "evidence_markdown", "outcome_html", "outcome_markdown"]

_COLOURS = {
    "verified": "#1a7f37",
    "unverified": "#9a6700",
    "blocked": "#cf222e",
    "exhausted": "#bc4c00",
    "failed": "#cf222e",
}


def _content(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit} more chars]"


def _head(outcome: Outcome) -> str:
    return outcome.status + (f" ({outcome.reason})" if outcome.reason else "")


def evidence_markdown(ev: Evidence) -> str:
    lines = [
        f"- run: `{ev.run_id}`",
        f"- model: `{ev.model}` · turns: {ev.turns}",
        f"- usage: {ev.usage.input_tokens} in / {ev.usage.output_tokens} out tokens"
        + (f", ${ev.usage.cost:.4f}" if ev.usage.cost is not None else ", cost unknown"),
        "- timings: " + ", ".join(f"{k} {v:.3f}s" for k, v in sorted(ev.timings.items())),
    ]
    if ev.decisions:
        lines.append("\n### Policy decisions")
        for d in ev.decisions:
            mark = "allowed" if d.allowed else "**denied**"
            grant = f" — needs `{d.needed_grant}`" if d.needed_grant and not d.allowed else ""
            lines.append(
                f"- `{d.tool}` {mark} by `{d.rule_id}` ({d.reason_code}): {d.message}{grant}"
            )
    if ev.tool_calls:
        lines.append("\n### Tool calls")
        for r in ev.tool_calls:
            args = _content(r.call.arguments, 200)
            if r.result is None:
                lines.append(f"- `{r.call.name}` {args}: not run")
            else:
                state = "ok" if r.result.error is None else f"error `{r.result.error.code}`"
                lines.append(
                    f"- `{r.call.name}` {args} → {state}: {_content(r.result.content, 200)}"
                )
    if ev.verifier_results:
        lines.append("\n### Verifier")
        for v in ev.verifier_results:
            lines.append(f"- `{v.verifier}` **{v.status}**: {v.summary}")
            if v.command:
                lines.append(f"  - command `{v.command}` exit {v.exit_code}")
            for c in v.cases:
                lines.append(f"  - {c.name}: {c.outcome}")
            if v.status != "green" and (v.stdout_tail or v.stderr_tail):
                tail = (v.stdout_tail + "\n" + v.stderr_tail).strip()
                lines.append("  ```\n  " + _content(tail, 1500).replace("\n", "\n  ") + "\n  ```")
    if ev.changed_files:
        lines.append("\n### Changed files\n" + "\n".join(f"- `{f}`" for f in ev.changed_files))
    if ev.diff:
        lines.append("\n### Diff\n```diff\n" + ev.diff.rstrip() + "\n```")
    if ev.in_doubt:
        lines.append(
            "\n### In doubt\n"
            + "\n".join(
                f"- `{c.name}` call `{c.id}` {_content(c.arguments, 200)}" for c in ev.in_doubt
            )
        )
    if ev.plugin_errors:
        lines.append(
            "\n### Plugin problems\n"
            + "\n".join(f"- `{p.plugin}`: {p.error}" for p in ev.plugin_errors)
        )
    if ev.events:
        lines.append("\n### Events\n" + "\n".join(f"- {_content(e, 200)}" for e in ev.events))
    return "\n".join(lines)


def outcome_markdown(outcome: Outcome) -> str:
    return (
        f"## Outcome: {_head(outcome)}\n\n{outcome.summary}\n\n"
        + evidence_markdown(outcome.evidence)
        + "\n"
    )


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def evidence_html(ev: Evidence) -> str:
    e = html.escape
    parts = [
        _table(
            [
                ("run", f"<code>{e(ev.run_id)}</code>"),
                ("model", f"<code>{e(ev.model)}</code>"),
                ("turns", str(ev.turns)),
                ("tokens", f"{ev.usage.input_tokens} in / {ev.usage.output_tokens} out"),
                ("cost", "unknown" if ev.usage.cost is None else f"${ev.usage.cost:.4f}"),
                ("time", ", ".join(f"{k} {v:.3f}s" for k, v in sorted(ev.timings.items()))),
            ]
        )
    ]
    if ev.decisions:
        items = "".join(
            f"<li><code>{e(d.tool)}</code> {'allowed' if d.allowed else '<b>denied</b>'} by "
            f"<code>{e(d.rule_id)}</code>: {e(d.message)}</li>"
            for d in ev.decisions
        )
        parts.append(
            f"<details open><summary>Policy decisions ({len(ev.decisions)})</summary>"
            f"<ul>{items}</ul></details>"
        )
    if ev.tool_calls:
        items = "".join(
            f"<li><code>{e(r.call.name)}</code> <code>{e(_content(r.call.arguments, 200))}</code>"
            + (f" → {e(_content(r.result.content, 300))}" if r.result else " (not run)")
            + "</li>"
            for r in ev.tool_calls
        )
        parts.append(
            f"<details><summary>Tool calls ({len(ev.tool_calls)})</summary>"
            f"<ul>{items}</ul></details>"
        )
    if ev.verifier_results:
        items = "".join(
            f"<li><code>{e(v.verifier)}</code> <b>{e(v.status)}</b>: {e(v.summary)}"
            + (
                f"<pre>{e(_content((v.stdout_tail + v.stderr_tail), 1500))}</pre>"
                if v.status != "green" and (v.stdout_tail or v.stderr_tail)
                else ""
            )
            + "</li>"
            for v in ev.verifier_results
        )
        parts.append(f"<details open><summary>Verifier</summary><ul>{items}</ul></details>")
    if ev.diff:
        parts.append(
            f"<details><summary>Diff ({len(ev.changed_files)} files)</summary>"
            f"<pre>{e(ev.diff)}</pre></details>"
        )
    if ev.plugin_errors:
        items = "".join(
            f"<li><code>{e(p.plugin)}</code>: {e(p.error)}</li>" for p in ev.plugin_errors
        )
        parts.append(f"<details open><summary>Plugin problems</summary><ul>{items}</ul></details>")
    return "<div class='tau-evidence'>" + "".join(parts) + "</div>"


def outcome_html(outcome: Outcome) -> str:
    colour = _COLOURS.get(outcome.status, "#57606a")
    return (
        f"<div class='tau-outcome'><h3 style='color:{colour}'>{html.escape(_head(outcome))}"
        f"</h3><p>{html.escape(outcome.summary)}</p>{evidence_html(outcome.evidence)}</div>"
    )
