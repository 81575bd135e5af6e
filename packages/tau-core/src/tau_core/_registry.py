"""Name → lazy factory registries that plugins fill through the ``tau_register_*`` hooks."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any

from attrs import define, field, frozen

from .errors import PluginError, UsageError

__all__ = ["Collision", "Registry", "RegistryEntry"]

KINDS = (
    "providers",
    "tools",
    "verifiers",
    "memory_backends",
    "channels",
    "embedders",
    "commands",
)


@frozen
class RegistryEntry:
    """One registered name.

    Attributes:
        kind: ``providers``, ``tools``, ``verifiers`` …
        name: The registered name.
        factory: ``"package.module:attr"`` or a callable; only resolved on first use.
        plugin: The plugin that registered it.
        dist: The distribution the plugin came from, when known.
        help: One line for listings.
    """

    kind: str
    name: str
    factory: str | Callable[..., Any]
    plugin: str
    dist: str | None = None
    help: str = ""


@frozen
class Collision:
    """Two plugins registered the same name; the first one kept it."""

    kind: str
    name: str
    kept: str
    ignored: str

    def __str__(self) -> str:
        return (
            f"{self.kind[:-1]} {self.name!r} from plugin {self.ignored!r} collides with the one "
            f"from {self.kept!r}; {self.ignored!r}'s was ignored (block one of them with "
            f"`tau config set plugins.block '[\"{self.ignored}\"]'`)"
        )


@define
class Registry:
    """The registry handed to one ``tau_register_<kind>`` hook call.

    Plugins call :meth:`register`; Tau reads entries back with :meth:`get` and :meth:`load`.
    """

    kind: str
    _entries: dict[str, RegistryEntry] = field(factory=dict, alias="entries")
    collisions: list[Collision] = field(factory=list)
    _plugin: str = field(default="", alias="plugin")
    _dist: str | None = field(default=None, alias="dist")
    _added: list[str] = field(factory=list, alias="added")

    def register(
        self,
        name: str,
        factory: str | Callable[..., Any],
        *,
        help: str = "",
    ) -> None:
        """Register *name* with a lazy *factory*.

        Args:
            name: The name users write (``openai``, ``write``, ``pytest``).
            factory: ``"package.module:attr"`` or a callable returning the object.
            help: One line shown in listings.

        Raises:
            PluginError: *name* or *factory* is malformed.
        """
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise PluginError(f"{self._plugin}: {self.kind} name {name!r} must be a non-empty word")
        if isinstance(factory, str) and ":" not in factory:
            raise PluginError(
                f"{self._plugin}: factory {factory!r} for {name!r} must be 'module:attribute'"
            )
        if not isinstance(factory, str) and not callable(factory):
            raise PluginError(
                f"{self._plugin}: factory for {name!r} is neither a string nor callable"
            )
        if name in self._entries:
            self.collisions.append(
                Collision(self.kind, name, self._entries[name].plugin, self._plugin)
            )
            return
        self._entries[name] = RegistryEntry(
            self.kind, name, factory, self._plugin, self._dist, help
        )
        self._added.append(name)

    # -- used by the plugin manager ------------------------------------------------------------

    def _begin(self, plugin: str, dist: str | None) -> None:
        self._plugin, self._dist, self._added = plugin, dist, []

    def _rollback(self) -> None:
        for name in self._added:
            self._entries.pop(name, None)
        self._added = []

    def _added_names(self) -> list[str]:
        return list(self._added)

    # -- reading -------------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[RegistryEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> RegistryEntry:
        """The entry for *name*.

        Raises:
            UsageError: Nothing is registered under *name*; the message lists what is.
        """
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UsageError(
                f"no {self.kind[:-1].replace('_', ' ')} named {name!r} is registered "
                f"(registered: {known}); install the plugin that provides it, or check "
                "`tau plugins list`"
            ) from None

    def load(self, name: str) -> Any:
        """Resolve *name*'s factory to the object it names (importing its module now).

        Raises:
            PluginError: The factory cannot be imported.
        """
        entry = self.get(name)
        return resolve_factory(entry)


def resolve_factory(entry: RegistryEntry) -> Any:
    if callable(entry.factory):
        return entry.factory
    module_name, _, attr = entry.factory.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise PluginError(
            f"{entry.kind[:-1]} {entry.name!r} from plugin {entry.plugin!r}: cannot load "
            f"{entry.factory!r}: {type(exc).__name__}: {exc}. Reinstall the plugin "
            f"({entry.dist or 'its distribution'}) or block it with "
            f"`tau config set plugins.block '[\"{entry.plugin}\"]'`."
        ) from exc
    return obj
