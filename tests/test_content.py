"""Content is data, reviewed like code: schema, minimums, sources, and house rules."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
import yaml

from actions import library
from tests.conftest import ROOT

CN_DIR = ROOT / "content" / "counter_narratives"
ID_RE = re.compile(r"^[a-z_]+-(en|fr)-(fact|alternative|credible_voice|rebuttal|empathy)-\d{2}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#].[^\s]*$")


def raw_entries():
    for path in sorted(CN_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in data.get("entries") or []:
            yield path, data, entry


def test_one_file_per_theme_and_theme_matches_file():
    files = {p.stem for p in CN_DIR.glob("*.yml")}
    assert files == set(library.THEMES), f"missing: {set(library.THEMES) - files}, extra: {files - set(library.THEMES)}"
    for path in CN_DIR.glob("*.yml"):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["theme"] == path.stem


def test_entry_schema():
    seen = Counter()
    for path, data, entry in raw_entries():
        where = f"{path.name}:{entry.get('id')}"
        assert ID_RE.match(str(entry["id"])), f"bad id {where}"
        seen[entry["id"]] += 1
        assert entry["language"] in library.LANGUAGES, where
        assert entry["kind"] in library.KINDS, where
        assert str(entry["id"]).startswith(f"{data['theme']}-{entry['language']}-{entry['kind']}-"), where
        text = " ".join(str(entry["text"]).split())
        assert 20 <= len(text) <= 900, f"text length {len(text)} {where}"
        question = str(entry.get("question") or "").strip()
        assert question.endswith("?"), f"open question required {where}"
        review = entry.get("review") or {}
        assert review.get("status") in ("draft", "approved", "retired"), where
        assert review.get("by") and review.get("date"), where
    duplicates = [k for k, v in seen.items() if v > 1]
    assert not duplicates, f"duplicate ids: {duplicates}"


def test_sources_on_every_factual_entry():
    for path, _data, entry in raw_entries():
        where = f"{path.name}:{entry['id']}"
        sources = entry.get("sources") or []
        if entry["kind"] in library.SOURCED_KINDS:
            assert sources, f"{where}: a {entry['kind']} entry needs a source"
        for src in sources:
            assert URL_RE.match(str(src.get("url", ""))), f"{where}: bad url {src.get('url')}"
            assert str(src.get("title", "")).strip(), f"{where}: source title missing"
            checked = src.get("checked")
            if isinstance(checked, str):
                checked = dt.date.fromisoformat(checked)
            assert isinstance(checked, dt.date), f"{where}: checked date missing"
            assert checked <= dt.date.today() + dt.timedelta(days=1), where


def test_entries_with_figures_have_sources():
    """A number in the text (a year, a percentage, a count) is a fact: it needs a source."""
    for path, _data, entry in raw_entries():
        text = str(entry["text"])
        if re.search(r"\d", text):
            assert entry.get("sources"), f"{path.name}:{entry['id']} states a figure without a source"


@pytest.mark.parametrize("theme", library.THEMES)
@pytest.mark.parametrize("language", library.LANGUAGES)
def test_minimum_per_theme_and_language(theme, language):
    served = library.served_entries(theme, language)
    assert len(served) >= 6, f"{theme}/{language}: {len(served)} approved entries (minimum 6)"
    assert len({e.kind for e in served}) >= 3, f"{theme}/{language}: fewer than 3 kinds"


FORBIDDEN = {
    # never treat faith, dress or prayer as a danger sign; never mock
    "en": [r"\bsigns? of radicali[sz]ation\b.*\b(prayer|pray|beard|veil|hijab|mosque)", r"\bstupid\b", r"\bidiot", r"\bbrainwashed\b", r"\bpathetic\b", r"\bshame on you\b", r"\byou should be ashamed\b"],
    "fr": [r"signes? de radicalisation.*(pri[eè]re|barbe|voile|mosqu[ée]e)", r"\bstupide\b", r"\bidiot", r"\bcr[ée]tin", r"\bpath[ée]tique\b", r"\bhonte [àa] toi\b", r"\btu devrais avoir honte\b"],
}


def test_content_never_mocks_or_lectures():
    for path, _data, entry in raw_entries():
        text = f"{entry['text']} {entry.get('question', '')}".lower()
        for pattern in FORBIDDEN[entry["language"]]:
            assert not re.search(pattern, text), f"{path.name}:{entry['id']} matches {pattern!r}"


def test_bot_messages_exist_in_both_languages():
    data = yaml.safe_load((ROOT / "content" / "messages.yml").read_text(encoding="utf-8"))
    for key, texts in data["messages"].items():
        assert set(texts) == {"en", "fr"}, key
        for lang in ("en", "fr"):
            values = texts[lang] if isinstance(texts[lang], list) else [texts[lang]]
            assert all(str(v).strip() for v in values), f"{key}/{lang} empty"
    for theme in library.THEMES:
        assert theme in data["themes"], theme
