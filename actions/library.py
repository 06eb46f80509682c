"""Content loading and selection: counter-narratives, helplines, the bot's own messages.

Pure functions over data files in `content/` (loaded once per process and cached). Nothing here
talks to Rasa, so it is tested directly.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONTENT = Path(os.environ.get("CONTENT_DIR", ROOT / "content"))
LANGUAGES = ("en", "fr")

THEMES: Tuple[str, ...] = (
    "west_at_war_with_islam", "caliphate_utopia", "religious_duty_of_violence", "martyrdom_glory",
    "takfir", "hijra_travel", "revenge_grievance",
    "great_replacement", "race_war_accelerationism", "antisemitism", "anti_muslim", "anti_migrant",
    "anti_lgbt", "misogyny", "racism", "ableism",
    "discrimination_grievance", "belonging_identity", "meaning_purpose", "distrust_media_state",
)
KINDS = ("fact", "alternative", "credible_voice", "rebuttal", "empathy")
SOURCED_KINDS = ("fact", "credible_voice", "rebuttal")
SERVED_STATUS = "approved"

# Which kinds to prefer, by how many times the theme has already come up in the conversation:
# first listen and acknowledge, then facts and alternatives, then credible voices and rebuttals.
DEPTH_PREFERENCE: Tuple[Tuple[str, ...], ...] = (
    ("empathy", "fact", "alternative", "credible_voice", "rebuttal"),
    ("fact", "credible_voice", "alternative", "rebuttal", "empathy"),
    ("credible_voice", "rebuttal", "fact", "alternative", "empathy"),
)


@dataclass(frozen=True)
class Entry:
    id: str
    theme: str
    language: str
    kind: str
    text: str
    question: str
    sources: Tuple[Dict[str, Any], ...] = field(default_factory=tuple)
    status: str = "draft"


# ---------------------------------------------------------------------------------- loading
def _load_yaml(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@functools.lru_cache(maxsize=4)
def load_library(directory: Optional[str] = None) -> Tuple[Entry, ...]:
    folder = Path(directory) if directory else CONTENT / "counter_narratives"
    entries: List[Entry] = []
    for path in sorted(folder.glob("*.yml")):
        data = _load_yaml(path) or {}
        theme = data.get("theme", path.stem)
        for raw in data.get("entries") or []:
            entries.append(
                Entry(
                    id=str(raw["id"]),
                    theme=str(raw.get("theme", theme)),
                    language=str(raw["language"]),
                    kind=str(raw["kind"]),
                    text=" ".join(str(raw["text"]).split()),
                    question=" ".join(str(raw.get("question") or "").split()),
                    sources=tuple(raw.get("sources") or ()),
                    status=str((raw.get("review") or {}).get("status", "draft")),
                )
            )
    return tuple(entries)


def served_entries(theme: str, language: str, entries: Optional[Sequence[Entry]] = None) -> List[Entry]:
    pool = load_library() if entries is None else entries
    return [e for e in pool if e.theme == theme and e.language == language and e.status == SERVED_STATUS]


@functools.lru_cache(maxsize=2)
def load_messages(path: Optional[str] = None) -> Dict[str, Any]:
    return _load_yaml(Path(path) if path else CONTENT / "messages.yml")


def message(key: str, language: str, variant: int = 0, **values: Any) -> str:
    """A bot message in the language (English when a French text is missing)."""
    texts = load_messages()["messages"][key]
    text = texts.get(language) or texts["en"]
    if isinstance(text, list):
        text = text[variant % len(text)]
    return text.format(**values) if values else text


def country_name(code: Optional[str], language: str) -> str:
    names = load_messages().get("countries", {})
    if code and code in names:
        return names[code].get(language) or names[code]["en"]
    return code or ""


def theme_label(theme: str, language: str) -> str:
    labels = load_messages().get("themes", {})
    return (labels.get(theme) or {}).get(language) or theme.replace("_", " ")


# ---------------------------------------------------------------------------------- selection
def choose_entry(
    theme: str,
    language: str,
    used_ids: Iterable[str],
    times_seen: int,
    last_kind: Optional[str] = None,
    entries: Optional[Sequence[Entry]] = None,
) -> Tuple[Optional[Entry], bool]:
    """Pick the next counter-narrative for a theme.

    Never repeats an entry while unused ones remain; prefers kinds by depth (how often the theme
    came up) and avoids the kind just used. Returns (entry, cycle_restarted).
    """
    candidates = served_entries(theme, language, entries)
    if not candidates and language != "en":
        candidates = served_entries(theme, "en", entries)
    if not candidates:
        return None, False
    used = set(used_ids)
    fresh = [e for e in candidates if e.id not in used]
    restarted = False
    if not fresh:
        fresh, restarted = list(candidates), True
    preference = DEPTH_PREFERENCE[min(times_seen, len(DEPTH_PREFERENCE) - 1)]
    rank = {kind: i for i, kind in enumerate(preference)}

    def key(entry: Entry) -> Tuple[int, int, str]:
        same_kind = 1 if last_kind and entry.kind == last_kind else 0
        return (same_kind, rank.get(entry.kind, len(rank)), entry.id)

    return sorted(fresh, key=key)[0], restarted


def render_entry(entry: Entry) -> str:
    """The message text: the idea, its source(s), and the open question."""
    parts = [entry.text]
    if entry.sources:
        refs = "; ".join(f"{s.get('title', '').strip()} - {s.get('url', '').strip()}" for s in entry.sources[:2])
        parts.append(f"Source : {refs}" if entry.language == "fr" else f"Source: {refs}")
    if entry.question:
        parts.append(entry.question)
    return "\n\n".join(parts)


def pick_variant(sender_id: str, turn: int, n: int) -> int:
    """Deterministic per conversation and turn, so tests are stable but replies vary."""
    return random.Random(f"{sender_id}:{turn}").randrange(n) if n > 1 else 0
