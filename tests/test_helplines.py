"""Helpline directory: every entry sourced and dated; what the bot gives out is servable."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from actions import helplines as hl
from tests.conftest import ROOT

DATA = yaml.safe_load((ROOT / "content" / "helplines.yml").read_text(encoding="utf-8"))
REQUIRED_COUNTRIES = {"FR", "BE", "UK", "IE", "DE", "NL", "AT", "SE", "US", "CA", "AU"}
SHARED = ROOT.parent / "shared" / "helplines-sources.md"


def test_every_entry_has_source_and_checked_date():
    ids = set()
    for entry in DATA["helplines"]:
        assert entry["id"] not in ids, f"duplicate {entry['id']}"
        ids.add(entry["id"])
        assert re.match(r"^https?://\S+$", entry.get("source", "")), f"{entry['id']}: no source URL"
        assert isinstance(entry.get("checked"), dt.date), f"{entry['id']}: no checked date"
        assert entry["kind"] in hl.KINDS, entry["id"]
        assert entry.get("phone") or entry.get("url") or entry.get("email"), entry["id"]
        assert set(entry["audience"]) <= {"public", "families", "professionals"}, entry["id"]
        assert "professionals" not in entry["audience"], f"{entry['id']}: professional-only lines are never listed"


def test_old_sources_are_flagged():
    today = dt.date(2026, 11, 28)
    for entry in DATA["helplines"]:
        date = str(entry.get("source_date", "undated"))
        year = int(date[:4]) if date[:4].isdigit() else None
        if year is None or today.year - year > 3:
            assert entry.get("old_source") is True, f"{entry['id']}: source {date} must be flagged old"


def test_every_required_country_has_emergency_and_crisis_line():
    for country in REQUIRED_COUNTRIES:
        kinds = {e["kind"] for e in DATA["helplines"] if e["country"] == country}
        assert "suicide_crisis" in kinds, country
        assert "emergency" in kinds or country in hl.EU_COUNTRIES, country
        assert hl.emergency_number(country, "en"), country


@pytest.mark.skipif(not SHARED.exists(), reason="shared/helplines-sources.md not beside the checkout")
def test_numbers_are_the_ones_the_sources_state():
    """Never invent a number: every phone number must appear in shared/helplines-sources.md."""
    source_text = re.sub(r"[^0-9A-Z]", "", SHARED.read_text(encoding="utf-8").upper())
    for entry in DATA["helplines"]:
        for number in [entry.get("phone"), entry.get("sms"), *(entry.get("other_numbers") or [])]:
            if not number:
                continue
            digits = re.sub(r"[^0-9A-Z]", "", number.split("(")[0].upper())
            assert digits and digits in source_text, f"{entry['id']}: {number} not in sources"


def test_unknown_country_still_gets_working_numbers():
    for language in ("en", "fr"):
        lines = hl.lines_for(None, "self_harm", language)
        assert lines and all(h.kind == "suicide_crisis" for h in lines)
        assert "112" in hl.emergency_number(None, language)
    assert hl.lines_for(None, "self_harm", "fr")[0].id == "fr-3114"


def test_old_lines_tell_the_user_to_check():
    line = hl.by_id("fr-cnapr")
    assert line.old_source and "vérifie" in hl.format_line(line, "fr")
    assert "check the hours" in hl.format_line(line, "en")


def test_lines_by_country_and_situation():
    assert [h.id for h in hl.lines_for("FR", "self_harm", "fr")] == ["fr-3114"]
    assert "fr-cnapr" in [h.id for h in hl.lines_for("FR", "travel_intent", "fr")]
    assert hl.emergency_number("SE", "en") == "112"
    assert hl.emergency_number("AU", "en") == "000"
