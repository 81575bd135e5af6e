"""tau-provider registers with Tau exactly as a third-party plugin would."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution

import pytest

import tau_core
import tau_provider
from tau_provider import _plugin

DIST = "tau-provider"
ENTRY_POINT = "provider"
MODULE = "tau_provider._plugin"


def test_distribution_is_installed_with_its_entry_point() -> None:
    dist = distribution(DIST)
    assert dist.version == tau_provider.__version__
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
    assert (report.dist, report.version) == (DIST, tau_provider.__version__)
    assert pm.pm.get_plugin(ENTRY_POINT) is _plugin


def test_importing_the_package_does_not_import_httpx() -> None:
    code = f"import sys, tau_provider, {MODULE}; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_registered_providers_resolve_and_named_endpoints_come_from_config(tau_home):
    """Every lazy factory names a real callable; a config table adds a named endpoint."""
    from tau_core.testing import fresh_plugin_manager

    (tau_home / "config.toml").write_text(
        '[providers.local-ollama]\nkind = "openai-compatible"\n'
        'base_url = "http://127.0.0.1:11434/v1"\n'
    )
    pm = fresh_plugin_manager(_plugin)
    providers = pm.registries["providers"]
    assert {"openai", "anthropic", "gemini", "openrouter", "local-ollama"} <= set(providers.names())
    for name in ("openai", "anthropic", "gemini", "openrouter", "local-ollama"):
        assert callable(providers.load(name)), name
    assert "127.0.0.1:11434" in providers.get("local-ollama").help
