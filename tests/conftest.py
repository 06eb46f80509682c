"""Shared pytest set-up: the repository root on sys.path, offline by default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose service is missing on a developer's machine, but fail in CI (CI=true),
    where every service is there: a skipped test must never hide a broken one."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lexicon():
    """The reviewed crisis lexicon (content/crisis_lexicon.yml), loaded once for the lexicon tests."""
    from components.crisis_lexicon import CrisisLexicon

    return CrisisLexicon.load()
