"""The shell parser finds every program a command runs, or refuses the command."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tau_core.errors import ToolError
from tau_tools._shellparse import parse_command

FOUND = [
    ("ls -la", ["ls"]),
    ("ls | grep x | wc -l", ["ls", "grep", "wc"]),
    ("make; make test && git diff || false", ["make", "git"]),
    ("(cd src && pytest -q)", ["pytest"]),
    ("{ ls; id; }", ["ls", "id"]),
    ("echo $(whoami)", ["whoami"]),
    ("echo `uname -a`", ["uname"]),
    ("diff <(sort a) >(tee b)", ["diff", "sort", "tee"]),
    ("X=$(date) env", ["date", "env"]),
    ("cat > out <<EOF\nhello $HOME\nEOF\n", ["cat"]),
    ("x='a[$(id)]'", ["id"]),  # bashlex sees a substitution here: asking for more is safe
    ("if test -f x; then rm x; else touch x; fi", ["rm", "touch"]),
    ("for f in a b; do wc $f; done", ["wc"]),
    ("while false; do sleep 1; done", ["sleep"]),
    ("f() { grep -r x .; }; f", ["grep"]),
    ("function g { sed -n 1p x; }; g", ["sed"]),
    ("bash -c 'curl x | sh'", ["bash", "curl", "sh"]),
    ('sh -ec "touch a; rm b"', ["sh", "touch", "rm"]),
    ("eval 'ls; id'", ["ls", "id"]),
    ("trap 'rm -f tmp' EXIT; true", ["rm"]),
    ("exec python3 -c 1", ["python3"]),
    ("command -v git", []),
    ("command git status", ["git"]),
    ("./run.sh --fast", ["./run.sh"]),
    ("/usr/bin/env python3 x.py", ["/usr/bin/env"]),
    ("xargs rm < list", ["xargs"]),
    ("find . -exec rm {} \\;", ["find"]),
    ('"l"s', ["ls"]),
    ("cd src; echo hi; export A=1; pwd", []),
    ("sleep 5 &", ["sleep"]),
]


@pytest.mark.parametrize(("command", "programs"), FOUND, ids=[c for c, _ in FOUND])
def test_every_program_is_found(command: str, programs: list[str]) -> None:
    assert sorted(parse_command(command).programs) == sorted(programs)


REFUSED = [
    ("$CMD arg", "unsafe_command"),
    ("${CMD} arg", "unsafe_command"),
    ("$(echo rm) -rf x", "unsafe_command"),
    ("`echo rm` x", "unsafe_command"),
    ("~/bin/tool", "unsafe_command"),
    ("/usr/bin/r* x", "unsafe_command"),
    ("{rm,-rf,x}", "unsafe_command"),
    ('eval "$X"', "unsafe_command"),
    ('bash -c "$X"', "unsafe_command"),
    ('sh -c "$(cat script)"', "unsafe_command"),
    ("source ./env.sh", "unsafe_command"),
    (". ./env.sh", "unsafe_command"),
    ("alias ls=rm", "unsafe_command"),
    ("hash -p /bin/rm ls", "unsafe_command"),
    ("enable -f ./x.so x", "unsafe_command"),
    ("BASH_ENV=./evil.sh bash -c true", "unsafe_command"),
    ("export BASH_ENV=./evil.sh", "unsafe_command"),
    ("LD_PRELOAD=./x.so ls", "unsafe_command"),
    ("echo ${x:-$(id)}", "unsafe_command"),
    ("echo ${!ref}", "unsafe_command"),
    ("echo ${a[$i]}", "unsafe_command"),
    ("read 'a[$(id)]'", "unsafe_command"),
    ("let 'a[$(id)]=1'", "unsafe_command"),
    ("declare -n ref=x", "unsafe_command"),
    ("declare -i n; read n", "unsafe_command"),
    ("mapfile -C cb arr", "unsafe_command"),
    ("cat <<EOF\n$(id)\nEOF\n", "unsafe_command"),
    ("builtin eval ls", "unsafe_command"),
    ("echo $((1 + 2))", "unparsable_command"),
    ("[[ -f x ]] && ls", "unparsable_command"),
    ("case x in x) ls;; esac", "unparsable_command"),
    ("coproc ls", "unparsable_command"),
    ("echo 'unterminated", "unparsable_command"),
    ("ls )", "unparsable_command"),
]


@pytest.mark.parametrize(("command", "code"), REFUSED, ids=[c for c, _ in REFUSED])
def test_what_cannot_be_checked_is_refused(command: str, code: str) -> None:
    with pytest.raises(ToolError) as info:
        parse_command(command)
    assert info.value.code == code
    assert command.split("\n", maxsplit=1)[0][:10] in str(info.value)
    assert info.value.hint


def test_a_function_called_before_its_definition_is_a_program() -> None:
    # bash would run the program `ls` first: it must need a grant.
    assert parse_command("ls; ls() { id; }").programs == ("ls", "id")


def test_nesting_is_bounded() -> None:
    command = "true"
    for _ in range(10):
        command = f"bash -c {command!r}".replace("'", "'\\''", 0)
        command = "eval " + repr(command)
    with pytest.raises(ToolError):
        parse_command(command)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" abc$()`;|&<>'\"\\{}\n=-!*", max_size=40))
def test_arbitrary_input_is_parsed_or_refused_never_crashes(text: str) -> None:
    try:
        parsed = parse_command(text)
    except ToolError as exc:
        code = exc.code
    else:
        code = "parsed"
        assert all(p and "$" not in p and "`" not in p for p in parsed.programs)
    assert code in ("parsed", "unsafe_command", "unparsable_command")
