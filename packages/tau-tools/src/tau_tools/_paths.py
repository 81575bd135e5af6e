"""Workspace paths: the one rule every tau-tools tool uses to turn a model's path into a file.

A model names files relative to the task's working directory. :func:`resolve` accepts such a
path only when it stays inside the workspace after every symlink is followed, and never when it
touches ``.git``. It raises a :class:`~tau_core.errors.ToolError` whose ``code`` says which rule
refused it, so the model can correct the call:

=================  ===========================================================================
code               refused because
=================  ===========================================================================
``bad_path``       the path is empty or not a string
``nul_byte``       the path contains a NUL byte
``absolute_path``  the path is absolute (``/etc/passwd``)
``parent_escape``  a component is ``..`` (even ``a/../b``: say ``b``)
``git_dir``        a component is ``.git``, or a symlink leads into the repository's ``.git``
``symlink_escape`` a symlink on the way (a directory, or the final component, even dangling)
                   leads outside the workspace
=================  ===========================================================================

Tools compute their capabilities with :func:`capability_for`, so tau-core checks the grants
against the real, absolute target and a symlink cannot smuggle a write past a grant.

Hard links cannot be told apart from ordinary files. Writes through :mod:`tau_tools._transaction`
replace a file by renaming a new one over it, so they replace a hard link rather than write
through it, and the other name keeps its old content.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from tau_core import Capability
from tau_core.errors import ToolError

__all__ = ["GIT_DIR", "Purpose", "capability_for", "is_git_component", "relative", "resolve"]

Purpose = Literal["read", "write"]
GIT_DIR = ".git"


def is_git_component(name: str) -> bool:
    """Whether a path component names a ``.git`` entry (case-insensitively, for macOS and
    Windows file systems where ``.GIT`` is the same directory)."""
    return name.casefold() == GIT_DIR


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve(workdir: Path, path: str, *, purpose: Purpose) -> Path:
    """Resolve a model-supplied *path* to the real absolute path inside the workspace.

    Args:
        workdir: The task's working directory (the workspace root).
        path: The path the model gave, relative to *workdir*; ``"."`` is the root itself.
        purpose: ``"read"`` or ``"write"``; it only changes the wording of refusals (both are
            held to the same rules: the file tools neither read nor write ``.git``).

    Returns:
        The absolute path with every existing symlink resolved (a final symlink included, even
        one whose target does not exist yet), guaranteed to lie inside ``workdir.resolve()``.

    Raises:
        ToolError: The path breaks a rule; ``code`` names it (see the module docs).
    """
    verb = "read" if purpose == "read" else "write"
    if not isinstance(path, str) or not path.strip():
        raise ToolError(
            f"the path {path!r} is empty; name a file relative to the workspace",
            code="bad_path",
            hint='use a relative path such as "src/app.py" (or "." for the workspace itself)',
        )
    if "\0" in path:
        raise ToolError(
            f"the path {path!r} contains a NUL byte, which no file name may hold",
            code="nul_byte",
            hint="remove the \\0 character from the path",
        )
    if os.path.isabs(path) or path.startswith(("/", "\\")):
        raise ToolError(
            f"the path {path!r} is absolute; tools only {verb} files inside the workspace",
            code="absolute_path",
            hint="pass the path relative to the workspace root, e.g. 'src/app.py'",
        )
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ToolError(
            f"the path {path!r} contains '..'; paths may not step out of a directory",
            code="parent_escape",
            hint="write the path from the workspace root without '..' components",
        )
    if any(is_git_component(p) for p in parts):
        raise ToolError(
            f"the path {path!r} is inside .git, which the file tools never {verb}",
            code="git_dir",
            hint="use the git tool for repository operations; edit working-tree files only",
        )
    root = os.path.realpath(workdir)
    candidate = os.path.join(root, *path.split("/")) if parts else root
    real = os.path.realpath(candidate)
    if not _within(real, root):
        raise ToolError(
            f"the path {path!r} goes through a symlink that leads outside the workspace "
            f"(to {real})",
            code="symlink_escape",
            hint="name a file that really lives inside the workspace",
        )
    inner = os.path.relpath(real, root).split(os.sep)
    if any(is_git_component(p) for p in inner):
        raise ToolError(
            f"the path {path!r} goes through a symlink into .git, which the file tools "
            f"never {verb}",
            code="git_dir",
            hint="use the git tool for repository operations; edit working-tree files only",
        )
    return Path(real)


def capability_for(workdir: Path, path: str, purpose: Purpose) -> Capability:
    """The capability a call needs to *purpose* the file at *path*: its resolved absolute target.

    Raises:
        ToolError: The path breaks a rule of :func:`resolve`.
    """
    return Capability(purpose, str(resolve(workdir, path, purpose=purpose)))


def relative(workdir: Path, path: Path) -> str:
    """*path* (inside the workspace) as a POSIX path relative to *workdir*, for messages."""
    rel = os.path.relpath(path, os.path.realpath(workdir))
    return "." if rel == "." else rel.replace(os.sep, "/")
