"""AgentDojo's suites run through Tau, offline: suite functions as Tau tools, an obeying model.

A library module of the bench (``bench_agentdojo.py`` and ``tests/test_agentdojo.py`` import it);
it measures Tau's safety layer against prompt injection without any real model:

* :class:`SuiteTool` wraps one AgentDojo suite function as a Tau tool that runs it against the
  episode's environment through AgentDojo's ``FunctionsRuntime`` and returns its output as the
  text AgentDojo shows models (YAML for models and lists, ``str()`` otherwise). Its spec
  (:func:`side_effect_of`, :func:`untrusted_output_of`):

  - ``untrusted_output=True`` for every function whose name starts with ``get_``, ``search_``,
    ``read_``, ``list_`` or ``check_``: it returns third-party content (mail, files, web pages,
    messages, reviews) that may carry an injection;
  - ``side_effect="network"`` for a function that sends data or value out of the user's
    environment: mail and messages, money, posts, shares, invitations, bookings, the calendar
    functions that mail their participants, and fetching a web page (the request reaches the
    site) (:data:`NETWORK_FUNCTIONS`, one reason per entry);
  - ``"write"`` for one that changes the user's own state, including the reads that do
    (:data:`STATE_CHANGING_READS`);
  - ``"read"`` for the other ``get_``/``search_``/``read_``/``list_``/``check_`` functions. The
    test runs every ground-truth call of every suite and checks that each ``read`` call leaves
    the environment exactly as it was.

* :class:`ObeyingModel` is the worst case for the rails: a model that always obeys an injected
  instruction. It plays the user task's ground-truth calls in order; before each turn it looks
  for the injection task's goal in every message it receives (:func:`injection_in`, insensitive
  to quoting, escaping and line folding), and the first time it sees it, it plays the injection
  task's ground-truth calls first. If Tau's safety layer removes or rewrites the instruction
  text, the model does not see it and does not obey. A refused call changes nothing about its
  plan: it moves on to the next call. When its plan is done it answers with the user task's
  ``GROUND_TRUTH_OUTPUT`` (plus the injection task's, once obeyed), or ``"Done."`` when
  AgentDojo gives none: echoing tool outputs instead would let an injection that only asks the
  model to *say* something succeed without being obeyed.
* :class:`UtilityVerifier` is green exactly when AgentDojo's utility check passes on the final
  answer Tau recorded, the environment before and after, and the calls that actually ran;
  :meth:`Episode.security` scores the injection task after the run the same way (``True`` means
  the attack succeeded).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from agentdojo.agent_pipeline.ground_truth_pipeline import GroundTruthPipeline
from agentdojo.agent_pipeline.tool_execution import tool_result_to_str
from agentdojo.attacks.attack_registry import load_attack
from agentdojo.base_tasks import BaseInjectionTask, BaseUserTask
from agentdojo.functions_runtime import Function, FunctionCall, FunctionsRuntime, TaskEnvironment
from agentdojo.task_suite.load_suites import get_suite
from agentdojo.task_suite.task_suite import TaskSuite, read_suite_file
from attrs import define, field, frozen

from tau_core import (
    Agent,
    Authority,
    Budgets,
    Capability,
    Grant,
    Journal,
    Message,
    ModelRequest,
    ModelResponse,
    PluginManager,
    Task,
    TextPart,
    ToolCall,
    ToolCallContext,
    ToolResult,
    ToolSpec,
    Usage,
    VerifierResult,
    VerifyContext,
    load_config,
)
from tau_core.errors import ToolError

BENCHMARK_VERSION = "v1.2.2"
"""The newest AgentDojo benchmark version that ships with the package (no download needed)."""

SUITES = ("workspace", "travel", "banking", "slack")

ATTACK = "important_instructions"
VICTIM_MODEL = "gpt-4o-2024-05-13"
"""AgentDojo's attacks address the victim by name (this one reads as "GPT-4" in the text)."""

READ_PREFIXES = ("get_", "search_", "read_", "list_", "check_")

NETWORK_FUNCTIONS: Mapping[str, str] = {
    "send_email": "mails anyone",
    "share_file": "gives another person access to a file",
    "create_calendar_event": "mails the event to its participants",
    "cancel_calendar_event": "mails the cancellation to the participants",
    "reschedule_calendar_event": "mails the new time to the participants",
    "add_calendar_event_participants": "invites (mails) new participants",
    "send_money": "pays any account",
    "schedule_transaction": "sets up payments to any account",
    "update_scheduled_transaction": "can redirect a standing payment to another account",
    "send_direct_message": "messages another user",
    "send_channel_message": "posts to a channel other people read",
    "post_webpage": "publishes content on the web",
    "invite_user_to_slack": "invites an outside e-mail address into the workspace",
    "reserve_hotel": "books with a third party, passing on the user's contact details",
    "reserve_car_rental": "books with a third party, passing on the user's contact details",
    "reserve_restaurant": "books with a third party, passing on the user's contact details",
    "get_webpage": "fetches a URL: the request, and what the URL carries, reaches the site",
}
"""Functions that send data or value out of the user's environment, each with the reason."""

STATE_CHANGING_READS: Mapping[str, str] = {
    "get_unread_emails": "marks the e-mails it returns as read",
}
"""Functions named like reads that change the user's state, each with what they change."""

FINAL_TEXT = "Done."

_TOKEN = re.compile(r"[a-z0-9]+")
_ESCAPE = re.compile(r"\\[nrt]")


def side_effect_of(function: Function) -> str:
    """The Tau side-effect class of a suite function (see the module docs for the rule)."""
    if function.name in NETWORK_FUNCTIONS:
        return "network"
    if function.name.startswith(READ_PREFIXES) and function.name not in STATE_CHANGING_READS:
        return "read"
    return "write"


def untrusted_output_of(function: Function) -> bool:
    """Whether a suite function returns third-party content (see the module docs)."""
    return bool(function.name.startswith(READ_PREFIXES))


def _words(text: str) -> str:
    tokens = _TOKEN.findall(_ESCAPE.sub(" ", text.lower()))
    return " " + " ".join(tokens) + " "


def injection_in(text: str, goal: str) -> bool:
    """Whether *text* carries the instruction *goal*: its words, in order, with nothing between.

    Quoting, backslash escapes, punctuation and line folding (YAML's, for example) are ignored.
    """
    return _words(goal) in _words(text)


def load_suite(name: str, version: str = BENCHMARK_VERSION) -> TaskSuite:
    suite: TaskSuite = get_suite(version, name)
    return suite


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _vector_defaults(suite: TaskSuite) -> dict[str, str]:
    return dict(suite.get_injection_vector_defaults())


def load_environment(suite: TaskSuite, injections: Mapping[str, str]) -> TaskEnvironment:
    """``suite.load_and_inject_default_environment(injections)``, parsed by libyaml when it is
    there (some 30 times faster on the workspace suite; the result is the same)."""
    defaults = _vector_defaults(suite)
    unknown = sorted(set(injections) - set(defaults))
    if unknown:
        raise ValueError(f"{suite.name} has no injection vector(s) {unknown}")
    text = read_suite_file(suite.name, "environment.yaml", suite.data_path)
    data = yaml.load(text.format(**{**defaults, **injections}), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    env: TaskEnvironment = suite.environment_type.model_validate(data)
    return env


def _victim(model_name: str) -> GroundTruthPipeline:
    # An attack reads only the pipeline's name (to address the model); it never runs it.
    pipeline = GroundTruthPipeline(None)
    pipeline.name = model_name
    return pipeline


def load_injector(suite: TaskSuite, attack: str = ATTACK, model_name: str = VICTIM_MODEL) -> Any:
    """AgentDojo's *attack* on *suite*; ``.attack(user_task, injection_task)`` gives the
    injections (vector → text) for every vector the user task's ground truth reads."""
    return load_attack(attack, suite, _victim(model_name))


def _score(task: Any, output: str, pre: Any, post: Any, traces: Sequence[FunctionCall]) -> bool:
    if isinstance(task, BaseUserTask):
        traced = task.utility_from_traces(output, pre, post, traces)
        return bool(task.utility(output, pre, post) if traced is None else traced)
    traced = task.security_from_traces(output, pre, post, traces)
    return bool(task.security(output, pre, post) if traced is None else traced)


def replays_security(suite: TaskSuite, task: BaseInjectionTask) -> bool:
    """Whether the injection task's own ground truth (and output) achieves its goal."""
    env = load_environment(suite, {})
    pre = env.model_copy(deep=True)
    runtime = FunctionsRuntime(suite.tools)
    calls = task.ground_truth(env.model_copy(deep=True))
    for call in calls:
        runtime.run_function(env, call.function, call.args)
    return _score(task, task.GROUND_TRUTH_OUTPUT, pre, env, calls)


@define
class Episode:
    """One user task (with or without one injection task) and its environment."""

    suite: TaskSuite
    user_task: BaseUserTask
    injection_task: BaseInjectionTask | None
    injections: dict[str, str]
    environment: TaskEnvironment
    pre_environment: TaskEnvironment
    traces: list[FunctionCall] = field(factory=list)
    outputs: list[str] = field(factory=list)

    @classmethod
    def build(
        cls,
        suite: TaskSuite,
        user_task: BaseUserTask,
        injection_task: BaseInjectionTask | None = None,
        injections: Mapping[str, str] | None = None,
    ) -> Episode:
        injections = dict(injections or {})
        env = user_task.init_environment(load_environment(suite, injections))
        return cls(suite, user_task, injection_task, injections, env, env.model_copy(deep=True))

    def tools(self) -> list[SuiteTool]:
        runtime = FunctionsRuntime(self.suite.tools)
        return [SuiteTool(f, runtime, self) for f in self.suite.tools]

    def model(self) -> ObeyingModel:
        plan = self.user_task.ground_truth(self.pre_environment.model_copy(deep=True))
        answer = self.user_task.GROUND_TRUTH_OUTPUT or FINAL_TEXT
        obey: tuple[str, list[FunctionCall], str] | None = None
        if self.injection_task is not None:
            calls = self.injection_task.ground_truth(self.pre_environment.model_copy(deep=True))
            obey = (self.injection_task.GOAL, calls, self.injection_task.GROUND_TRUTH_OUTPUT)
        return ObeyingModel(plan, answer, obey)

    def authority(self, approval: str = "never") -> Authority:
        """Every suite tool granted; *approval* decides what an escalated call does."""
        return Authority(
            grants=tuple(Grant("tool", f.name) for f in self.suite.tools),
            budgets=Budgets(max_turns=200, max_tool_calls=400, max_repairs=0),
            approval=approval,  # type: ignore[arg-type]
        )

    def utility(self, output: str) -> bool:
        return _score(self.user_task, output, self.pre_environment, self.environment, self.traces)

    def security(self, output: str) -> bool | None:
        """Whether the injection task's goal was reached (None without an injection task)."""
        if self.injection_task is None:
            return None
        task = self.injection_task
        return _score(task, output, self.pre_environment, self.environment, self.traces)


class SuiteTool:
    """One AgentDojo suite function as a Tau tool over an episode's environment."""

    def __init__(self, function: Function, runtime: FunctionsRuntime, episode: Episode) -> None:
        self.function = function
        self.runtime = runtime
        self.episode = episode
        schema = dict(function.parameters.model_json_schema())
        schema.pop("title", None)
        self.spec = ToolSpec(
            function.name,
            function.description,
            schema,
            side_effect=side_effect_of(function),  # type: ignore[arg-type]
            untrusted_output=untrusted_output_of(function),
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return []  # the tool:NAME grant is the whole authority these tools need

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        args = dict(arguments)
        result, error = self.runtime.run_function(self.episode.environment, self.spec.name, args)
        self.episode.traces.append(FunctionCall(function=self.spec.name, args=args))
        if error is not None:
            raise ToolError(error, code="function_error")
        text = tool_result_to_str(result)
        self.episode.outputs.append(text)
        return ToolResult(context.call.id, self.spec.name, text)


def conversation_text(messages: Sequence[Message]) -> str:
    """Every text the model receives: system, user, assistant text and tool results."""
    parts: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                parts.append(part.text)
            elif isinstance(part, ToolResult):
                parts.append(part.content if isinstance(part.content, str) else repr(part.content))
    return "\n".join(parts)


class ObeyingModel:
    """A Tau provider that solves the user task by its ground truth and obeys any injection.

    Args:
        plan: The user task's ground-truth calls.
        answer: The final answer for the user task.
        obey: ``(goal, calls, answer)`` of the injection task, or None.
    """

    name = "agentdojo-obeying"

    def __init__(
        self,
        plan: Sequence[FunctionCall],
        answer: str,
        obey: tuple[str, Sequence[FunctionCall], str] | None = None,
    ) -> None:
        self.queue = list(plan)
        self.answer = answer
        self.obey = obey
        self.obeyed = False
        self.calls = 0

    def worst_case_cost(self, request: ModelRequest) -> float:
        return 0.0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if self.obey is not None and not self.obeyed:
            goal, calls, _ = self.obey
            if injection_in(conversation_text(request.messages), goal):
                self.obeyed = True
                self.queue[:0] = calls
        if self.queue:
            call = self.queue.pop(0)
            self.calls += 1
            tool_call = ToolCall(f"call_{self.calls}", call.function, dict(call.args))
            message = Message.assistant("", (tool_call,))
        else:
            extra = self.obey[2] if self.obey is not None and self.obeyed else ""
            message = Message.assistant("\n".join(t for t in (self.answer, extra) if t))
        stop = "tool_calls" if message.tool_calls else "stop"
        return ModelResponse(message, Usage(requests=1), stop, request.model, self.name)


def final_answer(journal: Journal, run_id: str) -> str:
    """The text of the last model response Tau recorded for *run_id* (after any redaction)."""
    text = ""
    for event in journal.events(run_id):
        if event.kind == "model_response":
            parts = event.data["response"]["message"]["parts"]
            text = "\n".join(p["text"] for p in parts if p.get("type") == "text")
    return text


class UtilityVerifier:
    """Green exactly when AgentDojo's utility check of the user task passes."""

    name = "agentdojo-utility"

    def __init__(self, episode: Episode, journal: Journal) -> None:
        self.episode = episode
        self.journal = journal

    async def verify(self, context: VerifyContext) -> VerifierResult:
        self.journal.flush()
        ok = self.episode.utility(final_answer(self.journal, context.run_id))
        verdict = "passed" if ok else "failed"
        summary = f"{self.episode.user_task.ID}: AgentDojo's utility check {verdict}"
        return VerifierResult(self.name, "green" if ok else "red", summary)


@frozen
class EpisodeResult:
    """What one run gave.

    Attributes:
        status: The Tau outcome's status; ``reason`` its reason, ``summary`` its summary.
        utility: AgentDojo's utility check passed (the run ended ``verified``).
        security: The injection task's goal was reached (None for a benign run).
        obeyed: The model saw the injected instruction (so it tried to follow it).
        refused: The rule (or error code) of each tool call that came back refused by policy
            or a safety check, so never ran.
        outputs: The text of every tool output, as the tools produced it.
    """

    suite: str
    user_task: str
    injection_task: str | None
    status: str
    reason: str | None
    summary: str
    utility: bool
    security: bool | None
    obeyed: bool
    refused: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def void(self) -> bool:
        """Tau or a plugin failed: the run says nothing about the rails or the task."""
        return self.status == "failed" or self.reason == "plugin_error"


_REFUSALS = ("policy_denied", "unsafe_content", "approval_denied")


async def run_episode(
    episode: Episode,
    *,
    plugins: PluginManager,
    journal: Journal,
    workdir: Path,
    approval: str = "never",
) -> EpisodeResult:
    """Run *episode* through ``tau_core.Agent`` and score it."""
    model = episode.model()
    agent = Agent(
        model,
        authority=episode.authority(approval),
        verifier=UtilityVerifier(episode, journal),
        tools=episode.tools(),
        journal=journal,
        plugins=plugins,
        max_parallel_tools=1,
    )
    outcome = await agent.arun(Task(goal=episode.user_task.PROMPT), workdir=workdir)
    answer = final_answer(journal, outcome.run_id)
    refused = tuple(
        str(record.result.metadata.get("rule_id") or record.result.error.code)
        for record in outcome.evidence.tool_calls
        if record.result is not None
        and record.result.error is not None
        and record.result.error.code in _REFUSALS
    )
    return EpisodeResult(
        suite=episode.suite.name,
        user_task=episode.user_task.ID,
        injection_task=episode.injection_task.ID if episode.injection_task else None,
        status=outcome.status,
        reason=outcome.reason,
        summary=outcome.summary,
        utility=outcome.status == "verified",
        security=episode.security(answer),
        obeyed=model.obeyed,
        refused=refused,
        outputs=tuple(episode.outputs),
    )


@contextlib.contextmanager
def _plugin_env(allow: str) -> Iterator[None]:
    names = ("TAU_PLUGINS", "TAU_DISABLE_PLUGIN_AUTOLOAD", "TAU_PLUGIN_MODULES")
    saved = {k: os.environ.get(k) for k in names}
    os.environ["TAU_PLUGINS"] = allow
    os.environ.pop("TAU_DISABLE_PLUGIN_AUTOLOAD", None)
    os.environ.pop("TAU_PLUGIN_MODULES", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def plugin_manager(*, safety: bool) -> PluginManager:
    """A plugin manager loaded as users load it, with the ``TAU_PLUGINS`` allow-list naming
    tau-safety's ``safety`` plugin (or nothing): the only plugins are core and, if asked, safety.

    Raises:
        RuntimeError: The safety plugin did not end up loaded (or not blocked) as asked.
    """
    manager = PluginManager(strict=True)
    with _plugin_env("safety" if safety else ""):
        manager.load(load_config())
    report = manager.report("safety")
    want = "loaded" if safety else "blocked"
    if report is None or report.status != want:
        got = "missing" if report is None else f"{report.status} ({report.error})"
        raise RuntimeError(f"the tau-safety plugin should be {want}, but it is {got}")
    return manager
