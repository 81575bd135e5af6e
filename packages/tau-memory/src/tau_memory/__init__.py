"""Tau's memory: hybrid search, relations and decay over SQLite, and the memory tools.

tau-memory will hold memory store backends (SQLite FTS5 BM25 plus vectors fused by reciprocal
rank fusion), validated metadata filters, importance and recency decay, a typed relations
graph, time-travel queries, embedders as plugins, and the ``memory_*`` tools. None of them is
built yet: this release ships the distribution and its ``tau.plugins`` registration only, so
``tau plugins list`` reports the ``memory`` plugin as loaded with nothing registered. The memory
features arrive in a later release.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
