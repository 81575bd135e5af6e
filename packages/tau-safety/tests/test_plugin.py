"""tau-safety registers with Tau exactly as a third-party plugin would."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution

import pytest

import tau_core
import tau_core.testing
import tau_safety
from tau_safety import _plugin

DIST = "tau-safety"
ENTRY_POINT = "safety"
MODULE = "tau_safety._plugin"


def test_distribution_is_installed_with_its_entry_point() -> None:
    dist = distribution(DIST)
    assert dist.version == tau_safety.__version__
    eps = [ep for ep in dist.entry_points if ep.group == "tau.plugins"]
    assert [(ep.name, ep.value) for ep in eps] == [(ENTRY_POINT, MODULE)]
    assert eps[0].load() is _plugin


def test_plugin_declares_the_api_of_the_installed_tau_core() -> None:
    assert _plugin.TAU_PLUGIN_API == tau_core.PLUGIN_API


def test_plugin_manager_autoloads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "TAU_PLUGINS",
        "TAU_DISABLE_PLUGIN_AUTOLOAD",
        "TAU_PLUGIN_MODULES",
        "TAU_STRICT_PLUGINS",
    ):
        monkeypatch.delenv(var, raising=False)
    pm = tau_core.PluginManager()
    pm.load(tau_core.Config())
    report = pm.report(ENTRY_POINT)
    assert report is not None, [r.name for r in pm.reports]
    assert report.status == "loaded", f"{report.error}\n{report.traceback}"
    assert (report.dist, report.version) == (DIST, tau_safety.__version__)
    assert pm.pm.get_plugin(ENTRY_POINT) is _plugin


def test_importing_the_package_does_not_import_httpx() -> None:
    code = f"import sys, tau_safety, {MODULE}; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_loading_the_plugin_imports_neither_re2_nor_the_rules() -> None:
    # The plugin manager imports the entry point on every `tau` start: the scanner, its rules
    # and re2 load when a run (or `tau safety scan`) first needs them.
    code = (
        f"import sys, tau_safety, {MODULE}; "
        "print(sorted(m for m in ('re2', 'tau_safety._rules', 'tau_safety._secrets', "
        "'tau_safety._injection') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_plugin_registers_its_commands_and_hooks() -> None:
    manager = tau_core.testing.fresh_plugin_manager(_plugin)
    assert {"safety", "audit"} <= set(manager.registries["commands"].names())
    for hook in ("tau_run_start", "tau_tool_call", "tau_model_request"):
        impls = [i.plugin for i in getattr(manager.hook, hook).get_hookimpls()]
        assert _plugin in impls, hook
