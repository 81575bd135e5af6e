"""Parse a shell command into the programs it would run, or refuse it.

The shell tool hands every program found here to tau-core as an ``exec:`` capability, so the
authority decides on each one before anything runs. The walk covers every simple command of
the bash AST (bashlex): pipelines, ``;``, ``&&``, ``||``, subshells and groups, ``if``/``for``/
``while`` bodies, function bodies, command substitution (``$(...)`` and backticks), process
substitution, and the strings given to ``eval``, ``trap``, ``bash -c`` and ``sh -c``.

It fails closed: what bashlex cannot parse, a program name that is computed (a variable, a
substitution, a glob, a tilde), and the bash features that run code the walk cannot see
(``source``, ``alias``, ``enable``, ``hash``, indirect or subscripted expansions fed by data,
``BASH_ENV``-style variables) are refused with a :class:`~tau_core.ToolError`.

Builtins that cannot run other code (``cd``, ``echo``, ``export``, …) need no grant. Programs
that run other programs themselves (``env``, ``xargs``, ``find -exec``, ``bash script.sh``) are
programs like any other: granting them accepts whatever they run.
"""

from __future__ import annotations

import re
from typing import Any

from attrs import frozen

from tau_core.errors import ToolError

__all__ = ["ParsedCommand", "parse_command"]

MAX_DEPTH = 6
"""How deep ``eval``/``bash -c`` strings may nest before the command is refused."""

SAFE_BUILTINS = frozenset(
    {
        ":", "true", "false", "cd", "pwd", "echo", "printf", "test", "[", "export", "unset",
        "set", "shift", "exit", "return", "local", "declare", "typeset", "readonly", "read",
        "wait", "break", "continue", "umask", "getopts", "kill", "jobs", "times", "type",
        "ulimit", "shopt", "mapfile", "readarray", "pushd", "popd", "dirs", "disown",
        "bg", "fg", "!",
    }
)  # fmt: skip
"""Builtins that run no other code; they need no ``exec:`` grant."""

_REFUSED_BUILTINS = {
    "source": "it runs a file's commands, which cannot be checked; run `bash FILE` instead",
    ".": "it runs a file's commands, which cannot be checked; run `bash FILE` instead",
    "alias": "aliases can hide which program runs",
    "unalias": "aliases can hide which program runs",
    "enable": "it can load builtins from shared objects",
    "hash": "`hash -p` can make a name run another program",
    "fc": "it re-runs commands from history",
    "history": "it can re-run commands",
    "bind": "it binds commands to keys",
    "complete": "completion specs run commands",
    "compgen": "`compgen -C` runs a command",
    "coproc": "coprocesses are not supported",
    "let": "arithmetic evaluates variables' values as expressions, which can run command "
    "substitutions; use expr",
}
_SHELLS = frozenset({"bash", "sh", "dash", "ksh", "zsh"})
_DECLARERS = frozenset({"export", "declare", "typeset", "local", "readonly"})
_DANGEROUS_NAMES = (
    r"(BASH_ENV|ENV|PS[0-4]|PROMPT_COMMAND|SHELLOPTS|BASHOPTS|BASH_LOADABLES_PATH|BASH_FUNC_.*"
    r"|BASH_CMDS|BASH_ALIASES|PATH|LD_PRELOAD|LD_AUDIT|LD_LIBRARY_PATH)(\[.*\])?"
)
_DANGEROUS_VARS = re.compile(rf"^{_DANGEROUS_NAMES}\+?=", re.DOTALL)
_DANGEROUS_TARGET = re.compile(rf"^{_DANGEROUS_NAMES}(\+?=.*)?$", re.DOTALL)
"""A variable that makes bash run code or pick programs (``PATH``, ``BASH_CMDS`` act like
``hash -p``; ``PS4`` is expanded by ``set -x``), as an assignment or an assigned name."""
_ASSIGNERS = frozenset({"read", "mapfile", "readarray", "getopts", "wait", "printf"})
_SUBSCRIPTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\+?=\(.*)?\[[^\]]*[A-Za-z_$`]", re.DOTALL)
"""``a[i]`` or ``a=([i]=1)``: an indexed array's subscript is arithmetic, and arithmetic
evaluates a variable's value (``i='b[$(cmd)]'``) as an expression, substitutions included."""
_ARITHMETIC_NAME = re.compile(r"[A-Za-z_$`]")
_PROGRAM_NAME = re.compile(r"^[A-Za-z0-9_.+/@%-][A-Za-z0-9_.+/@%:,-]*$")
_EXPANSIONS = ("commandsubstitution", "processsubstitution", "parameter", "tilde")


@frozen
class ParsedCommand:
    """What a shell command would run.

    Attributes:
        command: The command text as given.
        programs: Every program it may run (each needs an
            ``exec:`` grant), without duplicates.
        builtins: The shell builtins and functions it calls (they need no grant).
    """

    command: str
    programs: tuple[str, ...]
    builtins: tuple[str, ...]


def _refuse(command: str, why: str, hint: str) -> ToolError:
    return ToolError(
        f"the shell command {command!r} was refused: {why}", code="unsafe_command", hint=hint
    )


def parse_command(command: str) -> ParsedCommand:
    """Find every program *command* would run.

    Raises:
        ToolError: ``unparsable_command`` when bashlex cannot parse it; ``unsafe_command`` when
            it uses a construct whose programs cannot be known before it runs.
    """
    walker = _Walker(command)
    walker.walk_text(command, 0)
    unset = walker.unset & walker.function_calls or ("*" in walker.unset and walker.function_calls)
    if unset:
        raise walker.refuse(
            f"it unsets a function it calls ({', '.join(sorted(walker.function_calls))}), so "
            "the name may run the program of that name instead",
            "do not unset functions the command calls",
        )
    return ParsedCommand(command, tuple(walker.programs), tuple(walker.builtins))


class _Walker:
    def __init__(self, command: str) -> None:
        self.command = command
        self.programs: list[str] = []
        self.builtins: list[str] = []
        self.functions: dict[str, int] = {}
        self.unset: set[str] = set()  # names given to `unset` without -v ("*": computed)
        self.function_calls: set[str] = set()
        # Where calls are compared with function definitions: -1 at the top level (each call's
        # own position), an eval's or trap's position inside its string, None in a new shell
        # (bash -c), which sees none of the outer functions.
        self.origin: int | None = -1

    def refuse(self, why: str, hint: str = "write the command without it") -> ToolError:
        return _refuse(self.command, why, hint)

    def walk_text(self, text: str, depth: int, origin: int | None = -1) -> None:
        import bashlex  # type: ignore[import-untyped]  # heavy: imported only to parse

        if depth > MAX_DEPTH:
            raise self.refuse(f"eval/bash -c strings nest deeper than {MAX_DEPTH} levels")
        if not text.strip():
            return
        if "\x00" in text:
            raise self.refuse("it contains a NUL byte")
        try:
            trees = bashlex.parse(text)
        except (bashlex.errors.ParsingError, NotImplementedError, IndexError, TypeError, ValueError,
                AttributeError, AssertionError, RecursionError) as exc:  # fmt: skip
            raise ToolError(
                f"the shell command {self.command!r} could not be parsed ({exc}); commands that "
                "cannot be parsed are refused",
                code="unparsable_command",
                hint="simplify it: no arithmetic $((...)), [[ ]], case or coproc; use test/[ ], "
                "expr, if/for/while, or split it into several calls",
            ) from None
        if depth == 0:
            for tree in trees:
                self._collect_functions(tree)
        outer, self.origin = self.origin, origin
        try:
            for tree in trees:
                self.visit(tree, depth)
        finally:
            self.origin = outer

    def _collect_functions(self, tree: Any) -> None:
        """Record the functions the top level surely defines: not in a subshell, a pipeline,
        a group, a body or a branch, not after ``&&``/``||`` and not run in the background."""
        parts = tree.parts if tree.kind == "list" else [tree]
        for i, node in enumerate(parts):
            if node.kind != "function":
                continue
            before = parts[i - 1].op if i > 0 and parts[i - 1].kind == "operator" else ";"
            after = (
                parts[i + 1].op if i + 1 < len(parts) and parts[i + 1].kind == "operator" else ""
            )
            if before in (";", "\n", "&") and after != "&":
                name = next(p.word for p in node.parts if p.kind == "word")
                self.functions.setdefault(name, node.pos[0])

    def _is_function(self, name: str, pos: int) -> bool:
        if self.origin is None or name not in self.functions:
            return False
        return self.functions[name] < (pos if self.origin < 0 else self.origin)

    def _nested_origin(self, pos: int) -> int | None:
        """The origin for an eval or trap string found at *pos*."""
        if self.origin is None or self.origin >= 0:
            return self.origin
        return pos

    def visit(self, node: Any, depth: int) -> None:
        kind = node.kind
        if kind == "command":
            self.command_node(node, depth)
            return
        if kind in ("commandsubstitution", "processsubstitution"):
            self.visit(node.command, depth)
            return
        if kind == "parameter":
            self.check_parameter(node.value)
            return
        if kind == "heredoc":
            self.check_heredoc(node.value)
        if kind == "for":
            names = [p for p in node.parts if p.kind == "word"][:1]
            if names and _DANGEROUS_TARGET.match(names[0].word):
                raise self.refuse(f"the loop variable {names[0].word} can make the shell run code")
        if kind == "word" and "$[" in node.word:
            raise self.refuse("$[...] arithmetic is not supported")
        for child in _children(node):
            self.visit(child, depth)

    def check_heredoc(self, body: str) -> None:
        body = body.replace("\\\n", "")  # bash joins backslash-newline before expanding
        if "$(" in body or "`" in body or "$[" in body:
            raise self.refuse(
                "a here-document body holds a command substitution, which cannot be checked",
                "quote the delimiter (<<'EOF') and substitute nothing in the body",
            )
        for match in re.finditer(r"\$\{([^}]*)\}", body):
            self.check_parameter(match.group(1))

    def check_parameter(self, value: str) -> None:
        if "$(" in value or "`" in value:
            raise self.refuse("a parameter expansion holds a command substitution")
        if value.startswith("!"):
            raise self.refuse("indirect expansion ${!...} can evaluate data as code")
        if "@P" in value:
            raise self.refuse("${var@P} expands data as a prompt string, which runs code")
        name = re.match(r"#?(?:[A-Za-z_][A-Za-z0-9_]*(?:\[([^\]]*)\])?|[0-9]+|[@*#?$!-])", value)
        if name is not None:
            subscript, rest = name.group(1), value[name.end() :]
            if subscript not in (None, "@", "*") and _ARITHMETIC_NAME.search(subscript):
                raise self.refuse(
                    "an array subscript naming a variable is arithmetic, which can run the "
                    "variable's value as code",
                    "use a literal number as the subscript",
                )
            offset = rest[1:] if rest[:1] == ":" and rest[1:2] not in ("-", "=", "?", "+") else ""
            if _ARITHMETIC_NAME.search(offset):
                raise self.refuse(
                    "a substring offset naming a variable is arithmetic, which can run "
                    "the variable's value as code",
                    "use literal numbers for the offset and length",
                )
        if "[" in value and "$" in value.split("[", 1)[1]:
            raise self.refuse("an array subscript computed from a variable can run code")
        _, colon, rest = value.partition(":")
        if colon and rest[:1] not in ("-", "=", "?", "+") and "$" in rest:
            raise self.refuse("a substring offset computed from a variable can run code")

    def command_node(self, node: Any, depth: int) -> None:
        words = []
        for part in node.parts:
            if part.kind == "assignment":
                if (
                    _DANGEROUS_VARS.match(part.word)
                    or "$(" in _literal(part)
                    or "`" in _literal(part)
                ):
                    raise self.refuse(f"the assignment {part.word!r} can make the shell run code")
                self.visit(part, depth)
            elif part.kind == "word":
                words.append(part)
                self.visit(part, depth)
            else:
                self.visit(part, depth)
        if words:
            self.run_words(words, node.pos[0], depth)

    def run_words(self, words: list[Any], pos: int, depth: int, functions: bool = True) -> None:
        name = self.program_name(words[0])
        args = words[1:]
        if functions and self._is_function(name, pos):
            self.builtins.append(name)
            self.function_calls.add(name)
            return
        if name in _REFUSED_BUILTINS:
            raise self.refuse(f"{name!r} is not allowed: {_REFUSED_BUILTINS[name]}")
        if name == "eval":
            self.builtins.append(name)
            code = " ".join(self.literal_arg(w, name) for w in args)
            self.walk_text(code, depth + 1, self._nested_origin(pos))
            return
        if name == "trap":
            self.builtins.append(name)
            handler = [w for w in args if not w.word.startswith("-")][:1]
            if handler:
                code = self.literal_arg(handler[0], name)
                self.walk_text(code, depth + 1, self._nested_origin(pos))
            return
        if name in ("exec", "command", "builtin"):
            self.builtins.append(name)
            rest = list(args)
            options = []
            while rest and rest[0].word.startswith("-") and rest[0].word != "--":
                options.append(rest.pop(0).word)
                if options[-1] == "-a" and rest:  # exec -a NAME
                    rest.pop(0)
            if rest and rest[0].word == "--":
                rest.pop(0)
            if not rest or (name == "command" and {"-v", "-V"} & set(options)):
                return
            if name == "builtin" and rest[0].word not in SAFE_BUILTINS:
                raise self.refuse(f"`builtin {rest[0].word}` is not a builtin that runs no code")
            # `command` and `exec` skip functions: the name runs the program of that name.
            self.run_words(rest, pos, depth, functions=name == "builtin")
            return
        if name in SAFE_BUILTINS:
            self.builtins.append(name)
            self.check_builtin_args(name, args)
            if name == "unset":
                self.note_unset(args)
            return
        if name not in self.programs:
            self.programs.append(name)
        if name.rsplit("/", 1)[-1] in _SHELLS:
            self.shell_string(name, args, depth)

    def note_unset(self, args: list[Any]) -> None:
        words = [w for w in args if not w.word.startswith("-")]
        if any(w.word.startswith("-") and "v" in w.word for w in args):
            return  # `unset -v` removes variables only
        for w in words:
            self.unset.add("*" if _has_expansion(w) else str(w.word))

    def check_builtin_args(self, name: str, args: list[Any]) -> None:
        for i, w in enumerate(args):
            text = w.word
            if name in _DECLARERS and text.startswith("-") and ("n" in text or "i" in text):
                raise self.refuse(
                    f"`{name} {text}` (namerefs and integer variables) can run data as code"
                )
            if name in ("mapfile", "readarray") and text[:1] == "-" and "C" in text:
                raise self.refuse(f"`{name} -C` runs a callback command")
            if name in _DECLARERS and _DANGEROUS_VARS.match(text):
                raise self.refuse(f"setting {text.split('=')[0]} can make the shell run code")
            printed = name == "echo" or (name == "printf" and (i > 0 and args[i - 1].word != "-v"))
            assigns = name in _DECLARERS or name in _ASSIGNERS
            if not printed and assigns and _DANGEROUS_TARGET.match(text):
                raise self.refuse(
                    f"setting {text.split('=')[0]} with {name} can make the shell run code"
                )
            if not printed and _SUBSCRIPTED_NAME.match(text):
                raise self.refuse(
                    f"the argument {text!r} of {name} has an array subscript naming a variable; "
                    "subscripts are arithmetic, which can run the variable's value as code",
                    "use a literal number as the subscript",
                )
            if not printed and ("$(" in text or "`" in text) and not _has_substitution(w):
                raise self.refuse(f"the argument {text!r} of {name} can be evaluated as code")

    def shell_string(self, shell: str, args: list[Any], depth: int) -> None:
        for i, w in enumerate(args):
            if w.word.startswith("-") and not w.word.startswith("--") and "c" in w.word:
                rest = [a for a in args[i + 1 :]]
                if not rest:
                    return
                self.walk_text(self.literal_arg(rest[0], f"{shell} -c"), depth + 1, None)
                return
            if not w.word.startswith("-"):
                return

    def literal_arg(self, word: Any, what: str) -> str:
        if any(p.kind in _EXPANSIONS for p in _descendants(word)):
            raise self.refuse(
                f"the code given to {what} is computed ({word.word!r}), so its commands "
                "cannot be checked",
                "pass the code as a literal string",
            )
        return str(word.word)

    def program_name(self, word: Any) -> str:
        name = str(word.word)
        if any(p.kind in _EXPANSIONS for p in _descendants(word)):
            raise self.refuse(
                f"the program name {name!r} is computed by an expansion or substitution, so it "
                "cannot be checked against the exec grants",
                "name the program literally",
            )
        if not _PROGRAM_NAME.match(name) and name not in SAFE_BUILTINS:
            raise self.refuse(
                f"the program name {name!r} is not a plain name or path (globs, braces, tildes "
                "and quotes-with-spaces are refused)",
                "name the program literally, e.g. `ls` or `./run.sh`",
            )
        return name


def _children(node: Any) -> list[Any]:
    out: list[Any] = []
    for attr in ("parts", "list", "command", "output", "heredoc"):
        value = getattr(node, attr, None)
        if isinstance(value, list):
            out.extend(v for v in value if hasattr(v, "kind"))
        elif hasattr(value, "kind"):
            out.append(value)
    return out


def _descendants(node: Any) -> list[Any]:
    out = []
    stack = _children(node)
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(_children(n))
    return out


def _has_expansion(word: Any) -> bool:
    return any(p.kind in _EXPANSIONS for p in _descendants(word))


def _has_substitution(word: Any) -> bool:
    return any(p.kind in ("commandsubstitution", "processsubstitution") for p in _descendants(word))


def _literal(node: Any) -> str:
    return "" if _has_substitution(node) else str(node.word)
