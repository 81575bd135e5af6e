"""All-or-nothing changes to several files: the engine under write_many, edit_many and apply_patch.

A :class:`FileTransaction` collects writes, deletes, renames and mode changes against a
virtual view of the workspace (:meth:`FileTransaction.read` sees the pending changes), then
:meth:`FileTransaction.commit` applies them so that either every change lands or the tree is
left byte-for-byte as it was: content, file mode and existence, directories included.

How a commit works:

1. **Check**: every touched path is still where and what it was when the transaction first
   looked at it (same inode, size and modification time, or still absent), and no symlink has
   appeared on the way; otherwise nothing is changed (``changed_on_disk``).
2. **Stage**: missing parent directories are created; each new content goes to a temporary
   file ``.tau-txn-<id>-<n>.new`` in its target directory, with its final mode, and is fsynced.
3. **Back up**: each file that will be replaced gets a hard link ``.tau-txn-<id>-<n>.bak`` in
   the same directory (a fsynced copy where hard links are not supported).
4. **Apply**: new files are renamed over their targets; deleted files are renamed to their
   backup name. Each step is logged.
5. **Flush**: every touched directory is fsynced. This is the commit point.
6. **Clean up**: backups are unlinked.

If any step up to 5 fails, every applied step is undone in reverse order (backups renamed
back, created files and directories removed) and the temporary files are removed; the error
names the file and the operating system's reason.

Crash window: a SIGKILL or power loss during step 4 or 5 leaves a partial state that no code
gets to roll back. Nothing is lost: every replaced or deleted file still exists as its
``.tau-txn-<id>-<n>.bak`` hard link (its original inode, mode and content) next to the target,
and unapplied new contents remain as ``.tau-txn-<id>-<n>.new``. To recover the old tree, rename
each ``.bak`` back over its target and delete the ``.new`` files and any file the transaction
created; to finish the new tree instead, rename each ``.new`` over its target and delete the
``.bak`` files. A crash during step 6 only leaves stray ``.bak`` files beside a complete new tree.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from pathlib import Path

from attrs import define, field, frozen

from tau_core.errors import ToolError

from ._paths import relative, resolve

__all__ = ["TXN_PREFIX", "FileTransaction"]

TXN_PREFIX = ".tau-txn-"
"""File names starting with this are a transaction's temporary or backup files."""

_Fingerprint = tuple[int, int, int, int] | None


@frozen
class _Content:
    """A file's final content: bytes, or the original content of another file on disk."""

    data: bytes | None
    source: Path | None
    mode: int


@define
class _Step:
    """One applied change, with what undoes it."""

    kind: str  # "replace" | "create" | "delete"
    target: Path
    backup: Path | None = None


def _fingerprint(path: Path) -> _Fingerprint:
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)


def _default_mode() -> int:
    """The mode a new file gets from ``open()``: 0o666 minus the process umask."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(path))


def fsync_directory(directory: Path) -> None:
    """Flush *directory*'s entries (renames, creations) to disk; raises ``OSError`` on failure."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@define
class FileTransaction:
    """Changes to several files that are applied all together or not at all.

    Paths may be given relative to the workspace (they go through
    :func:`tau_tools._paths.resolve` with purpose ``"write"``) or as absolute paths that
    ``resolve`` returned. Changes compose in order: a write then a rename moves the new
    content; two edits of one file through :meth:`read` and :meth:`write` both apply.

    Args:
        workdir: The workspace root.

    Raises (from every method):
        ToolError: A path is refused, missing, or of the wrong kind; nothing has changed.
    """

    workdir: Path = field(converter=_real)
    _state: dict[Path, _Content | None] = field(factory=dict, init=False)
    _dirs: dict[Path, int] = field(factory=dict, init=False)  # pending files per directory
    _seen: dict[Path, _Fingerprint] = field(factory=dict, init=False)
    _token: str = field(factory=lambda: secrets.token_hex(4), init=False)
    _counter: int = field(default=0, init=False)
    _fds: dict[Path, int] = field(factory=dict, init=False)  # open directories during commit

    # -- the virtual view ---------------------------------------------------------------------

    def _path(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        if p.is_absolute():
            p = Path(os.path.relpath(os.path.realpath(p), self.workdir))
        return resolve(self.workdir, p.as_posix(), purpose="write")

    def _rel(self, path: Path) -> str:
        return relative(self.workdir, path)

    def _current(self, path: Path) -> _Content | None:
        """The pending content of *path*, or its content on disk (None: it does not exist)."""
        if path in self._state:
            return self._state[path]
        self._seen.setdefault(path, _fingerprint(path))
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(
                f"{self._rel(path)} is a directory, not a file",
                code="is_directory",
                hint="name a file inside it",
            )
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(
                f"{self._rel(path)} is not a regular file",
                code="not_a_file",
                hint="the file tools only change regular files",
            )
        return _Content(None, path, stat.S_IMODE(st.st_mode))

    def _check_parents(self, path: Path) -> None:
        for parent in path.relative_to(self.workdir).parents:
            where = self.workdir / parent
            if where in self._state and self._state[where] is not None:
                raise ToolError(
                    f"{self._rel(path)}: {self._rel(where)} is a file in this change",
                    code="not_a_directory",
                    hint="a path cannot be both a file and a directory",
                )
            if os.path.lexists(where) and not os.path.isdir(where):
                raise ToolError(
                    f"{self._rel(path)}: {self._rel(where)} is a file, not a directory",
                    code="not_a_directory",
                    hint="choose a path whose parent directories are directories",
                )

    def _set(self, path: Path, content: _Content | None) -> None:
        """Record *path*'s pending content, counting the directories pending files need."""
        if self._state.get(path) is not None:
            for parent in path.parents:
                self._dirs[parent] -= 1
        if content is not None:
            for parent in path.parents:
                self._dirs[parent] = self._dirs.get(parent, 0) + 1
        self._state[path] = content

    def _check_not_parent(self, path: Path) -> None:
        if self._dirs.get(path, 0) > 0:
            raise ToolError(
                f"{self._rel(path)} is a directory in this change",
                code="is_directory",
                hint="a path cannot be both a file and a directory",
            )

    def read(self, path: str | os.PathLike[str]) -> bytes | None:
        """The content *path* will have after the pending changes (None: it will not exist)."""
        content = self._current(self._path(path))
        if content is None:
            return None
        if content.data is not None:
            return content.data
        assert content.source is not None  # noqa: S101 - a content is bytes or a source
        try:
            return content.source.read_bytes()
        except OSError as exc:
            raise ToolError(
                f"cannot read {self._rel(content.source)}: {exc.strerror}",
                code="read_failed",
                hint="check that the file is readable",
            ) from None

    def mode(self, path: str | os.PathLike[str]) -> int | None:
        """The permission bits *path* will have (None: it will not exist)."""
        content = self._current(self._path(path))
        return None if content is None else content.mode

    def exists(self, path: str | os.PathLike[str]) -> bool:
        """Whether *path* will exist after the pending changes."""
        return self._current(self._path(path)) is not None

    # -- changes ------------------------------------------------------------------------------

    def write(self, path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
        """Set *path*'s content (creating it and its parents); *mode* defaults to the file's
        current mode, or the usual new-file mode (0o666 minus umask)."""
        p = self._path(path)
        if p == self.workdir:
            raise ToolError(
                "the workspace root is a directory", code="is_directory", hint="name a file"
            )
        current = self._current(p)
        self._check_parents(p)
        self._check_not_parent(p)
        if mode is None:
            mode = current.mode if current is not None else _default_mode()
        self._set(p, _Content(bytes(data), None, stat.S_IMODE(mode)))

    def delete(self, path: str | os.PathLike[str]) -> None:
        """Delete the file *path*."""
        p = self._path(path)
        if self._current(p) is None:
            raise ToolError(
                f"cannot delete {self._rel(p)}: it does not exist",
                code="not_found",
                hint="check the path with ls or glob",
            )
        self._set(p, None)

    def rename(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        """Move the file *src* to *dst* (replacing *dst* if it is a file)."""
        s, d = self._path(src), self._path(dst)
        content = self._current(s)
        if content is None:
            raise ToolError(
                f"cannot rename {self._rel(s)}: it does not exist",
                code="not_found",
                hint="check the path with ls or glob",
            )
        if s == d:
            return
        self._current(d)
        self._check_parents(d)
        self._check_not_parent(d)
        self._set(d, content)
        self._set(s, None)

    def chmod(self, path: str | os.PathLike[str], mode: int) -> None:
        """Set the permission bits of the file *path*."""
        p = self._path(path)
        content = self._current(p)
        if content is None:
            raise ToolError(
                f"cannot change the mode of {self._rel(p)}: it does not exist",
                code="not_found",
                hint="check the path with ls or glob",
            )
        self._set(p, _Content(content.data, content.source, stat.S_IMODE(mode)))

    @property
    def changes(self) -> dict[str, str]:
        """Each changed path (relative) and what happens to it: ``write`` or ``delete``."""
        return {
            self._rel(p): ("delete" if c is None else "write")
            for p, c in sorted(self._state.items())
            if c is not None or self._seen.get(p) is not None
        }

    # -- commit -------------------------------------------------------------------------------

    def _temp(self, directory: Path, suffix: str) -> Path:
        self._counter += 1
        return directory / f"{TXN_PREFIX}{self._token}-{self._counter}{suffix}"

    def _verify_unchanged(self) -> None:
        for path in self._state:
            if _fingerprint(path) != self._seen.get(path) or os.path.realpath(path) != str(path):
                raise ToolError(
                    f"{self._rel(path)} changed on disk while this change was being prepared",
                    code="changed_on_disk",
                    hint="read the file again and redo the change",
                )

    def commit(self) -> None:
        """Apply every pending change, or none (see the module docs for how and for the crash
        window).

        Raises:
            ToolError: ``changed_on_disk`` when a file changed since it was read, or
                ``write_failed`` when the operating system refused a step; the tree is unchanged.
                ``rollback_incomplete`` only if undoing also failed; the message lists the
                ``.tau-txn-*`` backups left to restore by hand.
        """
        if not self._state:
            return
        self._verify_unchanged()
        try:
            self._commit()
        finally:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()
        self._state.clear()
        self._dirs.clear()
        self._seen.clear()

    def _dir(self, directory: Path) -> int:
        """An open descriptor of *directory*, reached from the workspace root one component at a
        time without following symlinks: a directory swapped for a symlink after the check
        fails here (ELOOP) instead of redirecting the write outside the workspace."""
        if directory in self._fds:
            return self._fds[directory]
        if directory == self.workdir:
            fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        else:
            parent = self._dir(directory.parent)
            fd = os.open(
                directory.name,
                os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC | os.O_NOFOLLOW,
                dir_fd=parent,
            )
        self._fds[directory] = fd
        return fd

    def _exists(self, path: Path) -> bool:
        try:
            os.stat(path.name, dir_fd=self._dir(path.parent), follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def _commit(self) -> None:
        staged: dict[Path, Path] = {}
        backups: dict[Path, Path] = {}
        created_dirs: list[Path] = []
        applied: list[_Step] = []
        # A file created and then deleted (or moved away) within the transaction is no change.
        changes = [
            (path, content)
            for path, content in sorted(self._state.items())
            if content is not None or self._seen.get(path) is not None
        ]
        try:
            for path, content in changes:
                if content is not None:
                    self._make_parents(path.parent, created_dirs)
                    staged[path] = self._stage(path, content)
            for path, content in changes:
                if content is not None and self._exists(path):
                    backups[path] = self._backup(path)
            for path, content in changes:
                fd = self._dir(path.parent)
                if content is None:
                    backup = self._temp(path.parent, ".bak")
                    os.replace(path.name, backup.name, src_dir_fd=fd, dst_dir_fd=fd)
                    backups[path] = backup
                    applied.append(_Step("delete", path, backup))
                else:
                    os.replace(staged[path].name, path.name, src_dir_fd=fd, dst_dir_fd=fd)
                    del staged[path]
                    saved = backups.get(path)
                    applied.append(_Step("create" if saved is None else "replace", path, saved))
            touched = {p.parent for p, _ in changes}
            touched.update(created_dirs)
            touched.update(d.parent for d in created_dirs)
            for directory in sorted(touched):
                os.fsync(self._dir(directory))
        except BaseException as exc:
            self._rollback(applied, staged, backups, created_dirs, exc)
            raise
        for backup in backups.values():
            with contextlib.suppress(OSError):
                os.unlink(backup.name, dir_fd=self._dir(backup.parent))

    def _make_parents(self, directory: Path, created: list[Path]) -> None:
        """Create *directory* and its missing parents, appending each to *created* as it is
        made (so a failure half-way still lets the rollback remove the ones made)."""
        if directory in self._fds or directory == self.workdir:
            self._dir(directory)
            return
        self._make_parents(directory.parent, created)
        try:
            self._dir(directory)
        except FileNotFoundError:
            os.mkdir(directory.name, dir_fd=self._dir(directory.parent))
            created.append(directory)
            self._dir(directory)

    def _stage(self, path: Path, content: _Content) -> Path:
        temp = self._temp(path.parent, ".new")
        where = self._dir(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC
        fd = os.open(temp.name, flags, 0o600, dir_fd=where)
        try:
            if content.data is not None:
                view = memoryview(content.data)
                while view:
                    view = view[os.write(fd, view) :]
            else:
                assert content.source is not None  # noqa: S101 - a content is bytes or a source
                self._copy_from(content.source, fd)
            os.fchmod(fd, content.mode)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp.name, dir_fd=where)
            raise
        os.close(fd)
        return temp

    def _copy_from(self, source: Path, fd: int) -> os.stat_result:
        """Copy the regular file *source* (opened without following symlinks) into *fd*."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | _O_CLOEXEC
        src = os.open(source.name, flags, dir_fd=self._dir(source.parent))
        with os.fdopen(src, "rb") as reader, os.fdopen(os.dup(fd), "wb") as writer:
            shutil.copyfileobj(reader, writer)
            return os.fstat(reader.fileno())

    def _backup(self, path: Path) -> Path:
        backup = self._temp(path.parent, ".bak")
        where = self._dir(path.parent)
        try:
            os.link(
                path.name, backup.name, src_dir_fd=where, dst_dir_fd=where, follow_symlinks=False
            )
        except OSError as exc:
            if exc.errno is None or exc.errno not in _NO_HARDLINK:
                raise
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC
            fd = os.open(backup.name, flags, 0o600, dir_fd=where)
            try:
                st = self._copy_from(path, fd)
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
                os.fsync(fd)
            finally:
                os.close(fd)
        return backup

    def _rollback(
        self,
        applied: list[_Step],
        staged: dict[Path, Path],
        backups: dict[Path, Path],
        created_dirs: list[Path],
        cause: BaseException,
    ) -> None:
        """Undo *applied* in reverse order and remove the temporary files, then raise a
        :class:`ToolError` for an ``OSError`` *cause* (other causes propagate unchanged)."""
        stuck: dict[Path, str] = {}
        for step in reversed(applied):
            try:
                dfd = self._dir(step.target.parent)
                if step.kind == "create":
                    os.unlink(step.target.name, dir_fd=dfd)
                else:
                    assert step.backup is not None  # noqa: S101 - set for replace and delete
                    os.replace(step.backup.name, step.target.name, src_dir_fd=dfd, dst_dir_fd=dfd)
                    backups.pop(step.target, None)
            except OSError as exc:
                stuck[step.target] = exc.strerror or str(exc)
        for temp in [*staged.values(), *(b for t, b in backups.items() if t not in stuck)]:
            with contextlib.suppress(OSError):
                os.unlink(temp.name, dir_fd=self._dir(temp.parent))
        for directory in reversed(created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(directory.name, dir_fd=self._dir(directory.parent))
        if not isinstance(cause, OSError):
            return
        where = cause.filename if isinstance(cause.filename, str) else ""
        what = f"{self._rel(Path(where))}: " if where.startswith(str(self.workdir)) else ""
        reason = f"{what}{cause.strerror or cause}"
        if stuck:
            failed = ", ".join(f"{self._rel(t)} ({why})" for t, why in sorted(stuck.items()))
            left = ", ".join(
                f"{self._rel(backups[t])} -> {self._rel(t)}" for t in sorted(stuck) if t in backups
            )
            raise ToolError(
                f"writing failed ({reason}) and undoing it failed for {failed}",
                code="rollback_incomplete",
                hint=f"restore by hand: rename {left}" if left else "check the files listed",
            ) from cause
        raise ToolError(
            f"the change was not applied: {reason}; every file is as it was",
            code="write_failed",
            hint="check free space and permissions, then try again",
        ) from cause


_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NO_HARDLINK = frozenset(
    getattr(errno, name)
    for name in ("EPERM", "EOPNOTSUPP", "ENOTSUP", "EMLINK", "EXDEV")
    if hasattr(errno, name)
)
