"""Tau's model providers, behind tau-core's provider contract.

tau-provider will hold the OpenAI (Chat Completions and Responses), Anthropic Messages, Google
Gemini, OpenRouter, OpenAI-compatible (Ollama, vLLM, llama.cpp) and local GGUF providers, with
streaming, one retry budget, fallback with a circuit breaker, rate limits, usage and cost, and
cassettes. None of them is built yet: this release ships the distribution and its
``tau.plugins`` registration only, so ``tau plugins list`` reports the ``provider`` plugin as
loaded with nothing registered. The providers arrive in a later release.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
