"""Puts the repository root on ``sys.path``, so a benchmark run as ``python benchmarks/x.py``
from the root imports the shared test helpers (``tests.support``) as the tests do."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
