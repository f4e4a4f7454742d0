"""Counts the reliability suites record while they run, for RELIABILITY.md.

The session writes them to .reliability/figures.json; `python tests/reliability_report.py`
turns the last run's figures into RELIABILITY.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

FIGURES: Counter[str] = Counter()
OUT = Path(__file__).resolve().parent.parent / ".reliability" / "figures.json"


def count(name: str, n: int = 1) -> None:
    FIGURES[name] += n


def save() -> None:
    if FIGURES:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps(dict(sorted(FIGURES.items())), indent=2) + "\n")


def scaled(examples: int) -> int:
    """Return how many examples to run: as given, or ten times more with the deep profile."""
    from hypothesis import settings

    return examples * max(1, settings.default.max_examples // 100)
