"""The journal: every run as an append-only event log in SQLite under ``TAU_HOME``.

Durability (see ``docs/journal.md``):

* One writer connection per database, WAL mode.
* ``synchronous = NORMAL`` by default: every committed event survives the process being
  killed; on power loss the last few commits may be lost, which only means repeating a model
  call or an idempotent tool call on resume.
* Intents of non-idempotent side effects are committed with ``synchronous = FULL`` (the WAL is
  fsynced) before the side effect starts, so even power loss cannot make Tau forget that a
  non-idempotent call may have happened. Set ``journal.synchronous = "full"`` to fsync every
  commit.
* Events are append-only: triggers refuse UPDATE and DELETE on the ``events`` table.
* Every event carries a hash chaining it to the one before (SHA-256 over the previous hash and
  the event's seq, kind, key, time and data; the first link is anchored to the run id and its
  spec), so editing, inserting or removing an event anywhere but at the end is detectable:
  :meth:`Journal.verify_chain` names the first broken link (``tau audit verify``).
* The database carries ``PRAGMA application_id`` (Tau's) and ``PRAGMA user_version`` (the schema
  version). A file that is not SQLite, not Tau's, corrupt, or from a newer Tau is refused with
  a clear error and never overwritten; older schemas are migrated in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import frozen

from ._events import Event
from .errors import JournalError, UsageError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SCHEMA_VERSION", "ChainCheck", "Journal", "RunRecord", "RunSummary"]

SCHEMA_VERSION = 2
APPLICATION_ID = 0x54415531  # "TAU1"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    parent_run_id TEXT,
    fork_seq INTEGER,
    spec TEXT NOT NULL
) STRICT;
CREATE TABLE events (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    seq INTEGER NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq),
    UNIQUE (run_id, key)
) STRICT;
CREATE INDEX events_kind ON events(run_id, kind);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'journal events are append-only'); END;
"""

# Version 2: the hash chain. Events written before it keep a NULL hash and are reported as
# unchained by verify_chain.
_SCHEMA_V2 = """
ALTER TABLE events ADD COLUMN hash TEXT;
"""

# version -> SQL that upgrades from version-1 to version
_MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2}

_CHAIN_TAG = "tau-journal-chain-v1"


@frozen
class RunSummary:
    """One line of ``tau sessions list``."""

    run_id: str
    created_at: float
    status: str
    reason: str | None
    goal: str
    events: int
    parent_run_id: str | None


@frozen
class RunRecord:
    """A run's fixed specification and its events."""

    run_id: str
    created_at: float
    spec: dict[str, Any]
    parent_run_id: str | None
    fork_seq: int | None
    events: tuple[Event, ...]

    @property
    def outcome(self) -> dict[str, Any] | None:
        for e in reversed(self.events):
            if e.kind == "outcome":
                return e.data
        return None


def default_path() -> Path:
    from ._config import tau_home

    return tau_home() / "journal.sqlite3"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-", time.gmtime()) + uuid.uuid4().hex[:8]


class Journal:
    """The run journal. One instance holds the single writer connection to its database.

    Args:
        path: The database file (default ``TAU_HOME/journal.sqlite3``).
        synchronous: ``normal`` (default) or ``full``; see the module docs.

    Raises:
        JournalError: The file is not a Tau journal, is corrupt, or is newer than this Tau.
    """

    def __init__(self, path: Path | str | None = None, *, synchronous: str = "normal") -> None:
        if synchronous not in ("normal", "full"):
            raise UsageError(f"journal synchronous={synchronous!r}; use 'normal' or 'full'")
        self.path = Path(path) if path is not None else default_path()
        self.synchronous = synchronous.upper()
        self._conn = self._open()
        self._in_tx = False

    # -- opening -------------------------------------------------------------------------------

    def _refuse(self, why: str) -> JournalError:
        return JournalError(
            f"{self.path} {why}; Tau did not change it. Move it aside (or point TAU_HOME "
            "elsewhere) to start a new journal, or restore it from a backup."
        )

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        exists = self.path.exists() and self.path.stat().st_size > 0
        if exists:
            with open(self.path, "rb") as fh:
                if fh.read(16) != _SQLITE_MAGIC:
                    raise self._refuse("is not an SQLite database")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._refuse(f"cannot be opened ({exc})") from None
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if exists and app_id != APPLICATION_ID and tables:
                raise self._refuse("is an SQLite database that does not belong to Tau")
            if version > SCHEMA_VERSION:
                raise self._refuse(
                    f"has journal schema {version}, newer than this Tau reads ({SCHEMA_VERSION}); "
                    "upgrade tau-core"
                )
            if not exists or version < SCHEMA_VERSION:
                if exists and version:
                    check = conn.execute("PRAGMA quick_check").fetchone()[0]
                    if check != "ok":
                        raise self._refuse(f"is corrupt ({check})")
                conn.execute("PRAGMA journal_mode=WAL")
                self._migrate(conn, version)
            else:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise self._refuse(f"cannot switch to WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise self._refuse(f"is corrupt or unreadable ({exc})") from None
        except JournalError:
            conn.close()
            raise
        if not exists:
            os.chmod(self.path, 0o600)
        return conn

    def _migrate(self, conn: sqlite3.Connection, current: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created or migrated the schema since *current* was read.
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _statements(_MIGRATIONS[version]):
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def create_run(
        self,
        spec: dict[str, Any],
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        fork_seq: int | None = None,
    ) -> str:
        """Record a new run and return its id."""
        import sqlite3

        run_id = run_id or new_run_id()
        try:
            self._conn.execute(
                "INSERT INTO runs(run_id, created_at, parent_run_id, fork_seq, spec) "
                "VALUES (?, ?, ?, ?, ?)",
                (run_id, time.time(), parent_run_id, fork_seq, _dumps(spec)),
            )
        except sqlite3.IntegrityError:
            raise UsageError(f"a run with id {run_id!r} already exists") from None
        except sqlite3.DatabaseError as exc:
            raise self._refuse(f"refused a write ({exc})") from None
        return run_id

    def append(
        self,
        run_id: str,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        durable: bool = False,
        commit: bool = True,
    ) -> Event:
        """Append one event. With *commit* false it joins an open transaction.

        Args:
            durable: Commit with ``synchronous=FULL`` (fsync) before returning.
        """
        import sqlite3

        at = time.time()
        text = _dumps(data)
        full = durable and self.synchronous != "FULL"
        try:
            if full:
                self.flush()  # the safety level can only change outside a transaction
                self._conn.execute("PRAGMA synchronous=FULL")
            if not self._in_tx:
                self._conn.execute("BEGIN IMMEDIATE")
                self._in_tx = True
            row = self._conn.execute(
                "SELECT seq, hash FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1",
                (run_id,),
            ).fetchone()
            if row is None:
                seq, prev = 1, self._anchor(run_id)
            else:
                seq, prev = row[0] + 1, row[1] or ""
            digest = _link(prev, seq, kind, key, at, text)
            self._conn.execute(
                "INSERT INTO events(run_id, seq, key, kind, at, data, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, seq, key, kind, at, text, digest),
            )
            if commit or durable:
                self.flush()
        except sqlite3.IntegrityError as exc:
            self._rollback()
            raise JournalError(f"run {run_id}: cannot append {kind} {key!r}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._rollback()
            raise self._refuse(f"refused a write ({exc})") from None
        finally:
            if full:
                self._conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return Event(run_id, seq, kind, key, data, at)

    def flush(self) -> None:
        """Commit the open transaction, if any."""
        if self._in_tx:
            self._in_tx = False
            self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self._in_tx:
            self._conn.execute("ROLLBACK")
            self._in_tx = False

    def fork(self, run_id: str, at_seq: int) -> str:
        """Start a new run whose history is *run_id*'s events up to and including *at_seq*.

        Raises:
            UsageError: The run or the event does not exist.
        """
        record = self.get_run(run_id)
        if not any(e.seq == at_seq for e in record.events):
            raise UsageError(f"run {run_id} has no event {at_seq} (it has 1..{len(record.events)})")
        new_id = self.create_run(record.spec, parent_run_id=run_id, fork_seq=at_seq)
        for e in record.events:
            if e.seq > at_seq:
                break
            self.append(new_id, e.kind, e.key, e.data, commit=False)
        self.append(new_id, "forked", "forked", {"from": run_id, "at_seq": at_seq})
        return new_id

    # -- reading -------------------------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        """A run and its events.

        Raises:
            UsageError: No such run; the message says how to list runs.
        """
        row = self._conn.execute(
            "SELECT run_id, created_at, parent_run_id, fork_seq, spec FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise UsageError(f"no run {run_id!r} in {self.path}; see `tau sessions list`")
        return RunRecord(
            row[0], row[1], json.loads(row[4]), row[2], row[3], tuple(self.events(run_id))
        )

    def events(self, run_id: str) -> Iterator[Event]:
        for seq, key, kind, at, data in self._conn.execute(
            "SELECT seq, key, kind, at, data FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        ):
            yield Event(run_id, seq, kind, key, json.loads(data), at)

    def hashes(self, run_id: str) -> dict[int, str | None]:
        """Each event's chain hash by seq (None for events written before the chain)."""
        return dict(self._conn.execute("SELECT seq, hash FROM events WHERE run_id = ?", (run_id,)))

    def runs(self) -> list[RunSummary]:
        out = []
        for run_id, created, parent, spec, count in self._conn.execute(
            "SELECT r.run_id, r.created_at, r.parent_run_id, r.spec, "
            "(SELECT count(*) FROM events e WHERE e.run_id = r.run_id) "
            "FROM runs r ORDER BY r.created_at, r.run_id"
        ):
            outcome = self._conn.execute(
                "SELECT data FROM events WHERE run_id = ? AND kind = 'outcome'", (run_id,)
            ).fetchone()
            status, reason = "interrupted", None
            if outcome is not None:
                data = json.loads(outcome[0])
                status, reason = data["status"], data.get("reason")
            goal = json.loads(spec).get("task", {}).get("goal", "")
            out.append(RunSummary(run_id, created, status, reason, goal, count, parent))
        return out

    def _anchor(self, run_id: str) -> str:
        row = self._conn.execute("SELECT spec FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _anchor(run_id, row[0] if row else "")

    def verify_chain(self, run_id: str) -> ChainCheck:
        """Recompute the run's hash chain and report the first broken link.

        Raises:
            UsageError: No such run.
        """
        self.get_run(run_id)  # a clear error for an unknown run
        rows = self._conn.execute(
            "SELECT seq, key, kind, at, data, hash FROM events WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
        prev = self._anchor(run_id)
        expected_seq = 1
        head = prev
        for seq, key, kind, at, data, stored in rows:
            if seq != expected_seq:
                return ChainCheck(
                    run_id,
                    False,
                    len(rows),
                    expected_seq,
                    f"event {expected_seq} is missing (the next one is {seq})",
                    head,
                )
            if stored is None:
                return ChainCheck(
                    run_id,
                    False,
                    len(rows),
                    seq,
                    f"event {seq} has no hash: it was written before the journal kept a "
                    "hash chain (schema 1), so this run cannot be verified",
                    head,
                )
            digest = _link(prev, seq, kind, key, at, data)
            if digest != stored:
                what = (
                    f"event {seq} ({kind} {key!r}) does not match its hash: it was changed "
                    "after it was written"
                    + (
                        f", or event {seq - 1} was rewritten together with its hash"
                        if seq > 1
                        else ", or the run's spec (task, authority) was changed"
                    )
                )
                return ChainCheck(run_id, False, len(rows), seq, what, head)
            prev = head = stored
            expected_seq += 1
        return ChainCheck(run_id, True, len(rows), None, "", head)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` or the problems found."""
        rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(r[0] for r in rows)


def _statements(script: str) -> list[str]:
    # Split on statement ends, keeping trigger bodies (which contain ';') whole.
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and (
            not text.upper().startswith("CREATE TRIGGER") or text.upper().endswith("END;")
        ):
            out.append(text)
            buf = []
    return out


@frozen
class ChainCheck:
    """The result of :meth:`Journal.verify_chain`.

    Attributes:
        run_id: The run checked.
        ok: Whether every link holds.
        events: How many events the run has.
        broken_at: The seq of the first broken link, or None.
        reason: What is wrong there, in words.
        head: The hash of the last event that verified (the anchor when none did).
    """

    run_id: str
    ok: bool
    events: int
    broken_at: int | None
    reason: str
    head: str


def _anchor(run_id: str, spec_text: str) -> str:
    return hashlib.sha256(f"{_CHAIN_TAG}\x1f{run_id}\x1f{spec_text}".encode()).hexdigest()


def _link(prev: str, seq: int, kind: str, key: str, at: float, data_text: str) -> str:  # noqa: PLR0917 - the fields of one link, in chain order
    h = hashlib.sha256()
    for part in (prev, str(seq), kind, key, repr(float(at)), data_text):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
