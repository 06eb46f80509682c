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
   hit whose span overlaps it, and marks the assessment `figurative`. A figurative entry may have a
   guard (`pattern_rules.unless`): a regex searched in the whole clause; when it is found, the
   look-alike does not apply in that clause ("gun show" next to ammunition, "cramer la voiture" with
   someone inside).
5. `denials` (top of the file) are plain statements that no harm is meant where the negation is part
   of the object ("je ferai de mal a PERSONNE", "I won't hurt NOBODY"): they mark the assessment
   `negated` like a cancelled hit, and never create or cancel a hit.
6. Self-target: a hit of a self-harm pattern listed in `pattern_rules.self_target` ("the only target
   is me", "le seul que je veux flinguer c'est moi") says that the writer is the only target:
   violence hits in its clause and in the clause right before it are dropped ("they joke I'll shoot
   up the school but the only target I think about is myself" is self-harm).
7. Companion cues: a pattern listed in `pattern_rules.requires` (harm taken to others on the way
   out: "my ex goes first", "je partirai pas seul", "je les emmene avec moi") only counts when the
   message also has a kept hit of the required category (self_harm). With the priority below the
   message is then violence_intent and keeps its self_harm hit: murder-suicide wording is violence.
8. Message context (v4.1): `pattern_rules.unless_context` and `pattern_rules.requires_context` hold
   a regex searched in every clause of the message (whole tokens); a match that is itself negated
   ("I don't have a cold") does not count. `unless_context`: when found, the hits of that pattern
   are dropped (the model keeps its say: a dropped hit vetoes nothing; a negated one still counts as
   a negation), or a look-alike does not apply ("why do people join ... ? asking for me").
   `requires_context`: a pattern's hits count only when the cue is found ("rejoindre le groupe" next
   to "le passeur m'attend"). They reach across clauses because the context is often in another
   sentence ("I wish I could sleep forever, this cold is brutal").

Priority when hits of several categories remain (all are critical): violence_intent, then
self_harm, then travel_intent. Violence means imminent danger to other people and calls for
emergency services and the workers at once; self-harm is imminent danger to the person; travel
plans are usually days or weeks away. `Assessment.hits` keeps every hit so callers can use all
categories (for instance to also show suicide helplines to someone who wants to attack).

Scope of the model veto (`Assessment.vetoes_model`, used by components/crisis.py)
A negation or a figurative look-alike vetoes a model-only crisis prediction for its own scope only:
the clause it is in, cut further at contrastive conjunctions ("but", "mais", "par contre" ...). When
another scope holds a `risk_cues` entry (a means with a determiner, "my dad's pistol", "la corde";
disappearing; dying; a threat) that is not itself negated, the message is `open_risk` and the model
keeps its say: "I'm not planning to attack anybody, I just want to disappear tonight" is not vetoed,
"I would never hurt myself, don't worry" is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
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
# Contrastive conjunctions open a new scope for the model veto inside a clause (normalised text).
_SCOPE_SPLIT_RE = re.compile(
    r"(?<![a-z0-9])(?:but|though|although|however|instead|mais|pourtant|cependant|sauf que|par contre|"
    r"en revanche|plutot)(?![a-z0-9])"
)
SELF_TARGET_CATEGORY = "self_harm"
SELF_TARGET_DROPS = "violence_intent"
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
    negated: bool  # a dangerous phrase was cancelled by a negation, or a denial was found
    figurative: bool  # a figurative look-alike matched somewhere in the message
    normalized: str = ""  # the normalised text the spans refer to
    open_risk: bool = False  # a scope without negation/look-alike names a means, death or a threat

    @property
    def is_crisis(self) -> bool:
        return self.hit is not None

    @property
    def vetoes_model(self) -> bool:
        """True when a negation or look-alike should veto a model-only crisis for this message."""
        return self.hit is None and (self.negated or self.figurative) and not self.open_risk

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
    requires: Optional[str] = None  # category that must also have a kept hit in the message
    self_target: bool = False  # the writer is the only target: drops nearby violence hits
    unless: Optional["re.Pattern[str]"] = None  # figurative only: clause-level guard
    unless_context: Optional["re.Pattern[str]"] = None  # message-level: drops hits / disables a look-alike
    requires_context: Optional["re.Pattern[str]"] = None  # patterns only: message-level cue needed


def _compile(pattern_id: str, source: Any) -> "re.Pattern[str]":
    if not isinstance(source, str) or not source.strip():
        raise LexiconError(f"{pattern_id}: 're' must be a non-empty string")
    try:
        return re.compile(r"(?<![a-z0-9])(?:" + source + r")(?![a-z0-9])")
    except re.error as exc:
        raise LexiconError(f"{pattern_id}: invalid regular expression: {exc}") from exc


def _compile_plain(where: str, source: Any) -> "re.Pattern[str]":
    if not isinstance(source, str) or not source.strip():
        raise LexiconError(f"{where}: must be a non-empty string")
    try:
        return re.compile(source)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid regular expression: {exc}") from exc


def _regex_list(data: Mapping[str, Any], key: str) -> Tuple["re.Pattern[str]", ...]:
    """Optional per-language lists of regexes (`denials`, `risk_cues`), compiled token-wrapped."""
    block = data.get(key)
    if block is None:
        return ()
    if not isinstance(block, Mapping):
        raise LexiconError(f"'{key}' must map each language to a list of regexes")
    out: List["re.Pattern[str]"] = []
    for lang in LANGUAGES:
        entries = block.get(lang) or []
        if not isinstance(entries, list):
            raise LexiconError(f"'{key}.{lang}' must be a list")
        for i, source in enumerate(entries):
            out.append(_compile(f"{key}.{lang}[{i}]", source))
    return tuple(out)


def _apply_rules(patterns: List[_Pattern], rules: Any) -> List[_Pattern]:
    """`pattern_rules: {requires: {id: category}, self_target: [id], unless: {fig id: regex},
    unless_context: {id: regex}, requires_context: {id: regex}}`."""
    if rules is None:
        return patterns
    allowed = {"requires", "self_target", "unless", "unless_context", "requires_context"}
    if not isinstance(rules, Mapping) or set(rules) - allowed:
        raise LexiconError(f"'pattern_rules' may only hold {sorted(allowed)}")
    by_id = {p.pattern_id: p for p in patterns}
    requires = rules.get("requires") or {}
    self_target = rules.get("self_target") or []
    unless = rules.get("unless") or {}
    unless_context = rules.get("unless_context") or {}
    requires_context = rules.get("requires_context") or {}
    if (
        not isinstance(requires, Mapping)
        or not isinstance(self_target, list)
        or not isinstance(unless, Mapping)
        or not isinstance(unless_context, Mapping)
        or not isinstance(requires_context, Mapping)
    ):
        raise LexiconError("'pattern_rules': self_target is a list, the other rules are mappings")
    changes: Dict[str, Dict[str, Any]] = {}
    for pattern_id, category in requires.items():
        pat = by_id.get(pattern_id)
        if pat is None or pat.figurative or category not in CATEGORY_PRIORITY or category == pat.category:
            raise LexiconError(f"pattern_rules.requires.{pattern_id}: needs a pattern and another category")
        changes.setdefault(pattern_id, {})["requires"] = category
    for pattern_id in self_target:
        pat = by_id.get(pattern_id)
        if pat is None or pat.figurative or pat.category != SELF_TARGET_CATEGORY:
            raise LexiconError(f"pattern_rules.self_target: {pattern_id!r} is not a {SELF_TARGET_CATEGORY} pattern")
        changes.setdefault(pattern_id, {})["self_target"] = True
    for pattern_id, source in unless.items():
        pat = by_id.get(pattern_id)
        if pat is None or not pat.figurative:
            raise LexiconError(f"pattern_rules.unless.{pattern_id}: only figurative entries take a guard")
        changes.setdefault(pattern_id, {})["unless"] = _compile_plain(f"pattern_rules.unless.{pattern_id}", source)
    for pattern_id, source in unless_context.items():
        if pattern_id not in by_id:
            raise LexiconError(f"pattern_rules.unless_context.{pattern_id}: unknown pattern id")
        changes.setdefault(pattern_id, {})["unless_context"] = _compile(
            f"pattern_rules.unless_context.{pattern_id}", source
        )
    for pattern_id, source in requires_context.items():
        pat = by_id.get(pattern_id)
        if pat is None or pat.figurative:
            raise LexiconError(f"pattern_rules.requires_context.{pattern_id}: needs a (non-figurative) pattern")
        changes.setdefault(pattern_id, {})["requires_context"] = _compile(
            f"pattern_rules.requires_context.{pattern_id}", source
        )
    return [replace(p, **changes[p.pattern_id]) if p.pattern_id in changes else p for p in patterns]


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
        denials: Sequence["re.Pattern[str]"] = (),
        risk_cues: Sequence["re.Pattern[str]"] = (),
    ) -> None:
        self._patterns = tuple(p for p in patterns if not p.figurative)
        self._figurative = tuple(p for p in patterns if p.figurative)
        self._negations = tuple(negations)
        self._bridge = bridge
        self._denials = tuple(denials)
        self._risk_cues = tuple(risk_cues)
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
        patterns = _apply_rules(patterns, data.get("pattern_rules"))
        denials = _regex_list(data, "denials")
        risk_cues = _regex_list(data, "risk_cues")
        return cls(patterns, negations, bridge, version, reviewed, denials, risk_cues)

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

    @staticmethod
    def _scope_bounds(clause: str) -> List[int]:
        """Start offsets of the veto scopes of a clause (cut at contrastive conjunctions)."""
        return [0] + [m.start() for m in _SCOPE_SPLIT_RE.finditer(clause) if m.start() > 0]

    @staticmethod
    def _scope_of(bounds: List[int], pos: int) -> int:
        index = 0
        for i, start in enumerate(bounds):
            if start <= pos:
                index = i
        return index

    def assess(self, text: str) -> Assessment:
        """Normalise `text` with textnorm and match the lexicon. Never raises on odd input."""
        if not isinstance(text, str) or not text.strip():
            return Assessment(hit=None, hits=(), negated=False, figurative=False, normalized="")
        clauses = self._clauses(text)
        normalized = " ".join(c for _, c in clauses)
        bounds = [self._scope_bounds(clause) for _, clause in clauses]
        covered: set = set()  # (clause index, scope index) holding a negation or a look-alike
        context_seen: Dict[int, bool] = {}

        def in_context(regex: "re.Pattern[str]") -> bool:
            key = id(regex)
            if key not in context_seen:
                context_seen[key] = self._context_found(clauses, regex)
            return context_seen[key]

        def cover(ci: int, start: int, end: int) -> None:
            first, last = self._scope_of(bounds[ci], start), self._scope_of(bounds[ci], max(start, end - 1))
            covered.update((ci, k) for k in range(first, last + 1))

        fig_spans: List[Tuple[int, int]] = []
        for ci, (offset, clause) in enumerate(clauses):
            for pat in self._figurative:
                if pat.unless is not None and pat.unless.search(clause):
                    continue
                if pat.unless_context is not None and in_context(pat.unless_context):
                    continue
                for m in pat.regex.finditer(clause):
                    fig_spans.append((offset + m.start(), offset + m.end()))
                    cover(ci, m.start(), m.end())
        kept: List[Tuple[CrisisHit, int, _Pattern]] = []
        negated = False
        for ci, (offset, clause) in enumerate(clauses):
            for pat in self._patterns:
                for m in pat.regex.finditer(clause):
                    if pat.requires_context is not None and not in_context(pat.requires_context):
                        break
                    span = (offset + m.start(), offset + m.end())
                    if any(s < span[1] and span[0] < e for s, e in fig_spans):
                        continue
                    if pat.negatable and self._is_negated(clause, m.start(), m.end()):
                        negated = True
                        cover(ci, m.start(), m.end())
                        continue
                    if pat.unless_context is not None and in_context(pat.unless_context):
                        continue  # ordinary context elsewhere in the message: dropped, no veto
                    kept.append((CrisisHit(pat.category, pat.pattern_id, pat.language, span), ci, pat))
            for denial in self._denials:
                for m in denial.finditer(clause):
                    negated = True
                    cover(ci, m.start(), m.end())
        # The writer as the only target: violence hits in that clause and the one before are dropped.
        self_target_clauses = {ci for _, ci, pat in kept if pat.self_target}
        if self_target_clauses:
            kept = [
                (h, ci, pat) for h, ci, pat in kept
                if h.category != SELF_TARGET_DROPS or not ({ci, ci + 1} & self_target_clauses)
            ]
        # Companion cues count only next to a kept hit of the category they require.
        present = {h.category for h, _, pat in kept if pat.requires is None}
        kept = [(h, ci, pat) for h, ci, pat in kept if pat.requires is None or pat.requires in present]
        rank = {c: i for i, c in enumerate(CATEGORY_PRIORITY)}
        unique: Dict[Tuple[str, Tuple[int, int]], CrisisHit] = {}
        for h, _, _ in kept:
            unique.setdefault((h.pattern_id, h.span), h)
        ordered = tuple(sorted(unique.values(), key=lambda h: (rank[h.category], h.span[0], h.pattern_id)))
        open_risk = False
        if not ordered and (negated or fig_spans) and self._risk_cues:
            open_risk = self._open_risk(clauses, bounds, covered)
        return Assessment(
            hit=ordered[0] if ordered else None,
            hits=ordered,
            negated=negated,
            figurative=bool(fig_spans),
            normalized=normalized,
            open_risk=open_risk,
        )

    def _context_found(self, clauses: List[Tuple[int, str]], regex: "re.Pattern[str]") -> bool:
        """The context regex matches somewhere in the message and that match is not negated."""
        for _, clause in clauses:
            for m in regex.finditer(clause):
                if not self._is_negated(clause, m.start(), m.end()):
                    return True
        return False

    def _open_risk(self, clauses: List[Tuple[int, str]], bounds: List[List[int]], covered: set) -> bool:
        """A risk cue, not itself negated, in a scope that holds no negation and no look-alike."""
        for ci, (_, clause) in enumerate(clauses):
            for cue in self._risk_cues:
                for m in cue.finditer(clause):
                    if (ci, self._scope_of(bounds[ci], m.start())) in covered:
                        continue
                    if self._is_negated(clause, m.start(), m.end()):
                        continue
                    return True
        return False
