"""Secret-scan throughput and accuracy of tau-safety next to ``detect-secrets``, in one run.

The corpus is built in memory, deterministically for a given environment and ``--seed``:

* **clean**: source and documentation files of the packages installed in the running
  interpreter's site-packages (``.py .md .rst .txt .json .toml .yaml .yml .cfg .ini`` and the
  wheels' ``RECORD`` files), sorted by path, shuffled by the seed, each cut at 64 KiB, until
  ``--megabytes`` is reached. It is assumed to hold no real secret: every finding on one of its
  lines counts as a false positive.
* **planted**: every positive example of every rule (the tests' ``secret_examples.py``,
  synthetic secrets), each inserted as whole lines at a seeded random line of a random file.
* **bait**: lines that look random but are no secret, inserted the same way: lockfile and
  ``RECORD`` hashes, ``--hash=sha256:`` pins, UUIDs, git commit ids, image digests, ETags.

Both tools scan the same files, one file at a time:

* ``tau``: ``tau_safety.SecretScanner().scan(text)`` (every rule, the entropy detector,
  decode-and-rescan two levels deep), one scanner for the whole run;
* ``detect_secrets``: all its plugins and default filters (``default_settings()``), over the
  file's lines with the loop its ``scan_file`` runs once the file is read
  (``detect_secrets.core.scan._process_line_based_plugins``, given the file's name; the YAML
  and INI re-reads ``scan_file`` adds for some suffixes are left out). When that private loop
  is missing, ``scan_line`` runs on each line, which costs detect-secrets more.

Tau has one untimed warm-up pass over the corpus (it compiles its RE2 rules on first use: that
pass is reported as ``first_pass_s``), detect-secrets one over the first files (loading its
plugins). Then ``--runs`` timed passes, the tools alternating in a shuffled order with
``gc.collect()`` before each, every pass checked to find the same as the first; a third
variant, ``tau_clean_only``, times Tau on the clean files alone (text as it mostly is: few
secrets). Figures: MB/s of the median pass (wall and process CPU), the ratios
``tau / detect_secrets`` of median times (below 1.0: Tau is faster), and for each tool its
findings split by where they landed, its recall of the planted secrets (a planted secret is
found when the tool reports anything on one of its lines; ``planted_found_with_its_rule_id``
also wants the example's own rule id), and its false positives on clean and bait lines with
the top rule ids and the first places.

``worst_case`` times Tau alone on pathological inputs (one line of ``a``, newlines, base64
runs of binary and of text, base64 nested five deep, ``password=`` repeated, ``-----BEGIN``
repeated, a PEM header never ended, ``%41`` runs, ``=`` runs, ``aws_secret_access_key=``
repeated, JSON-escaped assignments) of 1, 4 and 10 MB (``--quick``: 0.1, 0.4 and 1 MB). It
reports seconds per MB of process CPU time and of wall time (the fastest of 3, 2 and 1 passes:
noise only adds) and, per input, the ratio of the largest size's s/MB to the smallest's, which
stays near 1.0 when the scan is linear (``linear``: every CPU ratio under 1.5). CPU time is
the figure to read: on a busy machine wall time also counts waiting for a core.

Usage: ``python bench/bench_scan.py [--quick] [--megabytes MB] [--runs N] [--seed N]
[--worst-case | --no-worst-case]``; ``--worst-case`` runs only that section. Prints one JSON
object.
"""

from __future__ import annotations

import argparse
import base64
import gc
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from tau_safety._rules import RULES
from tau_safety._secrets import SecretScanner

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "packages" / "tau-safety" / "tests" / "secret_examples.py"
SUFFIXES = frozenset(
    {".py", ".md", ".rst", ".txt", ".json", ".toml", ".yaml", ".yml", ".cfg", ".ini"}
)
FILE_CAP = 64 * 1024
MB = 1_000_000
LINEAR_BOUND = 1.5
"""Largest over smallest input's CPU seconds per MB under which the scan counts as linear."""


class Doc(NamedTuple):
    """One file of the corpus and which of its lines were inserted (1-based line -> insert)."""

    name: str
    text: str
    inserted: dict[int, int]  # line -> index in the list of inserts; absent: a clean line


class Insert(NamedTuple):
    """A block of lines inserted into the corpus: a planted secret or a bait line."""

    kind: str  # "planted" or "bait"
    label: str  # the example's rule id, or the kind of bait
    text: str


# --- the corpus -----------------------------------------------------------------------------


def load_examples() -> Any:
    spec = importlib.util.spec_from_file_location("tau_bench_secret_examples", EXAMPLES)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {EXAMPLES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clean_files(megabytes: float, seed: int) -> list[tuple[str, str]]:
    """Text files of this interpreter's site-packages, about *megabytes* in all."""
    site = Path(sysconfig.get_paths()["purelib"])
    paths = sorted(
        p
        for p in site.rglob("*")
        if (p.suffix in SUFFIXES or p.name == "RECORD")
        and p.is_file()
        and "__pycache__" not in p.parts
    )
    random.Random(seed).shuffle(paths)
    files: list[tuple[str, str]] = []
    total = 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if len(text) > FILE_CAP:
            text = text[: text.rfind("\n", 0, FILE_CAP) + 1]
        if not text.strip():
            continue
        files.append((path.relative_to(site).as_posix(), text))
        total += len(text.encode("utf-8"))
        if total >= megabytes * MB:
            break
    return files


def bait_lines(rng: random.Random, per_kind: int) -> list[tuple[str, str]]:
    """``(kind, line)`` for lines that look random but hold no secret."""

    def hexs(n: int) -> str:
        return rng.randbytes((n + 1) // 2).hex()[:n]

    def uuid4() -> str:
        h = hexs(32)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"

    def b64(n: int, alphabet: Callable[[bytes], bytes] = base64.b64encode) -> str:
        return alphabet(rng.randbytes(n)).decode()

    makers: dict[str, Callable[[int], str]] = {
        "npm-integrity": lambda i: f'      "integrity": "sha512-{b64(64)}",',
        "uv-lock-hash": lambda i: (
            f'    {{ url = "https://files.example/pkg_{i}-1.0.tar.gz", '
            f'hash = "sha256:{hexs(64)}", size = {rng.randint(1000, 99999)} }},'
        ),
        "pip-hash": lambda i: f"    --hash=sha256:{hexs(64)} \\",
        "record": lambda i: (
            f"pkg_{i}/module.py,sha256={b64(32, base64.urlsafe_b64encode).rstrip('=')},"
            f"{rng.randint(100, 99999)}"
        ),
        "uuid-json": lambda i: f'  "request_id": "{uuid4()}",',
        "uuid-assign": lambda i: f"SESSION_ID = '{uuid4()}'",
        "git-commit": lambda i: f"commit {hexs(40)}",
        "git-rev": lambda i: f'rev = "{hexs(40)}"',
        "git-index": lambda i: f"index {hexs(7)}..{hexs(7)} 100644",
        "image-digest": lambda i: f"    image: python@sha256:{hexs(64)}",
        "etag": lambda i: f'ETag: "{hexs(32)}"',
        "sha1sum": lambda i: f"{hexs(40)}  dist/pkg_{i}-1.0.tar.gz",
    }
    return [(kind, make(i)) for kind, make in makers.items() for i in range(per_kind)]


def build_corpus(megabytes: float, seed: int) -> tuple[list[Doc], list[Insert]]:
    """The clean files with planted examples and bait lines inserted, and the inserts."""
    rng = random.Random(seed)
    files = clean_files(megabytes, seed)
    examples = load_examples()
    inserts = [
        Insert("planted", rule_id, example.text)
        for rule_id, found in examples.POSITIVES.items()
        for example in found
    ]
    baits = bait_lines(rng, per_kind=max(5, round(25 * megabytes)))
    inserts.extend(Insert("bait", kind, line) for kind, line in baits)
    per_doc: dict[int, list[int]] = {}
    for index in range(len(inserts)):
        per_doc.setdefault(rng.randrange(len(files)), []).append(index)
    docs: list[Doc] = []
    for doc_index, (name, text) in enumerate(files):
        lines = text.split("\n")
        inserted: dict[int, int] = {}
        planned = per_doc.get(doc_index, [])
        positions = sorted(rng.randrange(len(lines) + 1) for _ in planned)
        out: list[str] = []
        taken = 0
        for index, position in zip(planned, positions, strict=True):
            out.extend(lines[taken:position])
            taken = position
            block = inserts[index].text.rstrip("\n").split("\n")
            inserted.update((len(out) + 1 + offset, index) for offset in range(len(block)))
            out.extend(block)
        out.extend(lines[taken:])
        docs.append(Doc(name, "\n".join(out), inserted))
    return docs, inserts


# --- the two tools --------------------------------------------------------------------------

Scan = Callable[[list[Doc]], list[list[tuple[int, str]]]]
"""Scan every document; per document, ``(line, rule or plugin type)`` for each finding."""


def tau_scan(scanner: SecretScanner) -> Scan:
    def scan(docs: list[Doc]) -> list[list[tuple[int, str]]]:
        return [[(f.line, f.rule_id) for f in scanner.scan(doc.text)] for doc in docs]

    return scan


def detect_secrets_scan() -> tuple[Scan, AbstractContextManager[Any], str] | str:
    """detect-secrets' scan, the settings to run it under and its mode; or why it cannot run."""
    try:
        from detect_secrets.core import scan as ds_scan
        from detect_secrets.settings import default_settings
    except ImportError as exc:
        return "not installed" if exc.name and exc.name.startswith("detect_secrets") else str(exc)
    process = getattr(ds_scan, "_process_line_based_plugins", None)

    def scan(docs: list[Doc]) -> list[list[tuple[int, str]]]:
        results: list[list[tuple[int, str]]] = []
        for doc in docs:
            lines = list(enumerate(doc.text.split("\n"), start=1))
            if process is not None:
                found = [(s.line_number, s.type) for s in process(lines=lines, filename=doc.name)]
            else:
                found = [(n, s.type) for n, line in lines for s in ds_scan.scan_line(line)]
            results.append(found)
        return results

    mode = "scan_file's line loop" if process is not None else "scan_line per line"
    return scan, default_settings(), mode


# --- figures --------------------------------------------------------------------------------


def accuracy(
    docs: list[Doc], inserts: list[Insert], results: list[list[tuple[int, str]]]
) -> tuple[dict[str, Any], set[int]]:
    """Findings by where they landed, planted recall and false positives; the planted inserts
    found."""
    where: Counter[str] = Counter()
    clean_ids: Counter[str] = Counter()
    bait_ids: Counter[str] = Counter()
    bait_kinds: Counter[str] = Counter()
    clean_where: list[str] = []
    found: set[int] = set()
    exact: set[int] = set()
    for doc, findings in zip(docs, results, strict=True):
        for line, rule in findings:
            index = doc.inserted.get(line)
            if index is None:
                where["clean"] += 1
                clean_ids[rule] += 1
                if len(clean_where) < 12:
                    clean_where.append(f"{doc.name}:{line} {rule}")
            elif inserts[index].kind == "bait":
                where["bait"] += 1
                bait_ids[rule] += 1
                bait_kinds[inserts[index].label] += 1
            else:
                where["planted"] += 1
                found.add(index)
                if inserts[index].label == rule:
                    exact.add(index)
    planted = [i for i, insert in enumerate(inserts) if insert.kind == "planted"]
    clean_lines = sum(d.text.count("\n") + 1 - len(d.inserted) for d in docs)
    figures = {
        "findings": sum(where.values()),
        "findings_by_place": dict(where),
        "planted_found": len(found),
        "planted_recall": round(len(found) / len(planted), 4),
        "planted_found_with_its_rule_id": len(exact),
        "false_positives_clean": where["clean"],
        "false_positives_clean_per_10k_lines": round(1e4 * where["clean"] / clean_lines, 2),
        "false_positives_clean_top": clean_ids.most_common(10),
        "false_positives_clean_where": clean_where,
        "false_positives_bait": where["bait"],
        "false_positives_bait_top": bait_ids.most_common(10),
        "false_positives_bait_kinds": dict(bait_kinds.most_common()),
    }
    return figures, found


def timed(scan: Scan, docs: list[Doc]) -> tuple[float, float, list[list[tuple[int, str]]]]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = scan(docs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def corpus_section(args: argparse.Namespace, result: dict[str, Any]) -> None:
    docs, inserts = build_corpus(args.megabytes, args.seed)
    clean = [Doc(d.name, "\n".join(_clean_lines(d)), {}) for d in docs]
    megabytes = sum(len(d.text.encode("utf-8")) for d in docs) / MB
    scanner = SecretScanner()
    scans: dict[str, Scan] = {"tau": tau_scan(scanner)}
    peer = detect_secrets_scan()
    settings: AbstractContextManager[Any] = nullcontext()
    tools: dict[str, Any] = {"tau": {"rules": len(RULES)}}
    if isinstance(peer, str):
        tools["detect_secrets"] = {"error": peer}
    else:
        scans["detect_secrets"], settings, mode = peer
        tools["detect_secrets"] = {"mode": mode}
    walls: dict[str, list[float]] = {name: [] for name in [*scans, "tau_clean_only"]}
    cpus: dict[str, list[float]] = {name: [] for name in walls}
    outputs: dict[str, list[list[tuple[int, str]]]] = {}
    with settings:
        # Warm-up: Tau's whole corpus (it compiles rules on first use; reported), the peer's
        # first files (loading its plugins). Every timed pass must find the same as the first.
        wall, _, outputs["tau"] = timed(scans["tau"], docs)
        tools["tau"]["first_pass_s"] = round(wall, 3)
        if "detect_secrets" in scans:
            scans["detect_secrets"](docs[:5])
        rng = random.Random(args.seed)
        for _ in range(args.runs):
            order = [*scans, "tau_clean_only"]
            rng.shuffle(order)
            for name in order:
                if name == "tau_clean_only":
                    wall, cpu, output = timed(scans["tau"], clean)
                else:
                    wall, cpu, output = timed(scans[name], docs)
                    if outputs.setdefault(name, output) != output:
                        raise SystemExit(f"{name} found different secrets in two passes")
                walls[name].append(wall)
                cpus[name].append(cpu)
    found: dict[str, set[int]] = {}
    for name in scans:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        figures, found[name] = accuracy(docs, inserts, outputs[name])
        tools[name].update(
            {
                "median_s": round(wall, 3),
                "mb_per_s": round(megabytes / wall, 3),
                "cpu_mb_per_s": round(megabytes / cpu, 3) if cpu else None,
                "runs_s": [round(w, 3) for w in walls[name]],
                **figures,
            }
        )
    clean_mb = sum(len(d.text.encode("utf-8")) for d in clean) / MB
    tools["tau"]["clean_only_mb_per_s"] = round(
        clean_mb / statistics.median(walls["tau_clean_only"]), 3
    )
    tools["tau"]["planted_missed_rules"] = sorted(
        {x.label for i, x in enumerate(inserts) if x.kind == "planted"}
        - {inserts[i].label for i in found["tau"]}
    )
    if "detect_secrets" in scans:
        tau_t, ds_t = statistics.median(walls["tau"]), statistics.median(walls["detect_secrets"])
        tau_c, ds_c = statistics.median(cpus["tau"]), statistics.median(cpus["detect_secrets"])
        result["ratio_tau_over_detect_secrets_time"] = round(tau_t / ds_t, 4)
        result["ratio_tau_over_detect_secrets_cpu"] = round(tau_c / ds_c, 4) if ds_c else None
        result["speedup_tau_vs_detect_secrets"] = round(ds_t / tau_t, 1)
        only_ds = found["detect_secrets"] - found["tau"]
        result["planted_found_by_detect_secrets_not_tau"] = sorted(
            inserts[i].label for i in only_ds
        )
        result["planted_found_by_tau_not_detect_secrets"] = len(
            found["tau"] - found["detect_secrets"]
        )
    result["corpus"] = {
        "mb": round(megabytes, 3),
        "clean_mb": round(clean_mb, 3),
        "files": len(docs),
        "lines": sum(d.text.count("\n") + 1 for d in docs),
        "planted": sum(1 for x in inserts if x.kind == "planted"),
        "planted_rules": len({x.label for x in inserts if x.kind == "planted"}),
        "bait_lines": sum(1 for x in inserts if x.kind == "bait"),
        "seed": args.seed,
    }
    result["tools"] = tools


def _clean_lines(doc: Doc) -> list[str]:
    return [line for n, line in enumerate(doc.text.split("\n"), 1) if n not in doc.inserted]


# --- worst case -----------------------------------------------------------------------------


def _words(rng: random.Random, size: int) -> str:
    vocabulary = ["the", "scanner", "reads", "every", "line", "of", "text", "and", "keeps", "going"]
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(vocabulary)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _nested_base64(size: int) -> str:
    """Printable text base64-encoded five times, about *size* characters in all."""
    text = _words(random.Random(1), int(size * (3 / 4) ** 5)).encode()
    for _ in range(5):
        text = base64.b64encode(text)
    return text.decode()


PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "one_line_of_a": lambda n: "a" * n,
    "newlines": lambda n: "\n" * n,
    "base64_binary_run": lambda n: base64.b64encode(
        random.Random(2).randbytes(n * 3 // 4)
    ).decode(),
    "base64_text_run": lambda n: base64.b64encode(
        _words(random.Random(3), n * 3 // 4).encode()
    ).decode(),
    "base64_nested_5": _nested_base64,
    "password_eq_repeated": lambda n: _repeat("password=", n),
    "pem_begin_repeated": lambda n: _repeat("-----BEGIN ", n),
    "pem_header_no_end": lambda n: (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + _repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwYWJjZGVmZ2hpamts\n", n - 32)
    ),
    "percent_41_run": lambda n: _repeat("%41", n),
    "equals_run": lambda n: "=" * n,
    "aws_secret_prefixes": lambda n: _repeat("aws_secret_access_key=", n),
    "json_escaped_lines": lambda n: _repeat('{"api_key": "\\n\\u0041\\\\", "token": ', n),
}


PATHOLOGICAL_INJECTION: dict[str, Callable[[int], str]] = {
    "html_comment_open_repeated": lambda n: _repeat("<!--", n),
    "ignore_previous_repeated": lambda n: _repeat("ignore all previous ", n),
    "zero_width_run": lambda n: "\u200b" * n,
    "tag_characters_run": lambda n: _repeat("\U000e0041", n // 4),
}


def _time_inputs(
    check: Callable[[str], Any], inputs: dict[str, Callable[[int], str]], sizes: Any, passes: Any
) -> dict[str, Any]:
    section: dict[str, Any] = {}
    worst = ("", 0.0)
    for name, make in inputs.items():
        cpu_per_mb: list[float] = []
        wall_per_mb: list[float] = []
        counts: list[int] = []
        for size, count in zip(sizes, passes, strict=True):
            text = make(int(size * MB))
            megabytes = len(text.encode("utf-8")) / MB
            best_wall = best_cpu = float("inf")
            for _ in range(count):
                gc.collect()
                wall, cpu = time.perf_counter(), time.process_time()
                findings = check(text)
                best_cpu = min(best_cpu, time.process_time() - cpu)
                best_wall = min(best_wall, time.perf_counter() - wall)
            cpu_per_mb.append(best_cpu / megabytes)
            wall_per_mb.append(best_wall / megabytes)
            counts.append(len(findings))
            if cpu_per_mb[-1] > worst[1]:
                worst = (f"{name} at {size:g} MB", cpu_per_mb[-1])
            del text, findings
        section[name] = {
            "cpu_s_per_mb": [round(x, 4) for x in cpu_per_mb],
            "wall_s_per_mb": [round(x, 4) for x in wall_per_mb],
            "findings": counts,
            "scaling_cpu": round(cpu_per_mb[-1] / cpu_per_mb[0], 2),
            "scaling_wall": round(wall_per_mb[-1] / wall_per_mb[0], 2),
        }
    rows = dict(section)
    section["max_cpu_s_per_mb"] = {"input": worst[0], "s_per_mb": round(worst[1], 4)}
    scaling = max((v["scaling_cpu"], k) for k, v in rows.items())
    section["max_scaling_cpu"] = {"input": scaling[1], "ratio": scaling[0]}
    section["linear"] = scaling[0] < LINEAR_BOUND
    return section


def worst_case_section(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Seconds per MB on pathological inputs, for the secret scanner and for the injection
    detector (on the same inputs plus its own), at three sizes."""
    from tau_safety._injection import InjectionDetector

    sizes = (0.1, 0.4, 1.0) if args.quick else (1.0, 4.0, 10.0)
    passes = (3, 2, 1)
    scanner = SecretScanner()
    scanner.scan(_words(random.Random(0), 10_000))  # compile the common rules
    detector = InjectionDetector()
    detector.scan(_words(random.Random(0), 10_000))
    section: dict[str, Any] = {"sizes_mb": list(sizes), "passes": list(passes)}
    section["secrets"] = _time_inputs(scanner.scan, PATHOLOGICAL, sizes, passes)
    section["injection"] = _time_inputs(
        detector.scan, {**PATHOLOGICAL, **PATHOLOGICAL_INJECTION}, sizes, passes
    )
    section["linear"] = section["secrets"]["linear"] and section["injection"]["linear"]
    result["worst_case"] = section


# --- main -----------------------------------------------------------------------------------


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a small corpus and small inputs")
    parser.add_argument("--megabytes", type=float, default=None, help="clean corpus size")
    parser.add_argument("--runs", type=int, default=None, help="timed passes per tool")
    parser.add_argument("--seed", type=int, default=5)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--worst-case", action="store_true", help="run only the worst-case inputs")
    only.add_argument("--no-worst-case", action="store_true", help="skip the worst-case inputs")
    args = parser.parse_args()
    if args.megabytes is None:
        args.megabytes = 0.25 if args.quick else 2.0
    if args.runs is None:
        args.runs = 2 if args.quick else 3

    started = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "secret_scan", "runs": args.runs}
    if not args.worst_case:
        corpus_section(args, result)
    if not args.no_worst_case:
        worst_case_section(args, result)
    result.update(
        {
            "total_s": round(time.perf_counter() - started, 1),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": {d: version(d) for d in ("tau-safety", "google-re2", "detect-secrets")},
        }
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
