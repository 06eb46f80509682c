"""Helpline directory: which lines to give, for which country, situation and language."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from actions.library import CONTENT, message

EU_COUNTRIES = {"FR", "BE", "IE", "DE", "NL", "AT", "SE", "LU", "ES", "IT", "PT", "DK", "FI", "PL"}
KINDS = ("emergency", "suicide_crisis", "radicalisation", "exit", "report_online", "terrorism_report")

# Situation -> kinds of line, most important first.
SITUATION_KINDS: Dict[str, Tuple[str, ...]] = {
    "self_harm": ("suicide_crisis",),
    "violence_intent": ("radicalisation", "terrorism_report"),
    "travel_intent": ("radicalisation",),
    "general": ("suicide_crisis", "radicalisation", "exit", "report_online"),
    "family": ("radicalisation",),
    "exit": ("exit", "radicalisation"),
}

# When the country is unknown: the lines most likely to fit the language.
FALLBACK_BY_LANGUAGE: Dict[str, Dict[str, Tuple[str, ...]]] = {
    "fr": {
        "suicide_crisis": ("fr-3114", "be-cps", "ca-988"),
        "radicalisation": ("fr-cnapr", "be-caprev"),
        "exit": ("fr-cnapr",),
        "report_online": ("fr-pharos",),
        "terrorism_report": (),
    },
    "en": {
        "suicide_crisis": ("uk-samaritans", "us-988", "au-lifeline"),
        "radicalisation": ("uk-act-early", "au-step-together"),
        "exit": ("us-life-after-hate", "se-exit-fryshuset"),
        "report_online": ("uk-report-terrorism-online",),
        "terrorism_report": (),
    },
}
UNKNOWN_EMERGENCY = {"fr": "112 (Europe), 911 (Canada)", "en": "112 (Europe), 999 (UK), 911 (US/Canada), 000 (Australia)"}


@dataclass(frozen=True)
class Helpline:
    id: str
    country: str
    kind: str
    name: str
    phone: Optional[str]
    other_numbers: Tuple[str, ...]
    sms: Optional[str]
    url: Optional[str]
    email: Optional[str]
    hours: Dict[str, str]
    languages: Tuple[str, ...]
    audience: Tuple[str, ...]
    source: str
    checked: str
    old_source: bool


@functools.lru_cache(maxsize=2)
def load_directory(path: Optional[str] = None) -> Tuple[Helpline, ...]:
    with open(Path(path) if path else CONTENT / "helplines.yml", encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    out = []
    for raw in data["helplines"]:
        out.append(
            Helpline(
                id=raw["id"], country=raw["country"], kind=raw["kind"], name=raw["name"],
                phone=raw.get("phone"), other_numbers=tuple(raw.get("other_numbers") or ()),
                sms=raw.get("sms"), url=raw.get("url"), email=raw.get("email"),
                hours=dict(raw.get("hours") or {}), languages=tuple(raw.get("languages") or ()),
                audience=tuple(raw.get("audience") or ()), source=raw.get("source", ""),
                checked=str(raw.get("checked", "")), old_source=bool(raw.get("old_source", False)),
            )
        )
    return tuple(out)


def by_id(helpline_id: str) -> Optional[Helpline]:
    return next((h for h in load_directory() if h.id == helpline_id), None)


def servable(line: Helpline) -> bool:
    """Only lines with a source and a check date, for the public or families, are given out."""
    return bool(line.source and line.checked) and ("public" in line.audience or "families" in line.audience)


def emergency_number(country: Optional[str], language: str) -> str:
    if country:
        line = next((h for h in load_directory() if h.country == country and h.kind == "emergency"), None)
        if line and line.phone:
            return line.phone
        if country in EU_COUNTRIES:
            return "112"
    return UNKNOWN_EMERGENCY.get(language, UNKNOWN_EMERGENCY["en"])


def lines_for(
    country: Optional[str], situation: str, language: str, audience: Optional[str] = None, limit: int = 3
) -> List[Helpline]:
    """Lines for a situation: the user's country when known, else the likeliest for the language."""
    kinds = SITUATION_KINDS.get(situation, SITUATION_KINDS["general"])
    directory = [h for h in load_directory() if servable(h)]
    chosen: List[Helpline] = []
    known = country and country != "OTHER" and any(h.country == country for h in directory)
    for kind in kinds:
        if known:
            pool = [h for h in directory if h.country == country and h.kind == kind]
            if audience:
                pool.sort(key=lambda h: 0 if audience in h.audience else 1)
        else:
            ids = FALLBACK_BY_LANGUAGE.get(language, FALLBACK_BY_LANGUAGE["en"]).get(kind, ())
            pool = [h for h in (by_id(i) for i in ids) if h is not None and servable(h)]
        for line in pool:
            if line not in chosen:
                chosen.append(line)
    return chosen[:limit]


def format_line(line: Helpline, language: str, with_country: bool = False) -> str:
    contact: List[str] = []
    if line.phone:
        numbers = [line.phone, *line.other_numbers]
        contact.append(" / ".join(numbers))
    if line.sms and line.sms != line.phone:
        contact.append(("SMS " if language == "en" else "SMS ") + line.sms)
    elif line.sms:
        contact.append("call or text" if language == "en" else "appel ou SMS")
    if line.url:
        contact.append(line.url)
    if line.email and not line.phone:
        contact.append(line.email)
    hours = line.hours.get(language) or line.hours.get("en") or ""
    text = f"• {line.name}"
    if with_country:
        text += f" ({line.country})"
    text += ": " + ", ".join(contact)
    if hours:
        text += f" - {hours}"
    if line.old_source:
        text += " " + message("old_source_note", language)
    return text


def format_lines(lines: Sequence[Helpline], language: str, country_known: bool) -> str:
    return "\n".join(format_line(h, language, with_country=not country_known) for h in lines)


def describe(lines: Sequence[Helpline]) -> List[Dict[str, Any]]:
    return [{"id": h.id, "country": h.country, "kind": h.kind} for h in lines]
