"""tau-core's own plugin: the ``scripted`` provider and the credential store.

Registered through the ``tau.plugins`` entry point exactly as third-party plugins are, and
always loaded (even with autoload off) because the rest of core relies on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from ._config import Config
    from ._credentials import Credential
    from ._registry import Registry

TAU_PLUGIN_API = 1


@hookimpl
def tau_register_providers(registry: Registry) -> None:
    registry.register(
        "scripted",
        "tau_core._scripted:scripted_factory",
        help="plays back model turns from a JSON script (tests, demos)",
    )


@hookimpl(trylast=True)
def tau_resolve_credential(name: str, config: Config) -> Credential | None:
    from ._credentials import CredentialStore

    return CredentialStore.open(config).get_optional(name)
