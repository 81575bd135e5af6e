"""SSE parse throughput of Tau's shared parser next to the ``openai`` SDK's decoder, in one run.

The input is a synthetic Chat Completions stream: *N* ``chat.completion.chunk`` events of the
shape OpenAI sends (``data: {json}`` plus a blank line), one with a tool-call delta every tenth,
a ``: keep-alive`` comment every hundredth, then ``data: [DONE]``. It is cut into chunks the way
a socket delivers them, in two splits: ``network`` (random 1–4096 byte pieces, seeded) and
``large`` (64 KiB pieces, httpx's default read size).

Variants, alternated round by round in a shuffled order, all in this process:

* ``tau``: ``tau_provider._sse.SSEParser`` fed every chunk, then ``close()``;
* ``openai``: ``openai._streaming.SSEDecoder().iter_bytes(...)`` over the same chunks, when the
  ``openai`` package is installed (nothing is installed by this script).

Only SSE parsing is timed (no JSON decoding). Each round's event data is checked equal across
variants. Figures: MB/s from the median round, and ``tau / openai`` ratios of median
throughput (above 1.0: Tau parses faster).

Usage: ``python bench/bench_sse.py [--events N] [--runs R] [--seed S]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

from tau_provider._sse import SSEParser

Parse = Callable[[list[bytes]], list[str]]


def build_stream(events: int, seed: int) -> bytes:
    """A Chat Completions stream with *events* chunks, deterministic for *seed*."""
    rng = random.Random(seed)
    words = ["the", "model", "streams", "tokens", "quickly", "über", "naïve", "日本語", "🙂", "\\n"]
    out: list[str] = []
    for i in range(events):
        if i % 10 == 9:
            delta: dict[str, Any] = {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": json.dumps({"path": f"src/f{i}.py"})}}
                ]
            }
        else:
            delta = {"content": " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))}
        chunk = {
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion.chunk",
            "created": 1741570283,
            "model": "gpt-4.1-2025-04-14",
            "system_fingerprint": "fp_b705f0c291",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
        }
        out.append(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n")
        if i % 100 == 99:
            out.append(": keep-alive\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def split(stream: bytes, how: str, seed: int) -> list[bytes]:
    """Cut *stream* as a socket would: random small pieces or 64 KiB reads."""
    if how == "large":
        return [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    rng = random.Random(seed)
    chunks, at = [], 0
    while at < len(stream):
        size = rng.randint(1, 4096)
        chunks.append(stream[at : at + size])
        at += size
    return chunks


def parse_tau(chunks: list[bytes]) -> list[str]:
    parser = SSEParser()
    data: list[str] = []
    for chunk in chunks:
        data.extend(event.data for event in parser.feed(chunk))
    parser.close()
    return data


def load_openai() -> Parse | str:
    """The openai SDK's decoder as a parse function, or why it is unavailable."""
    try:
        from openai._streaming import SSEDecoder
    except ImportError as exc:
        return "not installed" if exc.name and exc.name.startswith("openai") else str(exc)

    def parse_openai(chunks: list[bytes]) -> list[str]:
        return [event.data for event in SSEDecoder().iter_bytes(iter(chunks))]

    return parse_openai


def time_once(parse: Parse, chunks: list[bytes]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    data = parse(chunks)
    return time.perf_counter() - started, data


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()

    stream = build_stream(args.events, args.seed)
    megabytes = len(stream) / 1e6
    variants: dict[str, Parse] = {"tau": parse_tau}
    result: dict[str, Any] = {}
    openai = load_openai()
    if isinstance(openai, str):
        result["openai"] = {"error": openai}
    else:
        variants["openai"] = openai

    splits: dict[str, Any] = {}
    for how in ("network", "large"):
        chunks = split(stream, how, args.seed)
        times: dict[str, list[float]] = {name: [] for name in variants}
        rng = random.Random(args.seed)
        for name, parse in variants.items():  # warm-up, and the correctness check
            _, data = time_once(parse, chunks)
            if name == "tau":
                reference = data
                if len(reference) != args.events + 1 or reference[-1] != "[DONE]":
                    raise SystemExit("tau parsed the wrong number of events")
            elif data != reference:
                raise SystemExit(f"{name} parsed a different event sequence from tau")
        for _ in range(args.runs):
            order = list(variants)
            rng.shuffle(order)
            for name in order:
                elapsed, _ = time_once(variants[name], chunks)
                times[name].append(elapsed)
        figures: dict[str, Any] = {"chunks": len(chunks)}
        for name, samples in times.items():
            median = statistics.median(samples)
            figures[name] = {
                "median_ms": round(median * 1e3, 3),
                "mb_per_s": round(megabytes / median, 1),
                "events_per_s": round((args.events + 1) / median),
            }
        if "openai" in times:
            figures["ratio_tau_over_openai_throughput"] = round(
                statistics.median(times["openai"]) / statistics.median(times["tau"]), 2
            )
        splits[how] = figures

    result.update(
        {
            "benchmark": "sse_parse",
            "stream_mb": round(megabytes, 3),
            "events": args.events + 1,
            "runs": args.runs,
            "splits": splits,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "versions": {d: version(d) for d in ("tau-provider", "openai", "httpx")},
        }
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
