"""Language detection for English and French, per message, robust to slang and mixed text.

A message is scored by frequent function words of each language (after normalisation) and by
French diacritics. Short or balanced messages (ok, lol, a name, "hello mon frère") keep the
conversation's current language; with no history, Telegram's language code decides.
"""

from __future__ import annotations

from typing import Optional, Tuple

from components import textnorm

EN_WORDS = frozenset(
    "the and is are you your i to of it that this they them we my what why how not do does did "
    "with for be have has just people so but was were he she his her there their will would "
    "can could should about because all from into who want know think like really"
    .split()
)
FR_WORDS = frozenset(
    "le la les et est sont tu je de des du que qui pas ne pour dans sur avec un une ce c ca mais ils "
    "nous vous mon ma mes moi toi quoi pourquoi comment tous tout suis ai etre avoir au aux sa son "
    "leur il elle lui sais veux fait faire trop tres aussi ou quand parce comme rien jamais "
    "personne etait nos vos cette ces y j l d qu n s t m"
    .split()
)
# Words that on their own say which language a short message is in.
EN_STRONG = frozenset(
    "hi hello hey thanks thank yes yeah yep nope lol bro dude guys please why what who how where when "
    "stupid fuck fucking shit kill die help anyone someone nobody everyone going gonna wanna "
    "muslims jews women gays migrants blacks whites".split()
)
FR_STRONG = frozenset(
    "salut bonjour bonsoir coucou merci oui ouais non mdr ptdr wesh frere soeur putain grave bah bref "
    "genre aidez aide urgence jamais rien personne musulmans juifs femmes noirs arabes blancs "
    "dehors rejoindre chahid mecreants kouffar francais sont".split()
)
FRENCH_CHARS = set("éèêàçùâîôûëïœ")
LANG_CODES = {"fr": "fr", "en": "en"}


def score(text: str) -> Tuple[float, float]:
    toks = textnorm.tokens(text)
    en = sum(1 for t in toks if t in EN_WORDS) + sum(1 for t in toks if t in EN_STRONG)
    fr = sum(1 for t in toks if t in FR_WORDS) + sum(1 for t in toks if t in FR_STRONG)
    lowered = (text or "").lower()
    fr += 0.5 * sum(1 for ch in lowered if ch in FRENCH_CHARS)
    return float(en), float(fr)


def from_language_code(code: Optional[str]) -> Optional[str]:
    if not code:
        return None
    return LANG_CODES.get(code.split("-")[0].lower())


def detect_language(
    text: str, previous: Optional[str] = None, language_code: Optional[str] = None
) -> Tuple[str, float]:
    """Return (language, confidence in 0..1)."""
    en, fr = score(text)
    total = en + fr
    fallback = previous or from_language_code(language_code) or "en"
    if en == fr or (total < 2 and previous):
        return fallback, 0.0
    if total < 2 and max(en, fr) < 0.5:
        return fallback, 0.0
    lang = "fr" if fr > en else "en"
    confidence = abs(en - fr) / total
    if previous and lang != previous and (confidence < 0.34 or total < 2):
        return previous, confidence  # mixed message: don't flip on a slight majority
    return lang, confidence
