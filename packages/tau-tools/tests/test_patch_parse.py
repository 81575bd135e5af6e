"""The patch parser: git and plain diffs, search/replace blocks, tolerance, and fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tau_core.errors import ToolError
from tau_tools._patch_parse import FilePatch, ParseError, SearchReplace, parse_patch

GIT_MODIFY = """\
commit message text that git apply ignores

diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,3 +1,3 @@ def main():
 a
-b
+B
 c
"""


def only_file(patch: str | bytes) -> FilePatch:
    items = parse_patch(patch).items
    assert len(items) == 1
    assert isinstance(items[0], FilePatch)
    return items[0]


def test_git_modify_strips_prefixes_and_ignores_prose() -> None:
    fp = only_file(GIT_MODIFY)
    assert (fp.old_path, fp.new_path, fp.op) == ("src/app.py", "src/app.py", "modify")
    (hunk,) = fp.hunks
    assert (hunk.old_start, hunk.old_count, hunk.new_start, hunk.new_count) == (1, 3, 1, 3)
    assert hunk.lines == (
        (" ", b"a", False),
        ("-", b"b", False),
        ("+", b"B", False),
        (" ", b"c", False),
    )


def test_create_delete_rename_copy_and_modes() -> None:
    patch = """\
diff --git a/new.txt b/new.txt
new file mode 100755
index 0000000..1111111
--- /dev/null
+++ b/new.txt
@@ -0,0 +1,2 @@
+one
+two
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-gone
diff --git a/from.py b/pkg/to.py
similarity index 90%
rename from from.py
rename to pkg/to.py
--- a/from.py
+++ b/pkg/to.py
@@ -1 +1 @@
-x
+y
diff --git a/src.py b/copy.py
similarity index 100%
copy from src.py
copy to copy.py
diff --git a/run.sh b/run.sh
old mode 100644
new mode 100755
"""
    items = parse_patch(patch).items
    ops = [(i.op, i.old_path, i.new_path) for i in items if isinstance(i, FilePatch)]
    assert ops == [
        ("create", None, "new.txt"),
        ("delete", "old.txt", None),
        ("rename", "from.py", "pkg/to.py"),
        ("copy", "src.py", "copy.py"),
        ("modify", "run.sh", "run.sh"),
    ]
    create, _, _, copy, chmod = items
    assert isinstance(create, FilePatch) and create.new_mode == 0o100755
    assert isinstance(copy, FilePatch) and copy.hunks == ()
    assert isinstance(chmod, FilePatch) and (chmod.old_mode, chmod.new_mode) == (0o100644, 0o100755)
    assert parse_patch(patch).paths == [
        "new.txt", "old.txt", "from.py", "pkg/to.py", "src.py", "copy.py", "run.sh"
    ]  # fmt: skip


def test_quoted_paths_with_octal_escapes_and_spaces() -> None:
    patch = (
        'diff --git "a/caf\\303\\251 menu.txt" "b/caf\\303\\251 menu.txt"\n'
        '--- "a/caf\\303\\251 menu.txt"\n+++ "b/caf\\303\\251 menu.txt"\n'
        "@@ -1 +1 @@\n-a\n+b\n"
    )
    assert only_file(patch).path == "café menu.txt"


def test_unquoted_names_with_spaces_in_a_rename_free_header() -> None:
    patch = "diff --git a/my file.txt b/my file.txt\nold mode 100644\nnew mode 100755\n"
    assert only_file(patch).path == "my file.txt"


def test_plain_headers_with_timestamps_and_without_prefixes() -> None:
    patch = (
        "--- lib/x.c\t2024-01-01 10:00:00\n+++ lib/x.c\t2024-01-02 11:00:00\n@@ -1 +1 @@\n-a\n+b\n"
    )
    assert only_file(patch).path == "lib/x.c"  # taken as written, unlike git's -p1


def test_no_newline_markers_and_crlf_lines_are_kept_byte_exact() -> None:
    patch = (
        b"--- a/f\r\n+++ b/f\r\n@@ -1,2 +1,2 @@\r\n a\r\n-b\r\n"
        b"\\ No newline at end of file\r\n+c\r\n"
    )
    (hunk,) = only_file(patch).hunks
    assert hunk.lines == ((" ", b"a\r", False), ("-", b"b", True), ("+", b"c\r", False))


def test_wrong_counts_are_recounted_and_noted() -> None:
    too_big = "--- a/f\n+++ b/f\n@@ -1,9 +1,9 @@\n a\n-b\n+c\n d\n"
    parsed = parse_patch(too_big)
    (hunk,) = only_file(too_big).hunks
    assert (hunk.old_count, hunk.new_count) == (3, 3)
    assert "recounted" in parsed.notes[0]
    too_small = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n d\n e\n"
    (hunk,) = only_file(too_small).hunks
    assert (hunk.old_count, hunk.new_count) == (4, 4)


def test_right_counts_win_over_look_alike_headers_inside_a_hunk() -> None:
    # A removed "-- x" line followed by an added "++ y" line looks like a file header.
    patch = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n--- x\n+++ y\n z\n"
    (hunk,) = only_file(patch).hunks
    assert hunk.lines == (("-", b"-- x", False), ("+", b"++ y", False), (" ", b"z", False))


def test_format_patch_signature_is_not_part_of_the_hunk() -> None:
    patch = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n-- \n2.39.5\n"
    (hunk,) = only_file(patch).hunks
    assert len(hunk.lines) == 2
    assert parse_patch(patch).notes == ()


def test_bare_hunk_header_without_numbers() -> None:
    (hunk,) = only_file("--- a/f\n+++ b/f\n@@\n a\n-b\n+c\n").hunks
    assert not hunk.numbered and (hunk.old_count, hunk.new_count) == (2, 2)


def test_binary_patch_is_marked() -> None:
    patch = (
        "diff --git a/logo.png b/logo.png\nindex 1..2 100644\n"
        "Binary files a/logo.png and b/logo.png differ\n"
    )
    assert only_file(patch).is_binary


def test_search_replace_blocks_with_fences_and_a_reused_path() -> None:
    patch = """\
Change the greeting:

greet.py
```python
<<<<<<< SEARCH
print("hi")
=======
print("hello")
>>>>>>> REPLACE
<<<<<<< SEARCH
x = 1
=======
x = 2
>>>>>>> REPLACE
```
"""
    items = parse_patch(patch).items
    assert items == (
        SearchReplace("greet.py", b'print("hi")\n', b'print("hello")\n', 5),
        SearchReplace("greet.py", b"x = 1\n", b"x = 2\n", 10),
    )


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ("just prose, no patch\n", "no file patch"),
        ("@@ -1 +1 @@\n-a\n+b\n", "hunk without a file header"),
        ("--- a/f\n+++ b/f\n@@ -x +1 @@\n", "bad hunk header"),
        ("--- a/f\n+++ b/f\nno hunks here\n", "file header without hunks"),
        ("f.py\n<<<<<<< SEARCH\na\n=======\nb\n", "not closed"),
        ("<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n", "without a file path"),
        ("f.py\n<<<<<<< SEARCH\na\n>>>>>>> REPLACE\n", "out of order"),
        ('--- "a/unterminated\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n', "unterminated"),
        ("diff --git a/f b/f\nnew file mode 999999\n", "bad file mode"),
    ],
)
def test_malformed_patches_raise_parse_errors_naming_the_line(patch: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment) as info:
        parse_patch(patch)
    assert info.value.code == "invalid_patch"
    assert info.value.hint


# -- fuzzing ------------------------------------------------------------------------------------

_PIECES = [
    "diff --git a/f b/f\n", "--- a/f\n", "+++ b/f\n", "--- /dev/null\n", "+++ /dev/null\n",
    "@@ -1,3 +1,3 @@\n", "@@ -0,0 +1 @@\n", "@@ -1 +0,0 @@\n", "@@\n", "@@ -1,99 +1,1 @@\n",
    " ctx\n", "-old\n", "+new\n", "\n", "\r\n", "\\ No newline at end of file\n",
    "new file mode 100644\n", "deleted file mode 100644\n", "rename from x\n", "rename to y\n",
    "old mode 100644\n", "new mode 100755\n", "index 1..2\n", "Binary files a/f and b/f differ\n",
    "GIT binary patch\n", "f.py\n", "<<<<<<< SEARCH\n", "=======\n", ">>>>>>> REPLACE\n",
    "```\n", '"a/q\\303\n', 'diff --git "a/x y" "b/x y"\n', "-- \n", "--- \n", "+++ \n",
]  # fmt: skip


def _parse_or_parse_error(data: str | bytes) -> None:
    try:
        parsed = parse_patch(data)
    except ParseError:
        return
    for item in parsed.items:
        assert isinstance(item, FilePatch | SearchReplace)
    assert isinstance(parsed.paths, list)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=60))
def test_fuzz_structured_pieces_only_raise_parse_errors(pieces: list[str]) -> None:
    _parse_or_parse_error("".join(pieces))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_arbitrary_bytes_only_raise_parse_errors(data: bytes) -> None:
    _parse_or_parse_error(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=1000))
def test_fuzz_arbitrary_text_only_raise_tool_errors(text: str) -> None:
    with contextlib.suppress(ToolError):
        parse_patch(text)


@pytest.mark.parametrize(
    "unit",
    [
        "@@ -1,100000 +1,100000 @@\n",  # each hunk's counts run to the next header
        " x\n",  # one enormous hunk body
        "--- a/f\n+++ b/f\n",  # headers without hunks
        "diff --git a/f b/f\n",
        "f\n<<<<<<< SEARCH\n",
        "\\ No newline at end of file\n",
    ],
)
def test_large_adversarial_inputs_finish(unit: str) -> None:
    # 40,000 repetitions: a quadratic parser would take minutes here; this one is linear.
    body = "--- a/f\n+++ b/f\n@@ -1,1 +1,1 @@\n" + unit * 40_000
    _parse_or_parse_error(body)
