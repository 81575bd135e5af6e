"""Tau's model providers, behind tau-core's provider contract.

OpenAI (Chat Completions and Responses), Anthropic Messages, Google Gemini, OpenRouter, any
OpenAI-compatible server (Ollama, vLLM, llama.cpp server, LM Studio) and a local GGUF model
through llama-cpp-python, registered by name through ``tau_register_providers``. They share one
SSE parser, one retry budget per call, a circuit breaker per route, token buckets per provider,
a price table kept as data, and cassettes for deterministic tests (``tau_provider.testing``).
Importing this package imports neither httpx nor any model runtime.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
