"""Finding, loading, isolating and reporting plugins.

Sources, in load order:

1. tau-core's own plugin (always; it registers the ``scripted`` provider and the credential store);
2. the ``tau.plugins`` entry-point group, unless ``TAU_DISABLE_PLUGIN_AUTOLOAD=1``; when
   ``TAU_PLUGINS`` is set only the entry points it names (comma-separated) load;
3. modules named by ``TAU_PLUGIN_MODULES``, the ``plugins.modules`` config key, or ``tau -p``.

Names in the ``plugins.block`` config key never load. A plugin that fails to import, declares
an incompatible ``TAU_PLUGIN_API``, implements an unknown hook, or raises while registering is
skipped and reported with its traceback; its partial registrations are rolled back. In strict
mode (``TAU_STRICT_PLUGINS=1`` or ``plugins.strict = true``) the first failure raises.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import time
import traceback
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy
from attrs import define, field

from . import hookspecs
from ._registry import KINDS, Collision, Registry
from .errors import PluginError, PolicyDenied

if TYPE_CHECKING:
    from ._config import Config

__all__ = ["PLUGIN_API", "PluginManager", "PluginReport", "get_plugin_manager"]

PLUGIN_API = 1
"""The plugin contract version. A plugin module declares ``TAU_PLUGIN_API = 1``; a plugin
declaring another version is refused with a reason."""

_FIXES = {
    "import": "Reinstall the plugin's distribution, or block it: "
    "`tau config set plugins.block '[\"NAME\"]'`.",
    "api": "Upgrade the plugin (or tau-core) so both speak the same TAU_PLUGIN_API.",
    "hook": "Rename the function to a hook listed in docs/hooks.md (a typo in a hook name?).",
    "register": "The plugin raised inside a tau_register_* hook; report it to its authors, or "
    "block it: `tau config set plugins.block '[\"NAME\"]'`.",
}


@define
class PluginReport:
    """What happened to one plugin.

    Attributes:
        name: The plugin name (entry-point name, or module name).
        dist: The distribution it came from, when known.
        version: That distribution's version.
        status: ``loaded``, ``failed`` or ``blocked``.
        error: Why it failed or was blocked (``None`` when loaded cleanly).
        traceback: The formatted traceback of a failure.
        fix: What to do about a failure.
        provides: Registered names per kind.
        load_seconds: Time spent importing and registering it.
    """

    name: str
    dist: str | None
    version: str | None
    status: str = "loaded"
    error: str | None = None
    traceback: str = ""
    fix: str = ""
    provides: dict[str, list[str]] = field(factory=lambda: {k: [] for k in KINDS})
    load_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dist": self.dist,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "provides": {k: sorted(v) for k, v in self.provides.items()},
        }


class _Innermost:
    """Core's innermost implementations of the wrapper hooks: actually perform the call."""

    @hookspecs.hookimpl(trylast=True)
    def tau_tool_call(self, context: Any) -> Any:
        if context.original_call is not None and context.call != context.original_call:
            # A wrapper replaced the call: it must pass the authority again (fail closed).
            if context.authorize is None:
                raise PolicyDenied(
                    "a wrapper replaced the tool call and no check is attached",
                    rule_id="wrapper.replaced",
                    reason_code="policy_denied",
                )
            context.authorize(context.call)
        return context.tool.run(context.call.arguments, context)

    @hookspecs.hookimpl(trylast=True)
    def tau_model_request(self, context: Any) -> Any:
        complete = context.client.complete
        if context.stream is not None and _accepts_stream(complete):
            return complete(context.request, stream=context.stream)
        return complete(context.request)


def _accepts_stream(complete: Any) -> bool:
    """Whether a provider's ``complete`` takes the ``stream`` keyword (a :class:`ModelStream`)."""
    func = getattr(complete, "__func__", complete)
    known = _STREAM_AWARE.get(func)
    if known is None:
        try:
            params = inspect.signature(complete).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        known = "stream" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
        with contextlib.suppress(TypeError):
            _STREAM_AWARE[func] = known
    return known


_STREAM_AWARE: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _env_list(name: str) -> list[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return [x.strip() for x in raw.split(",") if x.strip()]


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class PluginManager:
    """Tau's plugin manager: a pluggy manager plus registries and load reports.

    Build one with :func:`get_plugin_manager` (cached) or directly for tests.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.pm = pluggy.PluginManager("tau")
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(_Innermost(), name="tau-core-innermost")
        self.strict = strict
        self.reports: list[PluginReport] = []
        self.registries: dict[str, Registry] = {k: Registry(k) for k in KINDS}
        self.run_problems: list[PluginReport] = []
        self.modules: list[str] = []  # plugin modules loaded by import name (tau -p, …)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    @property
    def collisions(self) -> list[Collision]:
        return [c for r in self.registries.values() for c in r.collisions]

    # -- loading ---------------------------------------------------------------------------------

    def load(self, config: Config | None = None, *, extra_modules: Iterable[str] = ()) -> None:
        """Load every plugin source (see the module docs)."""
        block = set(config.get("plugins.block", []) if config else [])
        if config is not None and config.get("plugins.strict", False):
            self.strict = True
        if _truthy("TAU_STRICT_PLUGINS"):
            self.strict = True
        self._load_module("core", "tau_core._plugin", "tau-core", _own_version())
        autoload = not _truthy("TAU_DISABLE_PLUGIN_AUTOLOAD")
        allow = _env_list("TAU_PLUGINS")
        for ep in _entry_points():
            if ep.name == "core" and ep.value == "tau_core._plugin":
                continue
            dist, version = _dist_of(ep)
            if ep.name in block:
                self._blocked(ep.name, dist, version, "blocked by the plugins.block config key")
            elif not autoload:
                self._blocked(
                    ep.name, dist, version, "autoload is off (TAU_DISABLE_PLUGIN_AUTOLOAD)"
                )
            elif allow is not None and ep.name not in allow:
                self._blocked(ep.name, dist, version, "not named in TAU_PLUGINS")
            else:
                self._load_module(ep.name, ep.value, dist, version)
        modules = list(_env_list("TAU_PLUGIN_MODULES") or [])
        if config is not None:
            modules += list(config.get("plugins.modules", []))
        modules += list(extra_modules)
        for mod in dict.fromkeys(modules):
            if mod in block:
                self._blocked(mod, None, None, "blocked by the plugins.block config key")
            else:
                self._load_module(mod, mod, None, None)
                self.modules.append(mod)
        self.check_pending()

    def register(
        self,
        plugin: object,
        name: str | None = None,
        *,
        dist: str | None = None,
        version: str | None = None,
    ) -> PluginReport:
        """Register an already-imported plugin object or module (tests, embedding apps)."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        start = time.perf_counter()
        report = PluginReport(name, dist, version)
        self.reports.append(report)
        if not self._admit(plugin, report, require_api=False):
            return report
        self._register_all(plugin, report)
        report.load_seconds = time.perf_counter() - start
        return report

    def check_pending(self) -> None:
        """Fail when a registered plugin implements a hook Tau does not define."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"{exc}. {_FIXES['hook']}") from exc

    def _blocked(self, name: str, dist: str | None, version: str | None, why: str) -> None:
        self.reports.append(PluginReport(name, dist, version, status="blocked", error=why))

    def _fail(self, report: PluginReport, error: str, fix_key: str, tb: str = "") -> None:
        report.status, report.error, report.traceback = "failed", error, tb
        report.fix = _FIXES[fix_key].replace("NAME", report.name)
        if self.strict:
            raise PluginError(f"plugin {report.name!r} failed: {error}\n{tb}\n{report.fix}")

    def _load_module(self, name: str, target: str, dist: str | None, version: str | None) -> None:
        start = time.perf_counter()
        report = PluginReport(name, dist, version)
        self.reports.append(report)
        try:
            module: Any = importlib.import_module(target.partition(":")[0])
            if ":" in target:
                for part in target.partition(":")[2].split("."):
                    module = getattr(module, part)
        except BaseException as exc:  # a plugin's import may raise anything, even SystemExit
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._fail(
                report,
                f"import failed: {type(exc).__name__}: {exc}",
                "import",
                traceback.format_exc(),
            )
            return
        if self._admit(module, report, require_api=True):
            self._register_all(module, report)
        report.load_seconds = time.perf_counter() - start

    def _admit(self, plugin: object, report: PluginReport, *, require_api: bool) -> bool:
        api = getattr(plugin, "TAU_PLUGIN_API", None if require_api else PLUGIN_API)
        if api != PLUGIN_API:
            got = "no TAU_PLUGIN_API" if api is None else f"TAU_PLUGIN_API = {api!r}"
            self._fail(
                report,
                f"incompatible plugin: it declares {got}; this tau-core speaks "
                f"TAU_PLUGIN_API = {PLUGIN_API}",
                "api",
            )
            return False
        unknown = sorted(
            n
            for n in dir(plugin)
            if n.startswith("tau_")
            and callable(getattr(plugin, n, None))
            and not hasattr(self.pm.hook, n)
        )
        if unknown:
            self._fail(report, f"implements unknown hook(s): {', '.join(unknown)}", "hook")
            return False
        if self.pm.get_plugin(report.name) is not None:
            self._fail(report, f"a plugin named {report.name!r} is already registered", "import")
            return False
        try:
            self.pm.register(plugin, name=report.name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            self._fail(
                report, f"invalid hook implementation: {exc}", "hook", traceback.format_exc()
            )
            return False
        return True

    def _register_all(self, plugin: object, report: PluginReport) -> None:
        """Call each registration hook of *plugin*; on any error roll all of them back."""
        for kind in KINDS:
            self.registries[kind]._begin(report.name, report.dist)
        done: list[str] = []
        try:
            for kind in KINDS:
                impls = [
                    i
                    for i in getattr(self.pm.hook, f"tau_register_{kind}").get_hookimpls()
                    if i.plugin is plugin
                ]
                done.append(kind)
                for impl in impls:
                    impl.function(registry=self.registries[kind])
        except Exception as exc:
            for kind in done:
                self.registries[kind]._rollback()
            self.pm.unregister(plugin)
            self._fail(
                report,
                f"registration failed: {type(exc).__name__}: {exc}",
                "register",
                traceback.format_exc(),
            )
            return
        for kind in KINDS:
            report.provides[kind] = self.registries[kind]._added_names()

    # -- reading ---------------------------------------------------------------------------------

    def failures(self) -> list[PluginReport]:
        return [r for r in self.reports if r.status == "failed"] + self.run_problems

    def report(self, name: str) -> PluginReport | None:
        return next((r for r in self.reports if r.name == name), None)


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    return sorted(entry_points(group="tau.plugins"), key=lambda ep: ep.name)


def _dist_of(ep: Any) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _own_version() -> str | None:
    from . import __version__

    return __version__


_CACHED: PluginManager | None = None


def get_plugin_manager(
    config: Config | None = None, *, reload: bool = False, extra_modules: Iterable[str] = ()
) -> PluginManager:
    """The process-wide plugin manager, loaded on first use.

    Args:
        config: The configuration (block list, modules, strict); loaded from disk when omitted.
        reload: Build a fresh manager even if one is cached.
        extra_modules: Extra plugin modules to load (``tau -p MODULE``).
    """
    global _CACHED  # noqa: PLW0603 - one plugin manager per process, like pytest's
    extra_modules = list(extra_modules)
    if _CACHED is not None and extra_modules and not reload:
        extra_modules = [m for m in extra_modules if m not in _CACHED.modules]
        if not extra_modules:
            return _CACHED
        extra_modules = [*_CACHED.modules, *extra_modules]
    if _CACHED is None or reload or extra_modules:
        from ._config import load_config

        manager = PluginManager()
        manager.load(config if config is not None else load_config(), extra_modules=extra_modules)
        _CACHED = manager
    return _CACHED


def reset_plugin_manager() -> None:
    """Forget the cached manager (tests)."""
    global _CACHED  # noqa: PLW0603
    _CACHED = None
