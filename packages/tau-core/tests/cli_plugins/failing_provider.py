"""A provider plugin whose model always fails with a non-retryable HTTP error (CLI tests)."""

from tau_core import hookimpl
from tau_core.errors import ProviderHTTPError

TAU_PLUGIN_API = 1


class AlwaysBadRequest:
    async def complete(self, request):
        raise ProviderHTTPError("400 bad request: the model rejected the input", status=400)


@hookimpl
def tau_register_providers(registry):
    registry.register("badreq", lambda model, config=None: AlwaysBadRequest())
