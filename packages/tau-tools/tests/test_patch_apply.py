"""The pure patch engine: git's placement, lenient layers, already-applied, failures."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tau_tools._patch_apply import PatchFailure, PatchPlan, apply, split_lines
from tau_tools._patch_parse import parse_patch

BASE = b"".join(f"line {i}\n".encode() for i in range(1, 21))


def run(patch: str | bytes, files: dict[str, bytes]) -> PatchPlan:
    return apply(parse_patch(patch).items, files.get)


def result(plan: PatchPlan, files: dict[str, bytes]) -> dict[str, bytes]:
    out = dict(files)
    for change in plan.changes:
        if change.content is None:
            out.pop(change.path, None)
        else:
            out[change.path] = change.content
    return out


def udiff(old: bytes, new: bytes, path: str = "f") -> bytes:
    """A unified diff by difflib (an independent producer of the format)."""
    lines = difflib.diff_bytes(
        difflib.unified_diff,
        split_lines(old),
        split_lines(new),
        f"a/{path}".encode(),
        f"b/{path}".encode(),
    )
    return b"".join(lines)


HUNK_AT_10 = "--- a/f\n+++ b/f\n@@ -9,3 +9,3 @@\n line 9\n-line 10\n+LINE TEN\n line 11\n"


def test_clean_hunk_is_placed_where_stated() -> None:
    plan = run(HUNK_AT_10, {"f": BASE})
    assert result(plan, {"f": BASE})["f"] == BASE.replace(b"line 10\n", b"LINE TEN\n")
    (p,) = plan.placements
    assert (p.layer, p.line, p.offset, p.noteworthy) == ("exact", 9, 0, False)


def test_offset_is_found_like_git_and_reported() -> None:
    moved = b"new 1\nnew 2\nnew 3\n" + BASE
    plan = run(HUNK_AT_10, {"f": moved})
    (p,) = plan.placements
    assert (p.layer, p.line, p.offset) == ("exact", 12, 3)
    assert "offset +3 lines" in p.describe()


def test_git_prefers_the_nearest_match_and_forward_on_ties() -> None:
    # "x" context appears 2 lines before and 2 lines after the stated place; git tries
    # pos, pos+1, pos-1, pos+2, pos-2 … so the later copy wins.
    data = b"a\nx\nq\nb\nc\nx\nq\nd\n"
    patch = "--- a/f\n+++ b/f\n@@ -4,2 +4,3 @@\n x\n+inserted\n q\n"
    plan = run(patch, {"f": data})
    (p,) = plan.placements
    assert (p.line, p.offset) == (6, 2)
    assert result(plan, {"f": data})["f"] == b"a\nx\nq\nb\nc\nx\ninserted\nq\nd\n"


def test_hunk_at_line_one_must_match_at_the_beginning_like_git() -> None:
    patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n line 1\n-line 2\n+LINE 2\n"
    with pytest.raises(PatchFailure) as info:
        run(patch, {"f": b"header\n" + BASE})
    assert info.value.code == "hunk_failed"


def test_hunk_without_trailing_context_must_match_at_the_end() -> None:
    patch = "--- a/f\n+++ b/f\n@@ -19,2 +19,3 @@\n line 19\n line 20\n+line 21\n"
    plan = run(patch, {"f": BASE})
    assert result(plan, {"f": BASE})["f"].endswith(b"line 20\nline 21\n")
    with pytest.raises(PatchFailure) as info:
        run(patch, {"f": BASE + b"trailer\n"})
    assert "must end at the end of the file" in str(info.value)


def test_crlf_file_with_lf_patch_matches_through_the_whitespace_layer() -> None:
    crlf = BASE.replace(b"\n", b"\r\n")
    plan = run(HUNK_AT_10, {"f": crlf})
    (p,) = plan.placements
    assert p.layer == "whitespace" and p.noteworthy
    assert result(plan, {"f": crlf})["f"] == crlf.replace(b"line 10\r\n", b"LINE TEN\r\n")


def test_crlf_patch_for_crlf_file_applies_exactly() -> None:
    crlf = BASE.replace(b"\n", b"\r\n")
    patch = HUNK_AT_10.replace("\n", "\r\n")
    plan = run(patch, {"f": crlf})
    assert plan.placements[0].layer == "exact"
    assert result(plan, {"f": crlf})["f"] == crlf.replace(b"line 10\r\n", b"LINE TEN\r\n")


def test_trailing_whitespace_difference_is_reported_and_keeps_the_files_lines() -> None:
    data = BASE.replace(b"line 9\n", b"line 9   \n")
    plan = run(HUNK_AT_10, {"f": data})
    assert plan.placements[0].layer == "whitespace"
    assert result(plan, {"f": data})["f"] == data.replace(b"line 10\n", b"LINE TEN\n")


def test_indentation_layer_reindents_added_lines() -> None:
    data = b"class A:\n    def f(self):\n        a = 1\n        b = 2\n        return a\n"
    patch = "--- a/f\n+++ b/f\n@@ -3,3 +3,4 @@\n a = 1\n b = 2\n+c = 3\n return a\n"
    plan = run(patch, {"f": data})
    assert plan.placements[0].layer == "indent"
    assert result(plan, {"f": data})["f"] == data.replace(b"b = 2\n", b"b = 2\n        c = 3\n")


def test_a_change_placed_by_a_lenient_layer_is_found_again_as_applied() -> None:
    block = "f\n<<<<<<< SEARCH\n    b = 2\n=======\n    b = 3\n>>>>>>> REPLACE\n"
    data = b"def f():\n        b = 2\n"
    plan = run(block, {"f": data})
    assert plan.placements[0].layer == "indent"
    again = run(block, result(plan, {"f": data}))
    assert again.changes == () and again.already_applied
    crlf = BASE.replace(b"\n", b"\r\n")
    once = result(run(HUNK_AT_10, {"f": crlf}), {"f": crlf})
    assert run(HUNK_AT_10, once).already_applied


def test_ambiguous_lenient_match_is_refused() -> None:
    data = b"a  \nb\nz\na  \nb\n"
    patch = "--- a/f\n+++ b/f\n@@\n a\n-b\n+B\n"
    with pytest.raises(PatchFailure) as info:
        run(patch, {"f": data})
    assert info.value.code == "ambiguous_match"
    assert "lines 1, 4" in str(info.value)


def test_already_applied_patch_is_success_and_changes_nothing() -> None:
    done = BASE.replace(b"line 10\n", b"LINE TEN\n")
    plan = run(HUNK_AT_10, {"f": done})
    assert plan.changes == () and plan.already_applied
    assert "already applied" in plan.placements[0].describe()


def test_partly_applied_patch_applies_the_rest() -> None:
    patch = (
        "--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n line 2\n-line 3\n+LINE 3\n line 4\n"
        "@@ -15,3 +15,3 @@\n line 15\n-line 16\n+LINE 16\n line 17\n"
    )
    half = BASE.replace(b"line 3\n", b"LINE 3\n").replace(b"line 9\n", b"line nine\n")
    plan = run(patch, {"f": half})
    assert [p.layer for p in plan.placements] == ["already_applied", "exact"]
    assert result(plan, {"f": half})["f"] == half.replace(b"line 16\n", b"LINE 16\n")


def test_failure_reports_the_closest_region_with_line_numbers() -> None:
    data = BASE.replace(b"line 10\n", b"line ten\n")
    with pytest.raises(PatchFailure) as info:
        run(HUNK_AT_10, {"f": data})
    failure = info.value
    assert failure.code == "hunk_failed" and failure.file == "f" and failure.hunk == 1
    assert failure.closest is not None
    assert (failure.closest.start_line, failure.closest.first_difference) == (9, 10)
    assert failure.closest.expected_line == "line 10"
    text = str(failure)
    assert "lines 9-11" in text and "    10 | line ten" in text


def test_no_newline_at_end_of_file_is_added_and_removed_byte_exact() -> None:
    add = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n"
    assert result(run(add, {"f": b"a"}), {"f": b"a"})["f"] == b"a\n"
    remove = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n"
    assert result(run(remove, {"f": b"a\n"}), {"f": b"a\n"})["f"] == b"b"


def test_create_delete_rename_copy_and_mode() -> None:
    files = {"old.txt": b"bye\n", "from.py": b"x\n", "src.py": b"s\n", "run.sh": b"#!/bin/sh\n"}
    patch = """\
diff --git a/new.txt b/new.txt
new file mode 100755
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hi
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/from.py b/pkg/to.py
rename from from.py
rename to pkg/to.py
--- a/from.py
+++ b/pkg/to.py
@@ -1 +1 @@
-x
+y
diff --git a/src.py b/copy.py
copy from src.py
copy to copy.py
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
"""
    plan = run(patch, files)
    changes = {c.path: c for c in plan.changes}
    assert changes["new.txt"].content == b"hi\n" and changes["new.txt"].mode == 0o755
    assert changes["old.txt"].content is None and changes["from.py"].content is None
    assert changes["pkg/to.py"].content == b"y\n" and changes["pkg/to.py"].mode_from == "from.py"
    assert changes["copy.py"].content == b"s\n" and "src.py" not in changes
    assert changes["run.sh"].mode == 0o755 and changes["run.sh"].content == b"#!/bin/sh\n"
    # Everything again on the result: already applied, nothing changes.
    again = run(patch, result(plan, files))
    assert again.changes == () or all(c.path == "run.sh" for c in again.changes)


def test_create_over_a_different_existing_file_fails() -> None:
    patch = "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+new\n"
    with pytest.raises(PatchFailure) as info:
        run(patch, {"f": b"other\n"})
    assert info.value.code == "file_exists"
    assert run(patch, {"f": b"new\n"}).changes == ()


def test_modify_of_a_missing_file_fails_with_a_hint() -> None:
    with pytest.raises(PatchFailure) as info:
        run(HUNK_AT_10, {})
    assert info.value.code == "file_not_found" and "/dev/null" in info.value.hint


def test_delete_that_leaves_content_fails() -> None:
    patch = "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n"
    with pytest.raises(PatchFailure) as info:
        run(patch, {"f": b"a\nb\n"})
    assert info.value.code in ("delete_mismatch", "hunk_failed")


def test_symlink_mode_and_binary_patches_are_refused() -> None:
    with pytest.raises(PatchFailure, match="not a regular file"):
        run(
            "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+t\n",
            {},
        )
    with pytest.raises(PatchFailure) as info:
        run("diff --git a/p b/p\nBinary files a/p and b/p differ\n", {"p": b"\0"})
    assert info.value.code == "binary_patch"


def test_two_patches_to_one_file_compose_in_order() -> None:
    first = HUNK_AT_10
    second = "--- a/f\n+++ b/f\n@@ -10,2 +10,2 @@\n-LINE TEN\n+line X\n line 11\n"
    plan = run(first + second, {"f": BASE})
    assert result(plan, {"f": BASE})["f"] == BASE.replace(b"line 10\n", b"line X\n")


# -- search/replace blocks ----------------------------------------------------------------------


def test_block_replaces_a_unique_match_and_is_idempotent() -> None:
    block = "f\n<<<<<<< SEARCH\nline 5\n=======\nline 5\nline 5b\n>>>>>>> REPLACE\n"
    plan = run(block, {"f": BASE})
    new = result(plan, {"f": BASE})["f"]
    assert new == BASE.replace(b"line 5\n", b"line 5\nline 5b\n")
    again = run(block, {"f": new})
    assert again.changes == () and again.already_applied


def test_block_with_two_exact_matches_is_ambiguous() -> None:
    with pytest.raises(PatchFailure) as info:
        run("f\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", {"f": b"x\nz\nx\n"})
    assert info.value.code == "ambiguous_match"


def test_block_does_not_mistake_an_unrelated_replace_text_for_done_work() -> None:
    data = b"def foo():\n    pass\n\ndef bar():\n    pass\n"
    block = "f\n<<<<<<< SEARCH\ndef foo():\n=======\ndef bar():\n>>>>>>> REPLACE\n"
    plan = run(block, {"f": data})
    assert result(plan, {"f": data})["f"].startswith(b"def bar():\n    pass\n\ndef bar")


def test_block_with_empty_search_creates_a_file() -> None:
    block = "new.py\n<<<<<<< SEARCH\n=======\nprint(1)\n>>>>>>> REPLACE\n"
    assert result(run(block, {}), {})["new.py"] == b"print(1)\n"
    with pytest.raises(PatchFailure) as info:
        run(block, {"new.py": b"other\n"})
    assert info.value.code == "search_empty"


def test_block_that_matches_nowhere_shows_the_closest_lines() -> None:
    with pytest.raises(PatchFailure) as info:
        run("f\n<<<<<<< SEARCH\nline 7\nline 8x\n=======\nz\n>>>>>>> REPLACE\n", {"f": BASE})
    assert info.value.closest is not None and info.value.closest.start_line == 7


# -- properties ---------------------------------------------------------------------------------

_LINES = st.lists(
    st.sampled_from([b"a\n", b"b\n", b"c\n", b"\n", b"    d\n", b"e\r\n"]), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(_LINES, _LINES)
def test_property_a_diff_applies_to_give_the_new_file_and_then_counts_as_applied(
    old_lines: list[bytes], new_lines: list[bytes]
) -> None:
    old, new = b"".join(old_lines), b"".join(new_lines)
    patch = udiff(old, new)
    if not patch:
        return
    plan = run(patch, {"f": old})
    assert result(plan, {"f": old})["f"] == new
    assert all(p.layer == "exact" and p.offset == 0 for p in plan.placements)
    again = run(patch, {"f": new})
    assert again.changes == ()
