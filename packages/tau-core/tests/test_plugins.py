"""Plugin loading from real entry points: isolation, allow and block lists, API version,
collisions, strict mode, and the ``tau plugins`` commands."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import pytest

from tau_core import Agent, Config, PluginManager
from tau_core._cli import main
from tau_core._plugins import reset_plugin_manager
from tau_core.errors import PluginError
from tau_core.testing import ScriptedModel, ScriptedVerifier

GOOD = """
    from tau_core import hookimpl
    TAU_PLUGIN_API = 1

    @hookimpl
    def tau_register_tools(registry):
        registry.register("{tool}", "{mod}_heavy:make", help="a tool from {mod}")
"""
HEAVY = """
    import tau_core
    from tau_core.testing import FakeTool

    def make():
        return FakeTool("{tool}", "from {mod}")
"""


@pytest.fixture
def site(tmp_path, monkeypatch, tau_home):
    """A directory on sys.path where tests install fake distributions."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("TAU_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    created: list[str] = []

    def install(
        dist: str,
        entry: str,
        source: str,
        *,
        extra: dict[str, str] | None = None,
        version: str = "1.0",
    ) -> None:
        mod = entry
        (root / f"{mod}.py").write_text(textwrap.dedent(source))
        for name, text in (extra or {}).items():
            (root / f"{name}.py").write_text(textwrap.dedent(text))
            created.append(name)
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[tau.plugins]\n{entry} = {mod}\n")
        created.append(mod)
        importlib.invalidate_caches()

    yield install
    for name in created:
        sys.modules.pop(name, None)
    reset_plugin_manager()


def load(config: Config | None = None, *, strict: bool = False) -> PluginManager:
    manager = PluginManager(strict=strict)
    manager.load(config or Config())
    return manager


def good(site, name: str, tool: str, **kw) -> None:
    site(
        f"dist-{name}",
        name,
        GOOD.format(tool=tool, mod=name),
        extra={f"{name}_heavy": HEAVY.format(tool=tool, mod=name)},
        **kw,
    )


def test_entry_point_plugin_loads_lazily(site):
    good(site, "alpha", "alpha_tool", version="2.3")
    manager = load()
    report = manager.report("alpha")
    assert (report.status, report.dist, report.version) == ("loaded", "dist-alpha", "2.3")
    assert report.provides["tools"] == ["alpha_tool"]
    assert "alpha_heavy" not in sys.modules  # listing imported only the tiny plugin module
    tool = manager.registries["tools"].load("alpha_tool")()
    assert tool.spec.name == "alpha_tool" and "alpha_heavy" in sys.modules
    assert manager.report("core").status == "loaded"


def test_plugin_that_raises_on_import_is_skipped_and_the_run_continues(site, tmp_path):
    site("dist-broken", "broken", "raise RuntimeError('broken at import')\n")
    good(site, "fine", "fine_tool")
    manager = load()
    report = manager.report("broken")
    assert report.status == "failed"
    assert "RuntimeError: broken at import" in report.error
    assert "Traceback" in report.traceback and "broken at import" in report.traceback
    assert "plugins.block" in report.fix
    assert manager.report("fine").status == "loaded"
    workdir = tmp_path / "w"
    workdir.mkdir()
    outcome = Agent(
        ScriptedModel([{"tool_calls": [{"name": "fine_tool", "arguments": {}}]}, {"text": "ok"}]),
        verifier=ScriptedVerifier(),
        plugins=manager,
        tools=["fine_tool"],  # other installed plugins' tools are not part of this test
    ).run("x", workdir=workdir)
    assert outcome.status == "verified"
    assert outcome.evidence.tool_calls[0].result.content == "from fine"
    assert [p.plugin for p in outcome.evidence.plugin_errors] == ["broken"]


def test_system_exit_at_import_is_contained(site):
    site("dist-exit", "exiter", "raise SystemExit(3)\n")
    assert load().report("exiter").status == "failed"


def test_incompatible_or_undeclared_api_is_refused(site):
    site("dist-future", "future", "TAU_PLUGIN_API = 2\n")
    site("dist-old", "old", "x = 1\n")
    manager = load()
    future, old = manager.report("future"), manager.report("old")
    assert future.status == old.status == "failed"
    assert "TAU_PLUGIN_API = 2" in future.error and "speaks TAU_PLUGIN_API = 1" in future.error
    assert "declares no TAU_PLUGIN_API" in old.error


def test_unknown_hook_is_refused(site):
    site(
        "dist-typo",
        "typo",
        """
        from tau_core import hookimpl
        TAU_PLUGIN_API = 1

        @hookimpl
        def tau_register_tool(registry):  # typo: tools
            pass
    """,
    )
    report = load().report("typo")
    assert report.status == "failed" and "tau_register_tool" in report.error


def test_registration_error_rolls_back(site):
    site(
        "dist-half",
        "half",
        """
        from tau_core import hookimpl
        TAU_PLUGIN_API = 1

        @hookimpl
        def tau_register_providers(registry):
            registry.register("halfprov", "half:x")

        @hookimpl
        def tau_register_tools(registry):
            registry.register("halftool", "half:x")
            raise ValueError("second hook fails")
    """,
    )
    manager = load()
    assert manager.report("half").status == "failed"
    assert "halfprov" not in manager.registries["providers"]
    assert "halftool" not in manager.registries["tools"]
    assert manager.pm.get_plugin("half") is None


def test_collisions_are_reported_not_renamed(site):
    good(site, "first", "shared")
    good(site, "second", "shared")
    manager = load()
    assert manager.registries["tools"].get("shared").plugin == "first"
    assert manager.report("second").provides["tools"] == []
    (collision,) = manager.collisions
    assert (collision.kept, collision.ignored) == ("first", "second")
    assert "plugins.block" in str(collision)


def test_autoload_off_allow_list_and_block_list(site, monkeypatch):
    good(site, "one", "one_tool")
    good(site, "two", "two_tool")
    monkeypatch.setenv("TAU_DISABLE_PLUGIN_AUTOLOAD", "1")
    manager = load()
    assert manager.report("one").status == "blocked"
    assert "TAU_DISABLE_PLUGIN_AUTOLOAD" in manager.report("one").error
    assert manager.report("core").status == "loaded"
    monkeypatch.delenv("TAU_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("TAU_PLUGINS", "two")
    manager = load()
    assert (manager.report("one").status, manager.report("two").status) == ("blocked", "loaded")
    monkeypatch.delenv("TAU_PLUGINS")
    manager = load(Config(values={"plugins.block": ["two"]}))
    assert (manager.report("one").status, manager.report("two").status) == ("loaded", "blocked")
    assert "plugins.block" in manager.report("two").error


def test_plugin_modules_load_by_name(site, monkeypatch, tmp_path):
    (tmp_path / "site" / "bymodule.py").write_text(
        GOOD.format(tool="mod_tool", mod="bymodule").replace("\n    ", "\n")
    )
    monkeypatch.setenv("TAU_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TAU_PLUGIN_MODULES", "bymodule")
    manager = load()
    assert manager.report("bymodule").status == "loaded"
    assert "mod_tool" in manager.registries["tools"]
    sys.modules.pop("bymodule", None)


def test_strict_mode_raises(site, monkeypatch):
    site("dist-broken", "broken", "raise ImportError('no such sdk')\n")
    with pytest.raises(PluginError, match="no such sdk"):
        load(strict=True)
    monkeypatch.setenv("TAU_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="no such sdk"):
        load()
    monkeypatch.delenv("TAU_STRICT_PLUGINS")
    with pytest.raises(PluginError, match="no such sdk"):
        load(Config(values={"plugins.strict": True}))


def test_check_pending_fails_loudly_for_directly_registered_typos(tau_home):
    class Typo:
        def tau_evnt(self, event):  # not a hookimpl-marked function: pluggy ignores it
            pass

    manager = PluginManager()
    report = manager.register(Typo(), "typo-obj")
    assert report.status == "failed" and "tau_evnt" in report.error


def test_cli_plugins_list_json_and_doctor(site, capsys):
    good(site, "listed", "listed_tool", version="0.9")
    site("dist-broken", "broken", "raise RuntimeError('broken at import')\n")
    reset_plugin_manager()
    assert main(["plugins", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list)
    by_name = {p["name"]: p for p in data}
    for plugin in data:
        assert set(plugin) == {"name", "dist", "version", "status", "error", "provides"}
        assert set(plugin["provides"]) == {
            "providers",
            "tools",
            "verifiers",
            "memory_backends",
            "channels",
            "embedders",
            "commands",
        }
        assert plugin["status"] in ("loaded", "failed", "blocked")
    assert by_name["listed"]["provides"]["tools"] == ["listed_tool"]
    assert by_name["listed"]["version"] == "0.9"
    assert by_name["core"]["provides"]["providers"] == ["scripted"]
    assert by_name["broken"]["status"] == "failed"
    assert main(["plugins", "doctor"]) == 1
    out = capsys.readouterr().out
    assert "broken" in out and "Traceback" in out and "fix:" in out
    assert main(["plugins", "list"]) == 0
    assert "listed_tool" in capsys.readouterr().out


def test_cli_doctor_all_good(tau_home, capsys):
    reset_plugin_manager()
    assert main(["plugins", "doctor"]) == 0
    assert "all good" in capsys.readouterr().out
