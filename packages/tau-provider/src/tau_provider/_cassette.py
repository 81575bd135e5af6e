"""Cassettes: record model traffic once, replay it in deterministic agent tests.

A cassette is one JSON file::

    {
      "schema": 1,
      "interactions": [
        {"model": "openai:gpt-4.1",            # the route's model spec
         "request": {...},                     # tau-core's stable JSON form, normalised
         "request_sha256": "…",                # hash of that normalised request
         "response": {...}}                    # a ModelResponse (or "error": a ProviderError)
      ]
    }

*Normalised* means: the run id left out of the request's metadata, registered and
secret-looking values replaced by ``[REDACTED]``, and placeholder paths (the pytest base
temporary directory, the project root, the current directory) written as ``[tau:NAME]``.
A replayed request is normalised the same way before it is compared, so a cassette recorded
in one checkout or temporary directory replays in another.

Recording appends each interaction as it completes and rewrites the file atomically (temporary
file, fsync, rename): a crash keeps everything recorded before it. Replaying hands out the
interactions in order, without calling the provider or touching ``context.client``; a request
that differs from the recorded one, or one more request than the cassette holds, is a
:class:`CassetteError` (a non-retryable ``ProviderError``: the run ends ``failed`` naming the
file, the interaction and the first differing field).

The hooks that use this module live in :mod:`tau_provider._plugin`; activation comes from
``TAU_CASSETTE`` / ``TAU_CASSETTE_PATH`` or from :func:`use_cassette` (the pytest fixture).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast

from attrs import define, field

from tau_core import errors
from tau_core._redact import REDACTED, Redactor
from tau_core.errors import ProviderError, ProviderHTTPError, UsageError

__all__ = [
    "DEFAULT_PATH",
    "SCHEMA",
    "Cassette",
    "CassetteError",
    "active_cassette",
    "parse_mode",
    "use_cassette",
]

Mode = Literal["record", "replay"]
SCHEMA = 1
"""The cassette format version this tau-provider writes and reads."""
DEFAULT_PATH = "tau-cassette.json"
"""Where ``TAU_CASSETTE`` records and replays when ``TAU_CASSETTE_PATH`` is not set."""
ENV_MODE = "TAU_CASSETTE"
ENV_PATH = "TAU_CASSETTE_PATH"
FIX = "re-record it with TAU_CASSETTE=record (or pytest --tau-cassette=record)"

# Values of environment variables with these words in their names are registered secrets.
_SECRET_ENV = re.compile(
    r"api_?key|token|secret|passw(?:or)?d|passphrase|credential|private_?key|access_?key",
    re.IGNORECASE,
)
_MIN_ENV_SECRET = 8  # shorter values ("1", "true") would mangle ordinary text
# Well-known credential formats, redacted even when nobody registered them.
_SECRET_LOOKING = re.compile(
    "|".join(
        (
            r"(?<![\w-])sk-[A-Za-z0-9_-]{16,}",  # OpenAI, Anthropic (sk-ant-), OpenRouter
            r"(?<![\w-])AIza[0-9A-Za-z_-]{35}",  # Google API keys
            r"(?<!\w)(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}",  # GitHub tokens
            r"(?<!\w)github_pat_[A-Za-z0-9_]{22,}",
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])",  # AWS access key ids
            r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
            r"(?<!\w)hf_[A-Za-z0-9]{30,}",  # Hugging Face
            r"(?<![\w-])glpat-[A-Za-z0-9_-]{20,}",  # GitLab
            r"(?<!\w)[rs]k_live_[A-Za-z0-9]{20,}",  # Stripe
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWTs
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
            r"(?<=[Bb]earer )[A-Za-z0-9._~+/-]{20,}=*",
        )
    )
)
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z0-9_]+")


class CassetteError(ProviderError):
    """A cassette cannot answer: mismatch, exhausted, unreadable, or not writable.

    Not retryable, so the run ends ``failed`` instead of falling back to another route.

    Attributes:
        path: The cassette file.
        index: The interaction concerned (its position in ``interactions``), when there is one.

    .. versionadded:: 0.1
    """

    retryable = False

    def __init__(self, message: str, *, path: Path, index: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.index = index


def parse_mode(value: str | None, *, source: str = ENV_MODE) -> Mode | None:
    """``record`` or ``replay`` from *value*; None when it is empty.

    Raises:
        UsageError: *value* is something else; the message names *source*.
    """
    mode = (value or "").strip().lower()
    if not mode:
        return None
    if mode not in ("record", "replay"):
        raise UsageError(
            f"{source}={value!r} is not a cassette mode: use record (call the provider and "
            "write the cassette) or replay (answer from the cassette), or leave it unset"
        )
    return cast(Mode, mode)


@define
class Cassette:
    """One cassette file, open for recording or for replaying.

    Build one with :meth:`open`. One cassette serves one sequence of model calls: recording
    appends in the order calls complete, replaying answers in the order calls are made.

    Attributes:
        path: The JSON file.
        mode: ``record`` or ``replay``.
        placeholders: Name → value; the value (a path) is written as ``[tau:NAME]`` and put
            back when a response is replayed.
        secrets: More values to redact besides the registered and secret-looking ones.

    .. versionadded:: 0.1
    """

    path: Path
    mode: Mode
    placeholders: dict[str, str] = field(factory=dict)
    secrets: tuple[str, ...] = ()
    _interactions: list[dict[str, Any]] = field(factory=list, alias="interactions")
    _position: int = field(default=0, alias="position")
    _lock: threading.Lock = field(factory=threading.Lock, init=False, repr=False, eq=False)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        mode: Mode,
        *,
        placeholders: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> Cassette:
        """Open *path*: ``record`` starts it empty (written at once), ``replay`` reads it.

        Raises:
            UsageError: *mode* or a placeholder name is invalid.
            CassetteError: Replaying a file that is missing, not JSON, from another schema, or
                malformed; recording into a place that cannot be written.
        """
        parse_mode(mode, source="mode")
        for name in placeholders or {}:
            if not _PLACEHOLDER_NAME.fullmatch(name):
                raise UsageError(
                    f"placeholder name {name!r} must be letters, digits and underscores"
                )
        subs = {k: v for k, v in (placeholders or {}).items() if v and v != os.sep}
        cassette = cls(Path(os.path.abspath(path)), mode, subs, tuple(secrets))
        if mode == "record":
            cassette._write([])
        else:
            cassette._interactions = cassette._load()
        return cassette

    @property
    def interactions(self) -> tuple[dict[str, Any], ...]:
        """The interactions as stored (normalised JSON)."""
        return tuple(self._interactions)

    @property
    def position(self) -> int:
        """Interactions replayed so far (replay) or recorded so far (record)."""
        return self._position if self.mode == "replay" else len(self._interactions)

    @property
    def unused(self) -> int:
        """Recorded interactions that no call has asked for yet (replay)."""
        return len(self._interactions) - self._position if self.mode == "replay" else 0

    # -- recording -----------------------------------------------------------------------------

    async def recording(self, context: Any, inner: Awaitable[Any]) -> Any:
        """Await the provider's answer to *context*'s request and append it."""
        try:
            response = await inner
        except ProviderError as exc:
            stream = getattr(context, "stream", None)
            self.record(
                context.model,
                context.request,
                error=exc,
                output_started=bool(getattr(stream, "started", False)),
                secrets=_client_secrets(context),
                redact=_run_redact(context),
            )
            raise
        from tau_core._messages import ModelResponse

        if isinstance(response, ModelResponse):  # anything else: core reports the plugin error
            self.record(
                context.model,
                context.request,
                response=response,
                secrets=_client_secrets(context),
                redact=_run_redact(context),
            )
        return response

    def record(
        self,
        model: str,
        request: Any,
        *,
        response: Any = None,
        error: ProviderError | None = None,
        output_started: bool = False,
        secrets: Iterable[str] = (),
        redact: Callable[[str], str] | None = None,
    ) -> None:
        """Append one interaction (a response, or a provider error) and rewrite the file.

        Args:
            model: The route's model spec (``provider:model``).
            request: The ModelRequest as sent to the provider.
            response: The ModelResponse it answered, or
            error: the ProviderError it raised.
            output_started: Text of the failed call had already reached the caller.
            secrets: Values to redact besides the registered and secret-looking ones.
            redact: The run's redaction (its redactor's ``text``: registered secrets and
                plugin filters such as tau-safety's scanner), applied first.

        Raises:
            UsageError: The cassette is not open for recording, or neither (or both) of
                *response* and *error* were given.
            CassetteError: The response is not JSON, or the file could not be written.
        """
        from tau_core._serialization import to_dict

        self._check_mode("record")
        if (response is None) == (error is None):
            raise UsageError("Cassette.record needs exactly one of response= and error=")
        clean = self._cleaner(secrets, redact)
        body = clean(_request_json(request))
        entry: dict[str, Any] = {"model": model, "request": body, "request_sha256": _sha(body)}
        if error is not None:
            entry["error"] = clean(_error_json(error, output_started))
        else:
            try:
                entry["response"] = clean(_json(to_dict(response)))
            except (TypeError, ValueError) as exc:
                raise CassetteError(
                    f"cannot record into cassette {self.path}: the {model} response is not "
                    f"JSON ({exc}); the provider returned a value Tau cannot store",
                    path=self.path,
                ) from None
        with self._lock:
            self._write([*self._interactions, entry])
            self._interactions.append(entry)

    def _check_mode(self, wanted: Mode) -> None:
        if self.mode != wanted:
            raise UsageError(
                f"cassette {self.path} is open for {self.mode}, not {wanted}: open it with "
                f"Cassette.open(path, {wanted!r}) (or use_cassette) to {wanted}"
            )

    def _write(self, interactions: list[dict[str, Any]]) -> None:
        from tau_core._fsutil import atomic_write

        text = json.dumps(
            {"schema": SCHEMA, "interactions": interactions},
            indent=2,
            sort_keys=True,
            ensure_ascii=False,
        )
        try:
            atomic_write(self.path, (text + "\n").encode(), mode=0o644)
        except OSError as exc:
            raise CassetteError(
                f"cannot write cassette {self.path}: {exc.strerror or exc}; check that its "
                "directory is writable and has space",
                path=self.path,
            ) from None

    # -- replaying -----------------------------------------------------------------------------

    def replaying(self, context: Any) -> Coroutine[Any, Any, Any]:
        """The next recorded answer to *context*'s request, as an awaitable.

        Never reads ``context.client``; a text answer reaches ``context.stream`` (when the
        core provides one) as one delta, as a streaming provider's would.
        """
        try:
            response = self.replay(context.model, context.request)
        except ProviderError as exc:
            failure = exc

            async def fail() -> Any:
                raise failure

            return fail()

        async def answer() -> Any:
            stream = getattr(context, "stream", None)
            if stream is not None and response.message.text:
                stream.delta(response.message.text)
            return response

        return answer()

    def replay(self, model: str, request: Any) -> Any:
        """Take the next interaction, check it matches, and return its ModelResponse.

        Raises:
            UsageError: The cassette is not open for replaying.
            CassetteError: The cassette is used up, or the request (or the model spec)
                differs from the recorded one.
            ProviderError: The recorded call failed; the same error is raised again.
        """
        from tau_core._messages import ModelResponse
        from tau_core._serialization import from_dict

        self._check_mode("replay")
        body = self._cleaner(())(_request_json(request))
        with self._lock:
            index = self._position
            if index >= len(self._interactions):
                raise CassetteError(
                    f"cassette {self.path} holds {len(self._interactions)} interaction(s) and "
                    f"this run asks for another ({model}, model request #{index + 1}): the run "
                    f"makes more model calls than when it was recorded; {FIX}",
                    path=self.path,
                    index=index,
                )
            entry = self._interactions[index]
            where = f"cassette {self.path}: interactions[{index}]"
            if entry["model"] != model:
                raise CassetteError(
                    f"{where} does not match this run's model request: at model: recorded "
                    f"{entry['model']!r}, this run calls {model!r}; {FIX}",
                    path=self.path,
                    index=index,
                )
            if entry["request_sha256"] != _sha(body):
                diff = _first_difference(entry["request"], body, "request")
                raise CassetteError(
                    f"{where} does not match this run's model request: at {diff}. The code, "
                    f"the prompt or the tools changed since it was recorded; {FIX}",
                    path=self.path,
                    index=index,
                )
            self._position += 1
        if "error" in entry:
            raise _error_from_json(self._restore(entry["error"]))
        return from_dict(self._restore(entry["response"]), ModelResponse)

    def _load(self) -> list[dict[str, Any]]:
        from tau_core._messages import ModelRequest, ModelResponse
        from tau_core._serialization import from_dict

        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CassetteError(
                f"no cassette at {self.path}: record it first with TAU_CASSETTE=record "
                "(or pytest --tau-cassette=record)",
                path=self.path,
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CassetteError(
                f"cannot read cassette {self.path}: {exc}", path=self.path
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CassetteError(
                f"cassette {self.path} is not JSON ({exc}); it is damaged: restore it from "
                f"version control or {FIX}",
                path=self.path,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
            raise CassetteError(
                f"{self.path} is not a Tau cassette (no 'interactions' list); {FIX}",
                path=self.path,
            )
        schema = data.get("schema")
        if schema != SCHEMA:
            newer = isinstance(schema, int) and schema > SCHEMA
            raise CassetteError(
                f"cassette {self.path} has schema {schema!r}; this tau-provider reads schema "
                f"{SCHEMA}: " + ("upgrade tau-provider, or " if newer else "") + FIX,
                path=self.path,
            )
        interactions: list[dict[str, Any]] = data["interactions"]
        for i, entry in enumerate(interactions):
            problem = _entry_problem(entry)
            if problem is None:
                try:
                    from_dict(entry["request"], ModelRequest)
                    if "response" in entry:
                        from_dict(entry["response"], ModelResponse)
                except UsageError as exc:
                    problem = str(exc)
            if problem is not None:
                raise CassetteError(
                    f"cassette {self.path}: interactions[{i}] is damaged ({problem}); {FIX}",
                    path=self.path,
                    index=i,
                )
        return interactions

    # -- normalisation -------------------------------------------------------------------------

    def _cleaner(
        self, extra_secrets: Iterable[str], redact: Callable[[str], str] | None = None
    ) -> Any:
        """A function that redacts secrets and writes placeholders into a JSON value."""
        redactor = Redactor((*_env_secrets(), *self.secrets, *extra_secrets))
        subs = sorted(self.placeholders.items(), key=lambda kv: len(kv[1]), reverse=True)

        def text(value: str) -> str:
            if redact is not None:
                value = redact(value)
            value = _SECRET_LOOKING.sub(REDACTED, redactor.text(value))
            for name, path in subs:
                if path in value:
                    value = value.replace(path, f"[tau:{name}]")
            return value

        return lambda data: _map_strings(data, text)

    def _restore(self, data: Any) -> Any:
        """*data* with each ``[tau:NAME]`` placeholder replaced by this cassette's value."""
        subs = [(f"[tau:{k}]", v) for k, v in self.placeholders.items()]
        if not subs:
            return data

        def text(value: str) -> str:
            for token, path in subs:
                if token in value:
                    value = value.replace(token, path)
            return value

        return _map_strings(data, text)


# -- activation ------------------------------------------------------------------------------


@define
class _Activation:
    """Which cassette is in use, process-wide (every thread sees the same one)."""

    pinned: Cassette | None = None
    from_env: tuple[tuple[str, str], Cassette] | None = None
    lock: threading.Lock = field(factory=threading.Lock)


_active = _Activation()


def active_cassette() -> Cassette | None:
    """The cassette in use: the one :func:`use_cassette` set, else the one ``TAU_CASSETTE``
    names (opened on first use and kept for the process), else None.

    Raises:
        UsageError: ``TAU_CASSETTE`` holds something other than record or replay.
        CassetteError: The cassette named by the environment cannot be opened.
    """
    if _active.pinned is not None:
        return _active.pinned
    raw = os.environ.get(ENV_MODE)
    if not raw:
        return None
    mode = parse_mode(raw)
    if mode is None:
        return None
    key = (mode, os.environ.get(ENV_PATH) or DEFAULT_PATH)
    with _active.lock:
        if _active.from_env is None or _active.from_env[0] != key:
            cassette = Cassette.open(key[1], mode, placeholders={"cwd": os.getcwd()})
            _active.from_env = (key, cassette)
        return _active.from_env[1]


@contextlib.contextmanager
def use_cassette(
    path: str | os.PathLike[str],
    mode: Mode,
    *,
    placeholders: Mapping[str, str] | None = None,
    secrets: Iterable[str] = (),
) -> Iterator[Cassette]:
    """Record into, or replay from, *path* for every model call in the block.

    Takes precedence over ``TAU_CASSETTE`` while the block runs (in every thread of the
    process). See :meth:`Cassette.open` for the arguments and errors.

    .. versionadded:: 0.1
    """
    cassette = Cassette.open(path, mode, placeholders=placeholders, secrets=secrets)
    previous, _active.pinned = _active.pinned, cassette
    try:
        yield cassette
    finally:
        _active.pinned = previous


# -- JSON helpers ----------------------------------------------------------------------------


def _json(data: Any) -> Any:
    """A plain-JSON deep copy (tuples become lists) that fails on anything else."""
    return json.loads(json.dumps(data, ensure_ascii=False))


def _request_json(request: Any) -> dict[str, Any]:
    from tau_core._serialization import to_dict

    data: dict[str, Any] = _json(to_dict(request))
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("run_id", None)  # a new id on every run
    return data


def _sha(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _map_strings(data: Any, fn: Any) -> Any:
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {fn(k) if isinstance(k, str) else k: _map_strings(v, fn) for k, v in data.items()}
    if isinstance(data, list):
        return [_map_strings(v, fn) for v in data]
    return data


def _env_secrets() -> list[str]:
    return [
        value
        for name, value in os.environ.items()
        if len(value) >= _MIN_ENV_SECRET and _SECRET_ENV.search(name)
    ]


def _run_redact(context: Any) -> Callable[[str], str] | None:
    """The run's redaction, when core passed the run along with the call."""
    redactor = getattr(getattr(context, "run", None), "redactor", None)
    return None if redactor is None else redactor.text


def _client_secrets(context: Any) -> list[str]:
    """The key the provider object holds (record mode only, after it made the call).

    Only values the provider already resolved are read: nothing is looked up.
    """
    try:
        client = context.client
    except Exception:  # a lazy client that cannot be built has no key to hide
        return []
    found = [
        getattr(getattr(client, "endpoint", None), "api_key", None),  # OpenAI-style providers
        getattr(client, "_api_key", None),  # Anthropic, Gemini
    ]
    return [v for v in found if isinstance(v, str)]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def _first_difference(recorded: Any, replayed: Any, path: str) -> str:
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in sorted(recorded.keys() | replayed.keys()):
            if key not in replayed:
                return f"{path}.{key}: recorded {_show(recorded[key])}, this run sends nothing"
            if key not in recorded:
                return f"{path}.{key}: not recorded, this run sends {_show(replayed[key])}"
            if recorded[key] != replayed[key]:
                return _first_difference(recorded[key], replayed[key], f"{path}.{key}")
    if isinstance(recorded, list) and isinstance(replayed, list):
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
        if len(recorded) != len(replayed):
            return f"{path}: recorded {len(recorded)} items, this run sends {len(replayed)}"
    return f"{path}: recorded {_show(recorded)}, this run sends {_show(replayed)}"


def _error_json(error: ProviderError, output_started: bool) -> dict[str, Any]:
    # The nearest class tau-core defines, so a replay needs no provider module.
    cls = next(
        c
        for c in type(error).__mro__
        if c.__module__ == errors.__name__ and issubclass(c, ProviderError)
    )
    data: dict[str, Any] = {
        "type": cls.__name__,
        "message": str(error),
        "retryable": bool(error.retryable),
    }
    if isinstance(error, ProviderHTTPError):
        data["status"] = error.status
        data["retry_after"] = error.retry_after
    if output_started or getattr(error, "output_started", False):
        data["output_started"] = True
    return data


def _error_from_json(data: dict[str, Any]) -> ProviderError:
    cls = getattr(errors, data["type"])
    exc: ProviderError
    if issubclass(cls, ProviderHTTPError):
        exc = cls(data["message"], status=data["status"], retry_after=data.get("retry_after"))
    else:
        exc = cls(data["message"])
    exc.retryable = data["retryable"]
    if data.get("output_started"):
        exc.output_started = True  # type: ignore[attr-defined]
    return exc


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one stored interaction, or None."""
    if not isinstance(entry, dict):
        return "not an object"
    if not isinstance(entry.get("model"), str) or not isinstance(entry.get("request"), dict):
        return "no 'model' spec or 'request' object"
    if entry.get("request_sha256") != _sha(entry["request"]):
        return "its request_sha256 is not the hash of its request: was it edited by hand?"
    if ("response" in entry) == ("error" in entry):
        return "it needs exactly one of 'response' and 'error'"
    if "response" in entry and not isinstance(entry["response"], dict):
        return "'response' is not an object"
    if "error" in entry:
        error = entry["error"]
        cls = getattr(errors, error.get("type", ""), None) if isinstance(error, dict) else None
        if not (isinstance(cls, type) and issubclass(cls, ProviderError)):
            return "'error' does not name a tau_core.errors ProviderError"
        if not isinstance(error.get("message"), str) or not isinstance(
            error.get("retryable"), bool
        ):
            return "'error' needs a 'message' and a boolean 'retryable'"
        if issubclass(cls, ProviderHTTPError) and not isinstance(error.get("status"), int):
            return "an HTTP 'error' needs its integer 'status'"
    return None
