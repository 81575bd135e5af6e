"""``tau safety scan`` and ``tau audit``: tau-safety's CLI commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["AUDIT_EVENT_KINDS", "AuditCommand", "SafetyCommand", "scan_paths"]

AUDIT_EVENT_KINDS = (
    "decision",
    "approval",
    "safety_finding",
    "redaction",
    "escalation",
    "taint",
    "plugin_problem",
)
"""Journal event kinds ``tau audit show`` lists: policy decisions, approvals and what plugins
audited."""

_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".tox", ".nox"}
_MAX_FILE = 50 * 1024 * 1024


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _files(paths: list[str]) -> Iterator[tuple[str, Path | None]]:
    for raw in paths:
        if raw == "-":
            yield "-", None
            continue
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
                for name in sorted(names):
                    full = Path(root) / name
                    yield str(full), full
        else:
            yield raw, path


def scan_paths(paths: list[str], *, entropy: bool = True) -> tuple[list[dict[str, Any]], int]:
    """Scan files, directories (recursively) and ``-`` (standard input).

    Returns:
        The findings as dicts (path, line, column, rule_id, service, preview, encoding) and
        the number of files scanned. Binary files and files over 50 MB are skipped.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    from ._secrets import SecretScanner

    scanner = SecretScanner(entropy=entropy)
    findings: list[dict[str, Any]] = []
    scanned = 0
    for name, path in _files(paths):
        if path is None:
            text = sys.stdin.read()
        else:
            if not path.exists():
                raise FileNotFoundError(name)
            if path.is_symlink() or not path.is_file() or path.stat().st_size > _MAX_FILE:
                continue
            data = path.read_bytes()
            if b"\0" in data[:8192]:
                continue
            text = data.decode("utf-8", errors="replace")
        scanned += 1
        for f in scanner.scan(text):
            findings.append(
                {
                    "path": name,
                    "line": f.line,
                    "column": f.column,
                    "rule_id": f.rule_id,
                    "service": f.service,
                    "preview": f.preview,
                    "encoding": f.encoding,
                }
            )
    return findings, scanned


class SafetyCommand:
    """``tau safety scan [PATH ...|-] [--json]``."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        scan = sub.add_parser(
            "scan",
            help="find secrets in files, directories or standard input",
            description="Find secrets in files, directories (recursively) or standard input "
            "(-). Exits 1 when a secret is found, 0 when none is, 2 on bad input.",
        )
        scan.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="default: .")
        scan.add_argument("--json", action="store_true", help="print one JSON object")
        scan.add_argument(
            "--no-entropy",
            action="store_true",
            help="only the service rules, not high-entropy values next to secret-like keys",
        )

    def run(self, args: argparse.Namespace) -> int:
        try:
            findings, scanned = scan_paths(args.paths, entropy=not args.no_entropy)
        except FileNotFoundError as exc:
            sys.stderr.write(f"tau safety scan: {exc.args[0]!r} does not exist; check the path\n")
            return 2
        if args.json:
            _print_json({"files_scanned": scanned, "findings": findings})
        else:
            for f in findings:
                enc = f" (inside {f['encoding']})" if f["encoding"] else ""
                sys.stdout.write(
                    f"{f['path']}:{f['line']}:{f['column']}: {f['rule_id']} "
                    f"[{f['service']}] {f['preview']}{enc}\n"
                )
            sys.stderr.write(f"{len(findings)} secret(s) found in {scanned} file(s) scanned\n")
        return 1 if findings else 0


class AuditCommand:
    """``tau audit verify RUN_ID`` and ``tau audit show RUN_ID [--json]``."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        verify = sub.add_parser(
            "verify",
            help="check a run's hash chain; exit 1 and name the first broken link if it fails",
        )
        verify.add_argument("run_id")
        verify.add_argument("--json", action="store_true", help="print one JSON object")
        show = sub.add_parser(
            "show", help="list a run's policy decisions, safety findings, redactions, escalations"
        )
        show.add_argument("run_id")
        show.add_argument("--json", action="store_true", help="print a JSON array")

    def run(self, args: argparse.Namespace) -> int:
        from tau_core import Journal, load_config
        from tau_core.errors import UsageError

        journal = Journal(synchronous=load_config().get("journal.synchronous", "normal"))
        try:
            if args.action == "verify":
                return self._verify(journal, args)
            return self._show(journal, args)
        except UsageError as exc:
            sys.stderr.write(f"tau audit: {exc}\n")
            return 2
        finally:
            journal.close()

    def _verify(self, journal: Any, args: argparse.Namespace) -> int:
        check = journal.verify_chain(args.run_id)
        if args.json:
            _print_json(
                {
                    "run_id": check.run_id,
                    "ok": check.ok,
                    "events": check.events,
                    "broken_at": check.broken_at,
                    "reason": check.reason,
                    "head": check.head,
                }
            )
        elif check.ok:
            sys.stdout.write(
                f"run {check.run_id}: {check.events} events, chain intact (head {check.head})\n"
            )
        else:
            sys.stdout.write(
                f"run {check.run_id}: chain BROKEN at event {check.broken_at}: {check.reason}\n"
            )
        return 0 if check.ok else 1

    def _show(self, journal: Any, args: argparse.Namespace) -> int:
        record = journal.get_run(args.run_id)
        hashes = journal.hashes(args.run_id)
        entries = [
            {
                "seq": e.seq,
                "kind": e.kind,
                "key": e.key,
                "at": e.at,
                "hash": hashes.get(e.seq),
                "data": e.data,
            }
            for e in record.events
            if e.kind in AUDIT_EVENT_KINDS
        ]
        if args.json:
            _print_json(entries)
            return 0
        for entry in entries:
            data = entry["data"]
            what = (
                data.get("message")
                or data.get("reason")
                or ", ".join(f"{k}={v}" for k, v in sorted(data.items()) if k != "previews")
            )
            sys.stdout.write(
                f"{entry['seq']:>5}  {entry['kind']:<15} {str(entry['hash'])[:12]}  {what}\n"
            )
        return 0
