"""tau-tools' plugin: registers its tools and verifiers by name with lazy factories.

Tau's plugin manager imports this module every time plugins load, so it stays import-light:
it never imports httpx, bashlex or a tool module; each factory string is resolved only when a
run needs that tool or verifier.
"""

from __future__ import annotations

from typing import Any

from tau_core import hookimpl

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""

_TOOLS = {
    "read": ("tau_tools._files:ReadTool", "read a text file, with line numbers, offset and limit"),
    "write": ("tau_tools._files:WriteTool", "write a file atomically"),
    "edit": ("tau_tools._files:EditTool", "exact find/replace in one file"),
    "write_many": ("tau_tools._files:WriteManyTool", "write several files, all or nothing"),
    "edit_many": ("tau_tools._files:EditManyTool", "edit several files, all or nothing"),
    "apply_patch": (
        "tau_tools._patch_tool:ApplyPatchTool",
        "apply unified diffs or search/replace blocks, all or nothing",
    ),
    "ls": ("tau_tools._search:LsTool", "list a directory (respects .gitignore)"),
    "glob": ("tau_tools._search:GlobTool", "find files by pattern (respects .gitignore)"),
    "grep": ("tau_tools._search:GrepTool", "search file contents by regex (respects .gitignore)"),
    "shell": ("tau_tools._shell:ShellTool", "run a shell command in a sandbox"),
    "http": ("tau_tools._http:HttpTool", "SSRF-safe HTTP requests"),
    "git": ("tau_tools._git:GitTool", "git status, diff, branch, worktree, commit"),
}
_VERIFIERS = {
    "command": (
        "tau_tools._verify_command:command_verifier",
        "green when a command exits 0 (run in the sandbox)",
    ),
    "pytest": (
        "tau_tools._verify_pytest:pytest_verifier",
        "runs pytest with JUnit XML; per-test evidence",
    ),
    "red_green": (
        "tau_tools._verify_pytest:red_green_verifier",
        "red before the change, green after, regressions stay green",
    ),
}


@hookimpl
def tau_register_tools(registry: Any) -> None:
    for name, (factory, help_text) in _TOOLS.items():
        registry.register(name, factory, help=help_text)


@hookimpl
def tau_register_verifiers(registry: Any) -> None:
    for name, (factory, help_text) in _VERIFIERS.items():
        registry.register(name, factory, help=help_text)
