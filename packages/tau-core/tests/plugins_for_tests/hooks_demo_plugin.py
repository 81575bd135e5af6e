"""A plugin module exactly as a third party ships one, for ``test_hooks.py``.

Every registration hook registers a name with a ``"module:attribute"`` factory pointing into
:mod:`hooks_demo_impl`, so loading this plugin imports nothing but ``tau_core.hookspecs``. Tests
load it with ``tau -p hooks_demo_plugin``, ``TAU_PLUGIN_MODULES`` or a plugin manager.
"""

from __future__ import annotations

from typing import Any

from tau_core.hookspecs import hookimpl

TAU_PLUGIN_API = 1

IMPL = "hooks_demo_impl"


@hookimpl
def tau_register_providers(registry: Any) -> None:
    registry.register(
        "myprov",
        f"{IMPL}:provider_factory",
        help="plays a built-in script named by the model part of the spec",
    )


@hookimpl
def tau_register_tools(registry: Any) -> None:
    registry.register("stamp", f"{IMPL}:StampTool", help="writes STAMP:<text> into a file")


@hookimpl
def tau_register_verifiers(registry: Any) -> None:
    registry.register(
        "stamped", f"{IMPL}:stamped_verifier", help="green when a file holds STAMP:<expected>"
    )


@hookimpl
def tau_register_memory_backends(registry: Any) -> None:
    registry.register("dictmem", f"{IMPL}:DictMemory", help="keeps memories in a dict")


@hookimpl
def tau_register_channels(registry: Any) -> None:
    registry.register(
        "listchan", f"{IMPL}:ListChannel", help="tasks from a list, replies to a list"
    )


@hookimpl
def tau_register_embedders(registry: Any) -> None:
    registry.register("charcount", f"{IMPL}:CharCountEmbedder", help="embeds text as letter counts")


@hookimpl
def tau_register_commands(registry: Any) -> None:
    registry.register("greet", f"{IMPL}:GreetCommand", help="greet someone (hooks demo)")
