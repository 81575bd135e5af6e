"""Configuration files, ``tau config``, and errors that name file, line and key."""

from __future__ import annotations

import json

import pytest

from tau_core import load_config
from tau_core import tau_home as home_dir
from tau_core._cli import main
from tau_core._config import config_paths, set_config_value
from tau_core.errors import ConfigError


def test_tau_home_moves_everything(tau_home):
    assert home_dir() == tau_home.resolve()
    paths = config_paths()
    assert paths["user"] == tau_home.resolve() / "config.toml"


def test_user_and_project_config_merge(tau_home, tmp_path, monkeypatch):
    (tau_home / "config.toml").write_text('[run]\nmodel = "scripted:a.json"\nmax_turns = 5\n')
    project = tmp_path / "proj" / "sub"
    project.mkdir(parents=True)
    (tmp_path / "proj" / "tau.toml").write_text("[run]\nmax_turns = 9\n")
    monkeypatch.chdir(project)
    config = load_config()
    assert config.get("run.model") == "scripted:a.json"
    assert config.get("run.max_turns") == 9
    assert config.sources["run.max_turns"].endswith("tau.toml")
    assert config.get("run") == {"model": "scripted:a.json", "max_turns": 9}
    assert config.get("nope", "default") == "default"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('[run]\nmodel = "x"\n', r"config.toml:2, key 'run.model': 'x' is not a model spec"),
        ("[run]\nmax_turns = 0\n", r"config.toml:2, key 'run.max_turns': 0 is not a positive"),
        ("[rnu]\nmodel = 'a:b'\n", r"config.toml:2, key 'rnu.model': unknown setting"),
        ("[run\nmodel = 1\n", r"config.toml:1: invalid TOML"),
        ('[plugins]\nblock = "alpha"\n', r"key 'plugins.block': 'alpha' is not a list"),
        ('[journal]\nsynchronous = "off"\n', r"key 'journal.synchronous'"),
    ],
)
def test_errors_name_file_line_and_key(tau_home, text, pattern):
    (tau_home / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_config()


def test_plugin_tables_are_open(tau_home):
    (tau_home / "config.toml").write_text(
        '[providers.local-ollama]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1"\n'
    )
    assert load_config().get("providers.local-ollama.kind") == "openai-compatible"


def test_set_writes_atomically_and_validates(tau_home):
    path = set_config_value("run.max_turns", "7")
    assert load_config().get("run.max_turns") == 7
    set_config_value("plugins.block", '["a", "b"]')
    assert load_config().get("plugins.block") == ["a", "b"]
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="not a positive integer"):
        set_config_value("run.max_turns", "-1")
    with pytest.raises(ConfigError, match="unknown setting"):
        set_config_value("run.colour", "red")
    assert path.read_bytes() == before  # nothing written on a bad value


def test_cli_config_get_set_path(tau_home, capsys, tmp_path, monkeypatch):
    assert main(["config", "set", "run.model", "scripted:demo.json"]) == 0
    capsys.readouterr()
    assert main(["config", "get", "run.model"]) == 0
    assert capsys.readouterr().out.strip() == "scripted:demo.json"
    assert main(["config", "get", "run.model", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["value"] == "scripted:demo.json" and data["source"].endswith("config.toml")
    assert main(["config", "get", "run.preset"]) == 1
    assert main(["config", "path", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["home"] == str(tau_home.resolve())
    monkeypatch.chdir(tmp_path)
    assert main(["config", "set", "--project", "run.max_turns", "3"]) == 0
    assert (tmp_path / "tau.toml").read_text().strip() == "[run]\nmax_turns = 3"
    assert main(["config", "set", "run.max_turns", "zero"]) == 2
    assert "is not a positive integer" in capsys.readouterr().err
