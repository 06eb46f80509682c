"""Text normalisation shared by the NLU tokenizer, the crisis lexicon and language detection.

Real messages arrive with typos, no accents, SMS spelling, repeated letters and slang. Normalising
them to one canonical form before featurisation makes a small training set generalise much further.
Pure functions only: no I/O, no state.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Dict, List

# Slang / SMS spellings -> canonical words. Keys are matched as whole normalised tokens.
# Keep entries unambiguous in both languages (a key must not be a real word in the other language).
SMS_EXPANSIONS: Dict[str, str] = {
    # English
    "u": "you",
    "ur": "your",
    "r": "are",
    "ppl": "people",
    "pple": "people",
    "plz": "please",
    "pls": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "ty": "thank you",
    "idk": "i do not know",
    "dunno": "do not know",
    "imo": "in my opinion",
    "tbh": "to be honest",
    "bc": "because",
    "bcz": "because",
    "cuz": "because",
    "coz": "because",
    "cos": "because",
    "wanna": "want to",
    "wana": "want to",
    "gonna": "going to",
    "gotta": "have to",
    "im": "i am",
    "ive": "i have",
    "dont": "do not",
    "doesnt": "does not",
    "didnt": "did not",
    "cant": "can not",
    "cannot": "can not",
    "wont": "will not",
    "isnt": "is not",
    "aint": "is not",
    "wouldnt": "would not",
    "shouldnt": "should not",
    "n't": "not",
    "w/": "with",
    "b4": "before",
    "2day": "today",
    "2moro": "tomorrow",
    "gr8": "great",
    "bro": "brother",
    "bruv": "brother",
    "sis": "sister",
    "govt": "government",
    "gov": "government",
    "msm": "mainstream media",
    "kys": "kill yourself",
    "kms": "kill myself",
    "unalive": "kill",
    "unalived": "killed",
    "sewerslide": "suicide",
    "sui": "suicide",
    # French
    "jsp": "je sais pas",
    "chais": "je sais",
    "chui": "je suis",
    "chuis": "je suis",
    "jsuis": "je suis",
    "jsui": "je suis",
    "g": "j ai",
    "jai": "j ai",
    "ct": "c etait",
    "c": "c est",
    "cest": "c est",
    "pk": "pourquoi",
    "pq": "pourquoi",
    "pkoi": "pourquoi",
    "pourkoi": "pourquoi",
    "koi": "quoi",
    "kwa": "quoi",
    "tkt": "t inquiete pas",
    "stp": "s il te plait",
    "svp": "s il vous plait",
    "mdr": "mort de rire",
    "ptdr": "mort de rire",
    "bcp": "beaucoup",
    "bcq": "beaucoup",
    "tjr": "toujours",
    "tjrs": "toujours",
    "tt": "tout",
    "tte": "toute",
    "qd": "quand",
    "qnd": "quand",
    "kan": "quand",
    "ke": "que",
    "ki": "qui",
    "ds": "dans",
    "dc": "donc",
    "pr": "pour",
    "pa": "pas",
    "yen": "il y en",
    "jpp": "j en peux plus",
    "jpeux": "je peux",
    "jveux": "je veux",
    "jvais": "je vais",
    "jvai": "je vais",
    "jvx": "je veux",
    "jveu": "je veux",
    "jme": "je me",
    "cmt": "comment",
    "chépa": "je sais pas",
    "chepa": "je sais pas",
    "mtn": "maintenant",
    "mnt": "maintenant",
    "auj": "aujourd hui",
    "ajd": "aujourd hui",
    "oklm": "au calme",
    "wsh": "wesh",
    "frr": "frere",
    "fr\u00e9rot": "frere",
    "frerot": "frere",
    "sista": "soeur",
    "bg": "beau gosse",
    "gouv": "gouvernement",
    "flics": "police",
    "keufs": "police",
    "keuf": "police",
    "condés": "police",
    "conde": "police",
    "condes": "police",
    "meuf": "femme",
    "meufs": "femmes",
    "daesh": "daech",
    "isis": "daech",
    "isil": "daech",
    "ei": "daech",
}

_APOSTROPHES = "\u2019\u2018`\u00b4\u02bc"
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.UNICODE)
_REPEAT_RE = re.compile(r"(.)\1{2,}")
_SPACE_RE = re.compile(r"\s+")


def strip_accents(text: str) -> str:
    """Remove diacritics: 'réalité' -> 'realite', 'Œuvre' -> 'Oeuvre'."""
    text = text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def squeeze_repeats(text: str) -> str:
    """Squeeze three or more repeated characters to two: 'noooon' -> 'noon', '!!!!' -> '!!'."""
    return _REPEAT_RE.sub(r"\1\1", text)


def basic_normalize(text: str) -> str:
    """Lower-case, unify apostrophes, strip accents, squeeze repeats, collapse spaces."""
    if not text:
        return ""
    for apo in _APOSTROPHES:
        text = text.replace(apo, "'")
    text = strip_accents(text.lower())
    text = squeeze_repeats(text)
    return _SPACE_RE.sub(" ", text).strip()


def expand_token(token: str) -> List[str]:
    """Expand one normalised token (SMS / slang) into canonical words; split elisions."""
    expansion = SMS_EXPANSIONS.get(token)
    if expansion is not None:
        return expansion.split()
    if "'" not in token:
        return [token]
    head, _, tail = token.partition("'")
    joined = head + tail
    if joined in SMS_EXPANSIONS:  # don't, can't, i'm, j'ai ...
        return SMS_EXPANSIONS[joined].split()
    if tail == "t" and head.endswith("n"):  # isn't, wasn't
        return [head[:-1], "not"]
    tail_map = {"m": ["am"], "re": ["are"], "ll": ["will"], "ve": ["have"], "d": ["would"], "s": []}
    if tail in tail_map:
        return [head] + tail_map[tail]
    # French elisions: l'etat -> l etat, qu'ils -> qu ils
    return [p for p in (head, tail) if p]


def tokens(text: str) -> List[str]:
    """Normalised word tokens (punctuation dropped), with SMS expansions applied."""
    norm = basic_normalize(text)
    raw = [m.group(0) for m in _TOKEN_RE.finditer(norm) if any(ch.isalnum() for ch in m.group(0))]
    out: List[str] = []
    for i, tok in enumerate(raw):
        following = raw[i + 1] if i + 1 < len(raw) else ""
        if tok == "c" and following in ("est", "etait"):
            out.append(tok)  # "c est" typed without the apostrophe: already expanded
            continue
        out.extend(expand_token(tok))
    return out


def normalize(text: str) -> str:
    """Canonical form of a message: normalised tokens joined by single spaces."""
    return " ".join(tokens(text))
