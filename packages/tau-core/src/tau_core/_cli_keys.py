"""``tau keys``: manage secrets in the encrypted credential store.

``tau keys set NAME`` reads the value from standard input when it is not a terminal, else from
a hidden prompt; never from the command line, where it would land in shell history and process
listings. No command prints a value. ``list`` shows names and metadata only.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._cli import _Parser, print_json
from ._config import load_config

if TYPE_CHECKING:
    from ._credentials import CredentialStore
from .errors import CredentialError, UsageError

__all__ = ["add_parser"]

_NOT_ON_ARGV = (
    "refusing to take a secret from the command line, where it would land in shell history "
    "and process listings; the extra argument is not shown"
)


class _KeysParser(_Parser):
    """A parser that keeps stray arguments for the handler instead of echoing them.

    argparse's own "unrecognized arguments: ..." message would print a secret typed on the
    command line (``tau keys set openai sk-...``) to the terminal and to CI logs.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extra = super().parse_known_args(args, namespace)
        parsed.unexpected = [*getattr(parsed, "unexpected", []), *extra]
        return parsed, []


def add_parser(sub: Any, name: str, help_text: str) -> None:
    """Add ``tau keys`` and its subcommands to the ``tau`` parser."""
    parser = sub.add_parser(
        name,
        help=help_text,
        description=help_text + ". Values are never printed; see docs/credentials.md.",
    )
    cmds = parser.add_subparsers(
        dest="keys_command", metavar="SUBCOMMAND", required=True, parser_class=_KeysParser
    )

    p = cmds.add_parser(
        "set",
        help="store a secret (value from standard input or a hidden prompt)",
        description="Store a secret under NAME. The value is read from standard input when it is "
        "not a terminal (one trailing newline is dropped), else from a hidden prompt; never "
        'from the command line. Example: printf %s "$TOKEN" | tau keys set github',
    )
    p.add_argument("name", metavar="NAME", help="the credential name, e.g. openai or GITHUB_TOKEN")
    p.add_argument(
        "-d", "--description", help="what the secret is for (kept when omitted on update)"
    )
    p.add_argument("--json", action="store_true", help="print the stored metadata as JSON")
    p.set_defaults(handler=cmd_set)

    p = cmds.add_parser("list", help="list names and metadata (never values)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {name, description, created_at, updated_at}",
    )
    p.set_defaults(handler=cmd_list)

    p = cmds.add_parser("rm", help="delete a secret")
    p.add_argument("name", metavar="NAME", help="the credential name")
    p.add_argument("--json", action="store_true", help="print {removed: NAME} as JSON")
    p.set_defaults(handler=cmd_rm)

    p = cmds.add_parser(
        "rotate",
        help="re-encrypt everything under a new master key (crash-safe)",
        description="Re-encrypt every secret under a new master key: a new random key in the OS "
        "keyring, or a new salt (and optionally a new passphrase) for passphrase stores. A crash "
        "at any point leaves every secret readable with the old or the new key.",
    )
    p.add_argument(
        "--new-passphrase",
        action="store_true",
        help="change the passphrase; the new one is read from standard input when it is not a "
        "terminal (first line), else from a hidden prompt (asked twice)",
    )
    p.add_argument(
        "--backend",
        choices=("keyring", "passphrase"),
        help="move the master key to the OS keyring or to a passphrase (default: keep it)",
    )
    p.add_argument("--json", action="store_true", help="print the new key id and KDF as JSON")
    p.set_defaults(handler=cmd_rotate)


def _refuse_extra(args: argparse.Namespace, command: str) -> None:
    """Refuse stray arguments without echoing them: they may be a secret typed on argv."""
    if not getattr(args, "unexpected", None):
        return
    if command == "set":
        raise UsageError(
            f"tau keys set: {_NOT_ON_ARGV}; pipe the value in "
            "(printf %s VALUE | tau keys set NAME) or type it at the hidden prompt"
        )
    if command == "rotate":
        raise UsageError(
            f"tau keys rotate: {_NOT_ON_ARGV}; --new-passphrase takes no value: the new "
            "passphrase is read from standard input or a hidden prompt"
        )
    raise UsageError(
        f"tau keys {command}: unexpected extra argument(s), not shown in case they are secrets; "
        f"see `tau keys {command} --help`"
    )


def _open_store() -> CredentialStore:
    from ._credentials import CredentialStore  # only when a keys command runs, not for --help

    return CredentialStore.open(load_config())


def _read_secret(what: str, *, passphrase: bool) -> str:
    """Read *what* from piped standard input, else from a hidden prompt.

    A piped value loses one trailing newline; a piped passphrase is the first line. A new
    passphrase typed at the prompt is asked twice.
    """
    if sys.stdin is not None and not sys.stdin.isatty():
        text = sys.stdin.read()
        if passphrase:
            text = text.splitlines()[0] if text else ""
        elif text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        if not text:
            raise UsageError(f"standard input was empty; pipe {what} in, e.g. printf %s VALUE |")
        return text
    try:
        value = getpass.getpass(f"{what[0].upper()}{what[1:]}: ")
        if passphrase and getpass.getpass("Repeat it: ") != value:
            raise UsageError(f"the two entries of {what} differ; nothing was changed")
    except EOFError:
        raise UsageError(f"no input for {what}; nothing was changed") from None
    if not value:
        raise UsageError(f"{what} is empty; nothing was changed")
    return value


def cmd_set(args: argparse.Namespace) -> int:
    """``tau keys set NAME``."""
    _refuse_extra(args, "set")
    from ._credentials import check_name

    name = check_name(args.name)
    value = _read_secret(f"the value of {name}", passphrase=False)
    store = _open_store()
    credential = store.set(name, value, description=args.description)
    if args.json:
        print_json(credential.metadata())
    else:
        print(f"set {name} in {store.path}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``tau keys list``: names and metadata, never values."""
    _refuse_extra(args, "list")
    store = _open_store()
    credentials = store.credentials()
    if args.json:
        print_json([c.metadata() for c in credentials])
        return 0
    if not credentials:
        print(f"no secrets in {store.path}")
        return 0
    width = max(len(c.name) for c in credentials)
    print(f"{'NAME'.ljust(width)}  {'UPDATED (UTC)'.ljust(19)}  DESCRIPTION")
    for c in credentials:
        updated = c.updated_at.strftime("%Y-%m-%d %H:%M:%S") if c.updated_at else ""
        print(f"{c.name.ljust(width)}  {updated.ljust(19)}  {c.description}")
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    """``tau keys rm NAME``."""
    _refuse_extra(args, "rm")
    store = _open_store()
    store.remove(args.name)
    if args.json:
        print_json({"removed": args.name})
    else:
        print(f"removed {args.name} from {store.path}")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    """``tau keys rotate``."""
    _refuse_extra(args, "rotate")
    store = _open_store()
    if not store.exists():
        raise CredentialError(
            f"nothing to rotate: there is no credential store at {store.path}; add a secret "
            "with `tau keys set NAME` first"
        )
    new_passphrase = None
    if args.new_passphrase:
        if args.backend == "keyring":
            raise UsageError("--new-passphrase and --backend keyring contradict each other")
        new_passphrase = _read_secret("the new passphrase", passphrase=True)
    info = store.rotate(new_passphrase=new_passphrase, backend=args.backend)
    if args.json:
        print_json(info.to_json())
    else:
        where = "the OS keyring" if info.backend == "keyring" else "a passphrase (Argon2id)"
        print(
            f"re-encrypted {info.count} secret(s) in {info.path} under new key {info.key_id} "
            f"from {where}"
        )
    return 0
