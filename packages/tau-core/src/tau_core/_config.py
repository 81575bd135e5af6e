"""Configuration: TOML files, ``TAU_HOME``, and ``tau config get|set|path``.

Files, later ones overriding earlier ones key by key:

1. the user config: ``$TAU_HOME/config.toml`` when ``TAU_HOME`` is set, else ``config.toml`` in
   the platform's user config directory;
2. the project config: the nearest ``tau.toml`` in the current directory or its parents.

``TAU_HOME`` moves all state (journal, credential store, config) under one directory, for tests
and for apps embedding Tau. Every error names the file, the line and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define, field

from .errors import ConfigError

__all__ = ["Config", "config_paths", "load_config", "set_config_value", "tau_home"]


def tau_home() -> Path:
    """The directory holding Tau's state: ``TAU_HOME``, else the platform's user data dir."""
    env = os.environ.get("TAU_HOME")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("tau", appauthor=False))


def user_config_path() -> Path:
    env = os.environ.get("TAU_HOME")
    if env:
        return Path(env).expanduser().resolve() / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("tau", appauthor=False)) / "config.toml"


def project_config_path(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / "tau.toml"
        if candidate.is_file():
            return candidate
    return None


def config_paths(start: Path | None = None) -> dict[str, Path | None]:
    """The config files Tau reads, by role (``user``, ``project``) plus ``home``."""
    return {"user": user_config_path(), "project": project_config_path(start), "home": tau_home()}


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda v: v in choices


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _pos_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v > 0


_SCHEMA: dict[str, tuple[Callable[[Any], bool], str]] = {
    "plugins.block": (_is_str_list, "a list of plugin names"),
    "plugins.modules": (_is_str_list, "a list of module names"),
    "plugins.strict": (lambda v: isinstance(v, bool), "true or false"),
    "run.model": (lambda v: isinstance(v, str) and ":" in v, "a model spec 'provider:model'"),
    "run.fallback": (_is_str_list, "a list of model specs"),
    "run.tools": (_is_str_list, "a list of tool names"),
    "run.preset": (
        _one_of("read-only", "workspace-write", "full"),
        "one of read-only, workspace-write, full",
    ),
    "run.approval": (_one_of("never", "ask", "deny"), "one of never, ask, deny"),
    "run.verifier": (lambda v: isinstance(v, str) and bool(v), "a verifier name"),
    "run.max_turns": (_pos_int, "a positive integer"),
    "run.max_parallel_tools": (_pos_int, "a positive integer"),
    "run.tool_timeout": (_pos_num, "a positive number of seconds"),
    "budgets.max_turns": (_pos_int, "a positive integer"),
    "budgets.max_tokens": (_pos_int, "a positive integer"),
    "budgets.max_cost": (_pos_num, "a positive number of US dollars"),
    "budgets.max_wall_time": (_pos_num, "a positive number of seconds"),
    "budgets.max_tool_calls": (_pos_int, "a positive integer"),
    "budgets.max_repairs": (lambda v: isinstance(v, int) and v >= 0, "a non-negative integer"),
    "budgets.unknown_price": (
        _one_of("block", "cap"),
        "block or cap (cap also needs budgets.unknown_price_max_tokens)",
    ),
    "budgets.unknown_price_max_tokens": (_pos_int, "a positive integer (tokens)"),
    "journal.synchronous": (_one_of("normal", "full"), "normal or full"),
    "credentials.backend": (
        _one_of("auto", "keyring", "passphrase"),
        "one of auto, keyring, passphrase",
    ),
}
# Tables whose contents belong to plugins (providers, verifiers, …): any keys allowed.
_OPEN_TABLES = ("providers", "verifiers", "tools", "memory", "channels", "safety", "embedders")


def _find_line(text: str, dotted: str) -> int | None:
    """Best-effort 1-based line of *dotted* in TOML *text* (for error messages)."""
    *tables, leaf = dotted.split(".")
    table = ".".join(tables)
    current = ""
    leaf_re = re.compile(rf"^\s*(\"?{re.escape(leaf)}\"?)\s*=")
    for i, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            current = stripped.strip("[]").strip()
            continue
        if current == table and leaf_re.match(line):
            return i
        if not current and table and re.match(rf"^\s*{re.escape(dotted)}\s*=", line):
            return i
    return None


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not key.startswith(_OPEN_TABLES):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, dict):
            out.update(_flatten(v, key + ".") if v else {key: v})
        else:
            out[key] = v
    return out


def validate(key: str, value: Any, *, path: str | None = None, text: str = "") -> None:
    """Check one dotted *key* and its *value* against the schema.

    Raises:
        ConfigError: Unknown key or bad value; names the file, line and key.
    """
    line = _find_line(text, key) if text else None
    if key.split(".", maxsplit=1)[0] in _OPEN_TABLES:
        return
    if key not in _SCHEMA:
        known = ", ".join(sorted(_SCHEMA))
        raise ConfigError(
            f"unknown setting; known settings: {known}", path=path, line=line, key=key
        )
    check, expected = _SCHEMA[key]
    if not check(value):
        raise ConfigError(f"{value!r} is not {expected}", path=path, line=line, key=key)


def _read(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("is not UTF-8 text", path=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(
            f"invalid TOML: {exc}", path=str(path), line=int(m.group(1)) if m else None
        ) from None
    for key, value in _flatten(data).items():
        validate(key, value, path=str(path), text=text)
    return data, text


@define
class Config:
    """The merged configuration and where each value came from."""

    values: dict[str, Any] = field(factory=dict)
    sources: dict[str, str] = field(factory=dict)
    files: list[Path] = field(factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """The value at dotted *key*, or *default*. Tables come back as dicts."""
        if key in self.values:
            return self.values[key]
        prefix = key + "."
        sub = {k[len(prefix) :]: v for k, v in self.values.items() if k.startswith(prefix)}
        if sub:
            nested: dict[str, Any] = {}
            for k, v in sub.items():
                node = nested
                *parents, leaf = k.split(".")
                for p in parents:
                    node = node.setdefault(p, {})
                node[leaf] = v
            return nested
        return default


def load_config(start: Path | None = None) -> Config:
    """Read and merge the user and project config files (missing files are fine)."""
    config = Config()
    for path in (user_config_path(), project_config_path(start)):
        if path is None or not path.is_file():
            continue
        data, _ = _read(path)
        for key, value in _flatten(data).items():
            config.values[key] = value
            config.sources[key] = str(path)
        config.files.append(path)
    return config


def parse_value(raw: str) -> Any:
    """Read a CLI value as TOML (``3``, ``true``, ``["a"]``), falling back to a plain string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def set_config_value(key: str, raw: str, path: Path | None = None) -> Path:
    """Set dotted *key* to *raw* (parsed as TOML) in *path* (default: the user config).

    The file is rewritten atomically with tomli-w; nothing is written when validation fails.

    Raises:
        ConfigError: Unknown key, bad value, or an unreadable existing file.
    """
    import tomli_w

    from ._fsutil import atomic_write

    target = path or user_config_path()
    value = parse_value(raw)
    validate(key, value, path=str(target))
    data: dict[str, Any] = _read(target)[0] if target.is_file() else {}
    node = data
    *parents, leaf = key.split(".")
    for p in parents:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{p!r} is a value, not a table", path=str(target), key=key)
        node = child
    node[leaf] = value
    atomic_write(target, tomli_w.dumps(data).encode(), mode=0o644)
    return target
