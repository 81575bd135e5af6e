"""An in-memory OS keyring for tests: real ``keyring`` API, no desktop session needed.

:class:`MemoryKeyring` is a genuine :class:`keyring.backend.KeyringBackend`, so the credential
store talks to it exactly as it talks to the Secret Service or the macOS Keychain.
:func:`memory_keyring` installs one for the duration of a ``with`` block; :func:`no_keyring`
installs keyring's own "no backend" stand-in, to test what users without a keyring see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

# The credential store's tests need a real keyring backend; only tau_core._credentials and this
# test double may import keyring.
import keyring  # noqa: TID251 - the test double of the OS keyring must subclass keyring's backend
from keyring.backend import KeyringBackend  # noqa: TID251 - same reason
from keyring.backends import fail  # noqa: TID251 - same reason
from keyring.errors import PasswordDeleteError  # noqa: TID251 - same reason

__all__ = ["MemoryKeyring", "memory_keyring", "no_keyring"]


class MemoryKeyring(KeyringBackend):
    """A keyring backend that keeps passwords in a dict, for tests.

    Attributes:
        passwords: ``(service, username) -> password``; tests may read and edit it.

    .. versionadded:: 0.1
    """

    priority = 20  # keyring's "recommended" threshold is 1; beat every real backend

    def __init__(self, passwords: Mapping[tuple[str, str], str] | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring leaves __init__ unannotated
        self.passwords: dict[tuple[str, str], str] = dict(passwords or {})

    def get_password(self, service: str, username: str) -> str | None:
        """The password stored for (*service*, *username*), or None."""
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        """Store *password* for (*service*, *username*)."""
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        """Delete the password for (*service*, *username*).

        Raises:
            keyring.errors.PasswordDeleteError: There is none.
        """
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise PasswordDeleteError(f"no password for {service!r}/{username!r}") from None


# Defining a backend class registers it for keyring's auto-detection, where its priority would
# make it the default keyring of any process that merely imported this module. It is only ever
# meant to be installed explicitly, so take it back out of the registry.
getattr(KeyringBackend, "_classes", set()).discard(MemoryKeyring)


@contextlib.contextmanager
def memory_keyring(
    passwords: Mapping[tuple[str, str], str] | None = None,
) -> Iterator[MemoryKeyring]:
    """Install a fresh :class:`MemoryKeyring` as the keyring; restore the previous one on exit.

    Args:
        passwords: Entries to start with, ``(service, username) -> password``.

    Yields:
        The installed keyring.

    .. versionadded:: 0.1
    """
    backend = MemoryKeyring(passwords)
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@contextlib.contextmanager
def no_keyring() -> Iterator[None]:
    """Make the OS keyring unavailable (keyring's failing backend); restore it on exit.

    .. versionadded:: 0.1
    """
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]  # unannotated in keyring
    try:
        yield
    finally:
        keyring.set_keyring(previous)
