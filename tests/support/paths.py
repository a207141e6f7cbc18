"""Where the checkout's folders are, for tests at any depth of tests/ (a moved test keeps working)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO / "datasets"
SAMPLE = DATASETS / "sample_ru.jsonl"  # the bundled sample pairs new users train on first
