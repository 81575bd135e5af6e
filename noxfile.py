"""Tau's automation: one test session per distribution, plus integration, lint, typecheck, build,
bench and kill.

Run through ``scripts/dev test`` (which bootstraps uv and nox), or directly with ``nox -s NAME``.
Every session gets a fresh uv-made virtual environment holding only what it declares, so a test
that imports an undeclared dependency fails, and pytest's exit code 5 (no tests collected) fails
the session like any other non-zero exit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PACKAGES = ("core", "provider", "tools", "safety", "memory")
PLUGINS = {"core": "tau_core._plugin"} | {p: f"tau_{p}._plugin" for p in PACKAGES[1:]}
LINTED = ("packages", "tests", "bench", "noxfile.py")

nox.options.default_venv_backend = "uv"
nox.options.error_on_external_run = True
nox.options.sessions = [
    *(f"tests-{p}" for p in PACKAGES),
    "integration",
    "agentdojo",
    "local-model",
    "lint",
    "typecheck",
    "build",
    "kill",
    "patch-corpus",
]

# Variables that change which plugins load; sessions start without them so a developer's shell
# cannot turn a failing plugin test green.
_PLUGIN_ENV: dict[str, str | None] = {
    "TAU_PLUGINS": None,
    "TAU_DISABLE_PLUGIN_AUTOLOAD": None,
    "TAU_PLUGIN_MODULES": None,
    "TAU_STRICT_PLUGINS": None,
}


def _pyproject(path: Path) -> dict[str, object]:
    with (path / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _group(path: Path, name: str) -> tuple[str, ...]:
    """The requirements of dependency group *name* in *path*/pyproject.toml, includes resolved."""
    return nox.project.dependency_groups(_pyproject(path), name)


def _package_dir(name: str) -> Path:
    return ROOT / "packages" / f"tau-{name}"


def _editable(name: str, *, credentials: bool = False) -> list[str]:
    """pip arguments installing tau-*name* editable; *credentials* adds tau-core's extra."""
    extra = "[credentials]" if credentials and name == "core" else ""
    return ["-e", f"{_package_dir(name)}{extra}"]


def _install_workspace(session: nox.Session) -> None:
    """Install all five distributions (editable) and the root ``test`` group."""
    args = [a for p in PACKAGES for a in _editable(p, credentials=True)]
    session.install(*args, *_group(ROOT, "test"))


# Test files that need an optional extra and run in a session of their own.
_OWN_SESSION = {"provider": ("test_local_inference.py",)}


def _test_package(name: str) -> Callable[[nox.Session], None]:
    def session_func(session: nox.Session) -> None:
        # The package itself, tau-core from its local path (never from an index: the pin is
        # ``tau-core==0.1.0``), and the package's own ``test`` dependency group. Nothing else,
        # except that tau-core's own tests also exercise its ``credentials`` extra.
        pkgs = ["core"] if name == "core" else ["core", name]
        args = [a for p in pkgs for a in _editable(p, credentials=name == "core")]
        session.install(*args, *_group(_package_dir(name), "test"))
        ignore = [
            f"--ignore={_package_dir(name) / 'tests' / f}" for f in _OWN_SESSION.get(name, ())
        ]
        session.run(
            "pytest", str(_package_dir(name) / "tests"), *ignore, *session.posargs, env=_PLUGIN_ENV
        )

    session_func.__doc__ = f"Run tau-{name}'s tests with only its declared dependencies installed."
    session_func.__name__ = f"tests_{name}"
    return session_func


for _name in PACKAGES:
    nox.session(name=f"tests-{_name}")(_test_package(_name))


@nox.session
def integration(session: nox.Session) -> None:
    """Run the cross-package tests in tests/ with every distribution installed."""
    _install_workspace(session)
    # The full kill-9 loop has its own session; here its short version runs. AgentDojo needs its
    # own (heavy) dependency and has a session of its own.
    session.run(
        "pytest",
        str(ROOT / "tests"),
        "-m",
        "not slow",
        f"--ignore={ROOT / 'tests' / 'test_agentdojo.py'}",
        *session.posargs,
        env=_PLUGIN_ENV,
    )


@nox.session
def agentdojo(session: nox.Session) -> None:
    """AgentDojo's suites, offline, against Tau's runtime and tau-safety's rails.

    A scripted model that obeys every injected instruction drives Tau with the suites' tools;
    the suites' own utility and security checks score it (tests/test_agentdojo.py; the full
    figures come from bench/bench_agentdojo.py).
    """
    _install_workspace(session)
    session.install(*_group(ROOT, "agentdojo"))
    session.run(
        "pytest", str(ROOT / "tests" / "test_agentdojo.py"), *session.posargs, env=_PLUGIN_ENV
    )


@nox.session(name="local-model")
def local_model(session: nox.Session) -> None:
    """Real inference with the ``local`` provider: SmolLM2-135M through llama-cpp-python.

    Installs tau-provider with its ``local`` extra (llama-cpp-python compiles from source the
    first time; uv caches the wheel) and tau-tools, then runs the inference tests: a
    well-formed tool call under the grammar, and the main job end to end, verified.
    ``scripts/dev`` sets ``CMAKE_ARGS`` for a portable build.
    """
    provider = _package_dir("provider")
    session.install(
        *_editable("core"),
        "-e",
        f"{provider}[local]",
        *_editable("tools"),
        *_group(provider, "test"),
    )
    session.run(
        "pytest",
        str(provider / "tests" / "test_local_inference.py"),
        *session.posargs,
        env={**_PLUGIN_ENV, "TAU_REQUIRE_LOCAL_MODEL": "1"},  # a missing model fails, never skips
    )


@nox.session
def kill(session: nox.Session) -> None:
    """Kill-9 robustness loop: tests/test_kill.py at its full iteration count."""
    _install_workspace(session)
    session.run(
        "pytest",
        str(ROOT / "tests" / "test_kill.py"),
        "-m",
        "slow",
        *session.posargs,
        env={**_PLUGIN_ENV, "TAU_KILL_ITERATIONS": "100"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over every package, the tests, bench and this file."""
    session.install(*(r for r in _group(ROOT, "lint") if r.startswith("ruff")))
    paths = [str(ROOT / p) for p in LINTED]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict (configured in pyproject.toml) on every package's src/."""
    # The test group too: tau_core.testing is a pytest plugin, typed against pytest's API.
    args = [a for p in PACKAGES for a in _editable(p, credentials=True)]
    session.install(*args, *_group(ROOT, "lint"), *_group(ROOT, "test"))
    with session.chdir(ROOT):
        session.run("mypy", *(f"packages/tau-{p}/src" for p in PACKAGES), *session.posargs)


_CHECK_ENTRY_POINTS = """
import importlib.metadata, json, sys
expected = json.loads(sys.argv[1])
eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="tau.plugins")}
if set(eps) != set(expected):
    sys.exit(f"tau.plugins entry points are {sorted(eps)}, expected {sorted(expected)}")
for name, ep in sorted(eps.items()):
    if ep.value != expected[name]:
        sys.exit(f"entry point {name!r} points at {ep.value!r}, expected {expected[name]!r}")
    module = ep.load()
    if getattr(module, "TAU_PLUGIN_API", None) != 1:
        sys.exit(f"{ep.value} does not declare TAU_PLUGIN_API = 1")
    if "site-packages" not in (module.__file__ or ""):
        sys.exit(f"{ep.value} was imported from {module.__file__}, not from the installed wheel")
    print(f"entry point {name} -> {ep.value}: ok")
"""


@nox.session
def build(session: nox.Session) -> None:
    """Build all five wheels, install them into a brand-new venv, and check the result."""
    tmp = Path(session.create_tmp()).resolve()
    dist, venv, home = tmp / "dist", tmp / "clean-venv", tmp / "tau-home"
    for d in (dist, venv, home):
        shutil.rmtree(d, ignore_errors=True)
    session.run(
        "uv", "build", "--all-packages", "--wheel", "--out-dir", str(dist), "--directory", str(ROOT)
    )
    wheels = sorted(dist.glob("*.whl"))
    names = sorted(w.name.split("-")[0] for w in wheels)
    if names != sorted(f"tau_{p}" for p in PACKAGES):
        session.error(f"expected one wheel per distribution, got {[w.name for w in wheels]}")
    for wheel in wheels:
        pkg = wheel.name.split("-")[0]
        with zipfile.ZipFile(wheel) as zf:
            if f"{pkg}/py.typed" not in zf.namelist():
                session.error(f"{wheel.name} does not ship {pkg}/py.typed")

    # A clean venv outside the workspace, holding the wheels and their declared dependencies.
    session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv))
    python, tau = str(venv / "bin" / "python"), str(venv / "bin" / "tau")
    session.run("uv", "pip", "install", "--python", python, *map(str, wheels))

    env = {**_PLUGIN_ENV, "TAU_HOME": str(home), "VIRTUAL_ENV": str(venv), "PYTHONPATH": None}
    with session.chdir(tmp):  # away from the source tree, so only the installed code is found
        session.run(
            python, "-I", "-c", _CHECK_ENTRY_POINTS, json.dumps(PLUGINS), env=env, external=True
        )
        version = session.run(tau, "--version", env=env, external=True, silent=True)
        assert isinstance(version, str)
        if "0.1.0" not in version:
            session.error(f"`tau --version` printed {version!r}, expected version 0.1.0")
        session.log(f"tau --version: {version.strip()}")
        listing = session.run(tau, "plugins", "list", "--json", env=env, external=True, silent=True)
    assert isinstance(listing, str)
    _check_plugin_listing(session, listing)


def _check_plugin_listing(session: nox.Session, text: str) -> None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        session.error(f"`tau plugins list --json` did not print JSON ({exc}):\n{text}")
    reports = data.get("plugins") if isinstance(data, dict) else data
    if not isinstance(reports, list) or not all(isinstance(r, dict) for r in reports):
        session.error(f"`tau plugins list --json` printed no list of plugin reports:\n{text}")
    status = {r.get("name"): r.get("status") for r in reports}
    wrong = {p: status.get(p, "missing") for p in PLUGINS if status.get(p) != "loaded"}
    if wrong:
        session.error(f"plugins not loaded from the installed wheels: {wrong}\n{text}")
    session.log(f"tau plugins list --json: {', '.join(f'{p}={status[p]}' for p in PLUGINS)}")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every bench/*.py script; each must print one JSON document."""
    # Other modules in bench/ are helpers the scripts import.
    scripts = sorted((ROOT / "bench").glob("bench_*.py"))
    if not scripts:
        session.error("bench/ holds no *.py scripts: nothing was measured")
    _install_workspace(session)
    session.install(*_group(ROOT, "bench"), *_group(ROOT, "agentdojo"))
    for script in scripts:
        # stdout only: a warning a peer prints on stderr must not break the JSON.
        result = subprocess.run(
            [str(Path(session.bin) / "python"), str(script), *session.posargs],
            env={k: v for k, v in os.environ.items() if k not in _PLUGIN_ENV},
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            session.error(f"{script.name} failed ({result.returncode}):\n{result.stderr}")
        out = result.stdout
        try:
            figures = json.loads(out)
        except json.JSONDecodeError as exc:
            session.error(f"{script.name} did not print JSON ({exc}):\n{out}")
        print(json.dumps({script.stem: figures}, indent=2, sort_keys=True))


def _patch_corpus_dir() -> Path:
    """Where ``patch-corpus`` caches sdists, trees and diffs; ``TAU_PATCH_CORPUS_DIR`` overrides."""
    return Path(os.environ.get("TAU_PATCH_CORPUS_DIR", ROOT / ".cache" / "patch-corpus"))


@nox.session(name="patch-corpus")
def patch_corpus(session: nox.Session) -> None:
    """Build (or reuse) apply_patch's corpus of real release diffs and check apply_patch on it.

    Downloads two consecutive sdists of several pure-Python packages with pip (cached, with its
    own .gitignore), diffs them with git, applies every diff byte-exact and compares perturbed
    patches with ``git apply --check``; prints the comparison summary as JSON.
    """
    tools = _package_dir("tools")
    session.install(*_editable("core"), *_editable("tools"), *_group(tools, "test"), "pip")
    scripts = tools / "tests" / "corpus"
    cache = _patch_corpus_dir()
    session.run("python", str(scripts / "build_corpus.py"), str(cache))
    env = {**_PLUGIN_ENV, "TAU_PATCH_CORPUS": str(cache / "manifest.json")}
    session.run("pytest", str(tools / "tests" / "test_patch_corpus.py"), *session.posargs, env=env)
    session.run("python", str(scripts / "compare.py"), str(cache / "manifest.json"), env=env)
