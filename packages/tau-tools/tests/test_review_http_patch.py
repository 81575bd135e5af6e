"""Review findings for the http tool's body decoding and apply_patch's parser and engine.

* a compressed body (the server may send one whatever Accept-Encoding said) is inflated in
  bounded steps, so a gzip bomb, stacked or not, never sits in memory beyond the cap;
* ``parse_patch`` raises only ParseError, even for a lone surrogate or a rename without a target;
* a rename onto its own path modifies the file instead of deleting it;
* file modes are git's two (0o644, 0o755): setuid bits and world-writable modes are not applied.
"""

from __future__ import annotations

import asyncio
import gzip
import http.server
import stat
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tau_core import Authority, ToolCall, ToolCallContext, ToolResult
from tau_core.errors import ToolError
from tau_tools._http import HttpTool
from tau_tools._patch_apply import apply
from tau_tools._patch_parse import ParseError, parse_patch
from tau_tools._patch_tool import ApplyPatchTool

TEXT = b"".join(b"line %06d of a compressible text body\n" % i for i in range(20_000))


def _gzip_stream(total: int) -> bytes:
    """*total* zero bytes, gzip-compressed without holding them in memory."""
    comp = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [comp.compress(block) for _ in range(total // len(block))]
    return b"".join([*parts, comp.flush()])


BODIES: dict[str, tuple[bytes, str]] = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, coding = BODIES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Encoding", coding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    bomb = _gzip_stream(512 << 20)  # 512 MiB of zeros
    BODIES["/bomb"] = (bomb, "gzip")
    BODIES["/bomb2"] = (gzip.compress(bomb, 9), "gzip, gzip")
    BODIES["/gzip"] = (gzip.compress(TEXT), "gzip")
    BODIES["/deflate"] = (zlib.compress(TEXT), "deflate")
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    BODIES["/raw-deflate"] = (raw.compress(TEXT) + raw.flush(), "deflate")
    BODIES["/stacked"] = (zlib.compress(gzip.compress(TEXT)), "gzip, deflate")
    BODIES["/identity"] = (TEXT, "identity")
    BODIES["/unknown"] = (b"\x8b\x00\xffnot decoded", "br")
    BODIES["/corrupt"] = (b"\x1f\x8b\x08\x00garbage-garbage-garbage", "gzip")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def fetch(port: int, path: str, **extra: Any) -> ToolResult:
    tool = HttpTool()
    args = {"url": f"http://127.0.0.1:{port}{path}", **extra}
    context = ToolCallContext(
        call=ToolCall("c1", "http", args),
        spec=tool.spec,
        run_id="run",
        workdir=Path("/"),
        idempotency_key="run:1:c1",
        authority=Authority.parse([f"net:127.0.0.1:{port}"]),
    )
    return asyncio.run(tool.run(args, context))


@pytest.mark.parametrize("path", ["/bomb", "/bomb2"])
def test_a_compression_bomb_is_never_inflated_beyond_the_cap(port: int, path: str) -> None:
    tracemalloc.start()
    try:
        result = fetch(port, path, max_bytes=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.content["truncated"] is True
    assert result.content["bytes"] == 1000
    # httpx alone inflates a whole network read (64 KiB -> 64 MiB) or, stacked, all 512 MiB.
    assert peak < 32 << 20, f"peak {peak} bytes"


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/raw-deflate", "/stacked", "/identity"])
def test_compressed_bodies_are_decoded_exactly(port: int, path: str) -> None:
    whole = fetch(port, path, max_bytes=len(TEXT))
    assert whole.content["truncated"] is False
    assert whole.content["body"] == TEXT.decode()
    cut = fetch(port, path, max_bytes=100_001)
    assert cut.content["truncated"] is True and cut.content["bytes"] == 100_001
    assert str(cut.content["body"]).startswith(TEXT[:100_001].decode())


def test_an_unknown_coding_is_passed_on_as_received(port: int) -> None:
    result = fetch(port, "/unknown")
    assert result.content["bytes"] == len(BODIES["/unknown"][0])
    assert str(result.content["body"]).endswith("not decoded")


def test_a_corrupt_compressed_body_is_a_tool_error(port: int) -> None:
    with pytest.raises(ToolError) as info:
        fetch(port, "/corrupt")
    assert info.value.code == "http_error"


@pytest.mark.parametrize(
    "patch",
    [
        "\ud800",
        "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-\udbff\n+x\n",
        "diff --git \nrename from x\n",
        "diff --git a/x b/x\ndeleted file mode 100644\nrename from x\n",
    ],
)
def test_hostile_patches_raise_only_parse_errors(patch: str) -> None:
    with pytest.raises(ParseError):
        parse_patch(patch)


def test_raw_bytes_smuggled_as_low_surrogates_still_parse() -> None:
    parsed = parse_patch("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-\udcff\n+x\n")
    plan = apply(parsed.items, {"f": b"\xff\n"}.get)
    assert [(c.path, c.content) for c in plan.changes] == [("f", b"x\n")]


def call_tool(ws: Path, patch: str) -> ToolResult:
    tool = ApplyPatchTool()
    arguments = {"patch": patch}
    tool.capabilities(arguments, ws)
    context = ToolCallContext(
        call=ToolCall("call-1", "apply_patch", arguments),
        spec=tool.spec,
        run_id="run-1",
        workdir=ws,
        idempotency_key="run-1:1:call-1",
    )
    return asyncio.run(tool.run(arguments, context))


@pytest.mark.parametrize("target", ["f", "f/", "./f"])
def test_a_rename_onto_its_own_path_never_deletes_the_file(tmp_path: Path, target: str) -> None:
    (tmp_path / "f").write_bytes(b"a\nb\n")
    bare = call_tool(tmp_path, f"diff --git a/f b/f\nrename from f\nrename to {target}\n")
    assert bare.ok
    assert (tmp_path / "f").read_bytes() == b"a\nb\n"
    with_hunk = call_tool(
        tmp_path,
        f"diff --git a/f b/f\nrename from f\nrename to {target}\n--- a/f\n+++ b/f\n"
        "@@ -1,2 +1,2 @@\n a\n-b\n+c\n",
    )
    assert with_hunk.ok
    assert (tmp_path / "f").read_bytes() == b"a\nc\n"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("104755", 0o755), ("106777", 0o755), ("100777", 0o755), ("100666", 0o644),
     ("100000", 0o644), ("100600", 0o644), ("100744", 0o755)],
)  # fmt: skip
def test_only_gits_two_file_modes_are_applied(tmp_path: Path, mode: str, expected: int) -> None:
    (tmp_path / "f").write_bytes(b"a\n")
    (tmp_path / "f").chmod(0o644)
    result = call_tool(tmp_path, f"diff --git a/f b/f\nold mode 100644\nnew mode {mode}\n")
    assert result.ok
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == expected
    created = call_tool(
        tmp_path,
        f"diff --git a/n b/n\nnew file mode {mode}\n--- /dev/null\n+++ b/n\n@@ -0,0 +1 @@\n+x\n",
    )
    assert created.ok
    assert stat.S_IMODE((tmp_path / "n").stat().st_mode) == expected
