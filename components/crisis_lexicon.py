"""Reviewed, negation-aware crisis lexicon: the high-precision half of crisis detection.

The lexicon (`content/crisis_lexicon.yml`) holds regular expressions per category and language,
written against `components.textnorm.normalize()` output. This module is pure: no Rasa imports and
no I/O at import time; `CrisisLexicon.load()` reads and compiles the file once.

How a message is assessed
1. The raw text is split into clauses on . , ; ! ? and new lines; each clause is normalised with
   `textnorm.normalize()` and the normalised clauses are joined by single spaces. This equals
   `normalize(text)` (punctuation is dropped by the normaliser anyway); spans refer to it.
2. Every pattern of every language runs on every clause (people mix languages). Patterns only match
   whole tokens: each regex is wrapped as `(?<![a-z0-9])(?:RE)(?![a-z0-9])`.
3. A hit of a `negatable` pattern is cancelled when a negation cue ends at most 3 tokens before the
   match, in the same clause, with only "bridge" tokens between cue and match ("I would NEVER kill
   myself", "I am NOT GOING TO hurt anyone"; but "I do not know, I want to die" stays a crisis).
   French "pas"/"jamais" inside the match of a negatable pattern ("je veux PAS mourir") and
   "pas"/"jamais"/"point" right after it ("je me suicide pas") also cancel it. So a negatable
   pattern must not contain "pas"/"jamais" in a dangerous form: put those in a pattern without
   `negatable` ("ne jamais me reveiller").
4. A figurative pattern (look-alike: "this meme is killing me", "une tuerie ce burger") cancels every
   hit whose span overlaps it, and marks the assessment `figurative`.

Priority when hits of several categories remain (all are critical): violence_intent, then
self_harm, then travel_intent. Violence means imminent danger to other people and calls for
emergency services and the workers at once; self-harm is imminent danger to the person; travel
plans are usually days or weeks away. `Assessment.hits` keeps every hit so callers can use all
categories (for instance to also show suicide helplines to someone who wants to attack).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union

from components import textnorm

CATEGORY_PRIORITY: Tuple[str, ...] = ("violence_intent", "self_harm", "travel_intent")
LANGUAGES: Tuple[str, ...] = ("en", "fr")
NEGATION_WINDOW = 3  # tokens before a match in which a negation cue cancels a negatable pattern
POST_NEGATIONS_FR: FrozenSet[str] = frozenset({"pas", "jamais", "point"})
INSIDE_NEGATIONS_FR: FrozenSet[str] = frozenset({"pas", "jamais"})
# Cues that open a clause as an answer ("no, ...") rather than negate what follows.
_INTERJECTIONS: FrozenSet[Tuple[str, ...]] = frozenset({("no",), ("non",), ("nope",)})

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "content" / "crisis_lexicon.yml"
_CLAUSE_SPLIT_RE = re.compile(r"[.,;!?\n\r\u2026\u061f\u00a1\u00bf]+")
_ID_RE = re.compile(r"^[a-z]{2}-[a-z]{2}-(?:fig-)?\d{3}$")


class LexiconError(ValueError):
    """The lexicon file does not follow the schema (see content/SCHEMA.md and the file header)."""


@dataclass(frozen=True)
class CrisisHit:
    category: str
    pattern_id: str
    language: str
    span: Tuple[int, int]  # character offsets in the normalised text


@dataclass(frozen=True)
class Assessment:
    hit: Optional[CrisisHit]  # strongest non-cancelled hit (CATEGORY_PRIORITY, then earliest)
    hits: Tuple[CrisisHit, ...]  # every non-cancelled hit, in priority then text order
    negated: bool  # a dangerous phrase was found but a negation cancelled it
    figurative: bool  # a figurative look-alike matched somewhere in the message
    normalized: str = ""  # the normalised text the spans refer to

    @property
    def is_crisis(self) -> bool:
        return self.hit is not None

    @property
    def categories(self) -> Tuple[str, ...]:
        seen: List[str] = []
        for hit in self.hits:
            if hit.category not in seen:
                seen.append(hit.category)
        return tuple(seen)


@dataclass(frozen=True)
class _Pattern:
    category: str
    language: str
    pattern_id: str
    regex: "re.Pattern[str]"
    negatable: bool
    figurative: bool


def _compile(pattern_id: str, source: Any) -> "re.Pattern[str]":
    if not isinstance(source, str) or not source.strip():
        raise LexiconError(f"{pattern_id}: 're' must be a non-empty string")
    try:
        return re.compile(r"(?<![a-z0-9])(?:" + source + r")(?![a-z0-9])")
    except re.error as exc:
        raise LexiconError(f"{pattern_id}: invalid regular expression: {exc}") from exc


def _cue_list(data: Mapping[str, Any], key: str, required: bool) -> Tuple[Tuple[str, ...], ...]:
    block = data.get(key)
    if block is None and not required:
        return ()
    if not isinstance(block, Mapping):
        raise LexiconError(f"'{key}' must map each language to a list of words")
    cues: List[Tuple[str, ...]] = []
    for lang in LANGUAGES:
        words = block.get(lang)
        if not isinstance(words, list) or (required and not words):
            raise LexiconError(f"'{key}.{lang}' must be a non-empty list")
        for word in words:
            if not isinstance(word, str):  # a bare `no` in YAML is the boolean false
                raise LexiconError(f"'{key}.{lang}': {word!r} is not a string (quote it)")
            toks = tuple(textnorm.basic_normalize(word).split())
            if not toks:
                raise LexiconError(f"'{key}.{lang}' holds an empty entry")
            if toks not in cues:
                cues.append(toks)
    return tuple(cues)


class CrisisLexicon:
    """Compiled lexicon. Build it with `CrisisLexicon.load()`; `assess()` is pure and thread-safe."""

    def __init__(
        self,
        patterns: Sequence[_Pattern],
        negations: Sequence[Tuple[str, ...]],
        bridge: FrozenSet[str],
        version: int,
        reviewed: Mapping[str, Any],
    ) -> None:
        self._patterns = tuple(p for p in patterns if not p.figurative)
        self._figurative = tuple(p for p in patterns if p.figurative)
        self._negations = tuple(negations)
        self._bridge = bridge
        self.version = version
        self.reviewed = dict(reviewed)

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: Union[str, Path, None] = None) -> "CrisisLexicon":
        """Read and validate the YAML file (default: <repo>/content/crisis_lexicon.yml)."""
        import yaml  # local import: keeps module import free of optional work

        file_path = Path(path) if path else DEFAULT_PATH
        with open(file_path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> "CrisisLexicon":
        if not isinstance(data, Mapping):
            raise LexiconError("the lexicon must be a mapping")
        version = data.get("version")
        if not isinstance(version, int):
            raise LexiconError("'version' must be an integer")
        reviewed = data.get("reviewed")
        if not isinstance(reviewed, Mapping) or not reviewed.get("by") or not reviewed.get("date"):
            raise LexiconError("'reviewed' must give 'by' and 'date'")
        negations = _cue_list(data, "negations", required=True)
        bridge_cues = _cue_list(data, "negation_bridge", required=False)
        bridge = frozenset(tok for cue in bridge_cues for tok in cue)
        categories = data.get("categories")
        if not isinstance(categories, Mapping):
            raise LexiconError("'categories' must be a mapping")
        unknown = set(categories) - set(CATEGORY_PRIORITY)
        if unknown:
            raise LexiconError(f"unknown categories: {sorted(unknown)}")
        patterns: List[_Pattern] = []
        seen_ids: set = set()
        for category in CATEGORY_PRIORITY:
            by_lang = categories.get(category)
            if not isinstance(by_lang, Mapping):
                raise LexiconError(f"category '{category}' is missing")
            for lang in LANGUAGES:
                block = by_lang.get(lang)
                if not isinstance(block, Mapping) or not block.get("patterns"):
                    raise LexiconError(f"{category}.{lang} needs a non-empty 'patterns' list")
                for kind in ("patterns", "figurative"):
                    for entry in block.get(kind) or []:
                        if not isinstance(entry, Mapping):
                            raise LexiconError(f"{category}.{lang}.{kind}: entries must be mappings")
                        pattern_id = entry.get("id")
                        if not isinstance(pattern_id, str) or not _ID_RE.match(pattern_id):
                            raise LexiconError(f"{category}.{lang}.{kind}: bad id {pattern_id!r}")
                        if pattern_id in seen_ids:
                            raise LexiconError(f"duplicate pattern id {pattern_id}")
                        seen_ids.add(pattern_id)
                        negatable = entry.get("negatable", False)
                        if not isinstance(negatable, bool):
                            raise LexiconError(f"{pattern_id}: 'negatable' must be true or false")
                        patterns.append(
                            _Pattern(
                                category=category,
                                language=lang,
                                pattern_id=pattern_id,
                                regex=_compile(pattern_id, entry.get("re")),
                                negatable=negatable and kind == "patterns",
                                figurative=kind == "figurative",
                            )
                        )
        return cls(patterns, negations, bridge, version, reviewed)

    # ------------------------------------------------------------------ introspection
    @property
    def pattern_ids(self) -> Tuple[str, ...]:
        return tuple(p.pattern_id for p in self._patterns + self._figurative)

    # ------------------------------------------------------------------ matching
    @staticmethod
    def _clauses(text: str) -> List[Tuple[int, str]]:
        """Normalised clauses with their start offset in the joined normalised text."""
        out: List[Tuple[int, str]] = []
        offset = 0
        for part in _CLAUSE_SPLIT_RE.split(text):
            norm = textnorm.normalize(part)
            if not norm:
                continue
            out.append((offset, norm))
            offset += len(norm) + 1
        return out

    def _is_negated(self, clause: str, start: int, end: int) -> bool:
        before = clause[:start].split()
        for cue in self._negations:
            size = len(cue)
            # the cue's last token must be one of the NEGATION_WINDOW tokens right before the match
            first = max(0, len(before) - NEGATION_WINDOW - size + 1)
            for k in range(first, len(before) - size + 1):
                if tuple(before[k : k + size]) != cue:
                    continue
                between = before[k + size :]
                if k == 0 and cue in _INTERJECTIONS:
                    continue  # "no i want to die": an answer, not a negation of what follows
                if all(tok in self._bridge for tok in between):
                    return True
        # French puts the negation after the verb: "je (ne) veux PAS mourir" (cue inside the match).
        if any(tok in INSIDE_NEGATIONS_FR for tok in clause[start:end].split()):
            return True
        after = clause[end:].split()
        return bool(after) and after[0] in POST_NEGATIONS_FR

    def assess(self, text: str) -> Assessment:
        """Normalise `text` with textnorm and match the lexicon. Never raises on odd input."""
        if not isinstance(text, str) or not text.strip():
            return Assessment(hit=None, hits=(), negated=False, figurative=False, normalized="")
        clauses = self._clauses(text)
        normalized = " ".join(c for _, c in clauses)
        fig_spans: List[Tuple[int, int]] = []
        for offset, clause in clauses:
            for pat in self._figurative:
                for m in pat.regex.finditer(clause):
                    fig_spans.append((offset + m.start(), offset + m.end()))
        hits: List[CrisisHit] = []
        negated = False
        for offset, clause in clauses:
            for pat in self._patterns:
                for m in pat.regex.finditer(clause):
                    span = (offset + m.start(), offset + m.end())
                    if any(s < span[1] and span[0] < e for s, e in fig_spans):
                        continue
                    if pat.negatable and self._is_negated(clause, m.start(), m.end()):
                        negated = True
                        continue
                    hits.append(CrisisHit(pat.category, pat.pattern_id, pat.language, span))
        rank = {c: i for i, c in enumerate(CATEGORY_PRIORITY)}
        unique: Dict[Tuple[str, Tuple[int, int]], CrisisHit] = {}
        for h in hits:
            unique.setdefault((h.pattern_id, h.span), h)
        ordered = tuple(sorted(unique.values(), key=lambda h: (rank[h.category], h.span[0], h.pattern_id)))
        return Assessment(
            hit=ordered[0] if ordered else None,
            hits=ordered,
            negated=negated,
            figurative=bool(fig_spans),
            normalized=normalized,
        )

