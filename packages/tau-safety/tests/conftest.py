"""Shared by tau-safety's tests: every rule's positive and hard-negative examples
(``secret_examples.py``, importable as ``tau_safety_tests_secret_examples`` once this file has
loaded: test modules are imported by path, not as a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

EXAMPLES = "tau_safety_tests_secret_examples"


def _load_examples() -> Any:
    if EXAMPLES not in sys.modules:
        path = Path(__file__).with_name("secret_examples.py")
        spec = importlib.util.spec_from_file_location(EXAMPLES, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[EXAMPLES] = module
        spec.loader.exec_module(module)
    return sys.modules[EXAMPLES]


_load_examples()
