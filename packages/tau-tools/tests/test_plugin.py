"""tau-tools registers with Tau exactly as a third-party plugin would."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution

import pytest

import tau_core
import tau_tools
from tau_tools import _plugin

DIST = "tau-tools"
ENTRY_POINT = "tools"
MODULE = "tau_tools._plugin"


def test_distribution_is_installed_with_its_entry_point() -> None:
    dist = distribution(DIST)
    assert dist.version == tau_tools.__version__
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
    assert (report.dist, report.version) == (DIST, tau_tools.__version__)
    assert pm.pm.get_plugin(ENTRY_POINT) is _plugin


def test_importing_the_package_does_not_import_httpx() -> None:
    code = f"import sys, tau_tools, {MODULE}; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_every_registered_tool_and_verifier_resolves(tau_home):
    """Each lazy factory names a real object: a tool whose spec carries the registered name."""
    from tau_core.testing import fresh_plugin_manager

    pm = fresh_plugin_manager(_plugin)
    tools = pm.registries["tools"]
    assert set(tools.names()) == {
        "read",
        "write",
        "edit",
        "write_many",
        "edit_many",
        "apply_patch",
        "ls",
        "glob",
        "grep",
        "shell",
        "http",
        "git",
    }
    for name in tools.names():
        tool = tools.load(name)()
        assert isinstance(tool, tau_core.Tool), name
        assert tool.spec.name == name
    verifiers = pm.registries["verifiers"]
    assert set(verifiers.names()) == {"command", "pytest", "red_green"}
    for name in verifiers.names():
        assert callable(verifiers.load(name)), name
