"""Crisis lexicon: schema, matcher behaviour, and its measured coverage / false alarms on the NLU data.

Run: .venv/bin/python -m pytest tests/test_crisis_lexicon.py -q   (add -s to see the figures)
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
import yaml

from components import textnorm
from components.crisis_lexicon import (
    CATEGORY_PRIORITY,
    DEFAULT_PATH,
    LANGUAGES,
    Assessment,
    CrisisLexicon,
    LexiconError,
)

ROOT = Path(__file__).resolve().parent.parent
LEXICON_PATH = ROOT / "content" / "crisis_lexicon.yml"
NLU_DIR = ROOT / "data" / "nlu"
CRISIS_NLU = NLU_DIR / "crisis.yml"

# Figures when this file was written (2026-11-28): the lexicon alone catches 92% of the crisis NLU
# examples (in-sample: the lexicon was tuned on them; blind checks gave 85-89%); 0 false alarms on
# 4,700 examples of other intents. Round 2 (lexicon version 2, same day): about 94% of the ~470
# crisis NLU examples (the ~109 new ones were written before the last tuning pass: 86% caught then);
# a 64-sentence blind set written after the patterns: 40.6% with version 1, 93.8% with version 2;
# still 0 false alarms on ~5,100 examples of other intents and 0 on 70 hand-written look-alikes.
COVERAGE_FLOOR = 0.88
CATEGORY_COVERAGE_FLOOR = 0.85
FALSE_ALARM_CEILING = 0.005


@pytest.fixture(scope="module")
def raw() -> dict:
    with open(LEXICON_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _category(assessment: Assessment) -> str:
    return assessment.hit.category if assessment.hit else "none"


def nlu_examples(path: Path) -> Iterator[Tuple[str, str]]:
    """(intent, text) pairs of a Rasa 3 NLU YAML file (string examples and text/metadata lists)."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    for item in data.get("nlu") or []:
        if not isinstance(item, dict) or "intent" not in item:
            continue
        examples = item.get("examples")
        if isinstance(examples, str):
            for line in examples.splitlines():
                line = line.strip()
                if line.startswith("- "):
                    yield item["intent"], line[2:].strip()
        elif isinstance(examples, list):
            for entry in examples:
                if isinstance(entry, dict) and entry.get("text"):
                    yield item["intent"], str(entry["text"])


def _strip_entities(text: str) -> str:
    """Rasa inline entity annotation [value](entity) / [value]{...} -> value."""
    return re.sub(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})", r"\1", text)


# ----------------------------------------------------------------------------- schema
def test_default_path_is_the_content_file() -> None:
    assert DEFAULT_PATH == LEXICON_PATH
    assert LEXICON_PATH.is_file()


def test_reviewed_block_and_version(raw: dict) -> None:
    assert isinstance(raw["version"], int)
    assert raw["reviewed"]["by"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(raw["reviewed"]["date"]))


def test_negation_cues_are_strings_for_each_language(raw: dict) -> None:
    for lang in LANGUAGES:
        cues = raw["negations"][lang]
        assert cues, lang
        assert all(isinstance(c, str) and c.strip() for c in cues), cues
    assert "no" in raw["negations"]["en"]  # a bare `no` in YAML would be the boolean false


def test_every_category_and_language_has_patterns_and_ids_are_unique(raw: dict) -> None:
    assert set(raw["categories"]) == set(CATEGORY_PRIORITY)
    ids: List[str] = []
    for category in CATEGORY_PRIORITY:
        for lang in LANGUAGES:
            block = raw["categories"][category][lang]
            assert len(block["patterns"]) >= 5, (category, lang)
            for kind in ("patterns", "figurative"):
                for entry in block.get(kind) or []:
                    ids.append(entry["id"])
                    assert set(entry) <= {"id", "re", "negatable"}, entry["id"]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates


def test_every_regex_compiles(raw: dict) -> None:
    count = 0
    for category in CATEGORY_PRIORITY:
        for lang in LANGUAGES:
            block = raw["categories"][category][lang]
            for entry in (block.get("patterns") or []) + (block.get("figurative") or []):
                re.compile(entry["re"])
                count += 1
    assert count > 50


def test_patterns_are_written_for_normalised_text(raw: dict) -> None:
    """Normalised text has no accents, capitals or apostrophes: a pattern needing them never fires."""
    for category in CATEGORY_PRIORITY:
        for lang in LANGUAGES:
            block = raw["categories"][category][lang]
            for entry in (block.get("patterns") or []) + (block.get("figurative") or []):
                source = entry["re"]
                assert source.isascii(), entry["id"]  # no accents: textnorm strips them
                assert "'" not in source, entry["id"]  # apostrophes become spaces
                letters = re.sub(r"\\[A-Za-z]", "", source)  # drop escapes such as \b \w \d
                assert letters == letters.lower(), entry["id"]  # text is lower-cased


def test_negatable_patterns_do_not_hold_french_negations(raw: dict) -> None:
    """"pas"/"jamais" inside a negatable match cancels it: only sh-fr-004 uses that on purpose."""
    allowed = {"sh-fr-004"}  # (?:pas |jamais )? mourir: "je veux pas mourir" is a negation
    for category in CATEGORY_PRIORITY:
        for lang in LANGUAGES:
            for entry in raw["categories"][category][lang]["patterns"]:
                if entry.get("negatable") and entry["id"] not in allowed:
                    assert not re.search(r"\b(?:pas|jamais)\b", entry["re"]), entry["id"]


def test_loader_rejects_duplicate_ids_bad_regex_and_unquoted_no(raw: dict) -> None:
    import copy

    dup = copy.deepcopy(raw)
    first = dup["categories"]["self_harm"]["en"]["patterns"][0]
    dup["categories"]["self_harm"]["fr"]["patterns"].append(dict(first))
    with pytest.raises(LexiconError, match="duplicate"):
        CrisisLexicon.from_dict(dup)

    bad = copy.deepcopy(raw)
    bad["categories"]["travel_intent"]["fr"]["patterns"][0]["re"] = "(unclosed"
    with pytest.raises(LexiconError, match="invalid regular expression"):
        CrisisLexicon.from_dict(bad)

    unquoted = copy.deepcopy(raw)
    unquoted["negations"]["en"].append(False)
    with pytest.raises(LexiconError, match="not a string"):
        CrisisLexicon.from_dict(unquoted)

    unreviewed = copy.deepcopy(raw)
    del unreviewed["reviewed"]
    with pytest.raises(LexiconError, match="reviewed"):
        CrisisLexicon.from_dict(unreviewed)

    missing = copy.deepcopy(raw)
    missing["categories"]["violence_intent"]["fr"]["patterns"] = []
    with pytest.raises(LexiconError, match="violence_intent.fr"):
        CrisisLexicon.from_dict(missing)


def test_module_is_pure_at_import() -> None:
    code = (
        "import sys; import components.crisis_lexicon as m; "
        "print(sorted(k for k in sys.modules if k == 'rasa' or k.startswith('rasa.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- behaviour
POSITIVES = [
    # self_harm, EN
    ("I want to end it all", "self_harm"),
    ("i just want to die", "self_harm"),
    ("kms", "self_harm"),
    ("I'm going to unalive myself", "self_harm"),
    ("I cut myself again", "self_harm"),
    ("I don't want to live anymore", "self_harm"),
    ("there's no point going on", "self_harm"),
    ("everyone would be better off without me", "self_harm"),
    ("I won't be a problem much longer", "self_harm"),
    ("I've been looking at bridges", "self_harm"),
    ("I took all my pills", "self_harm"),
    ("idk, i want to die", "self_harm"),
    ("there's no reason for me to be alive", "self_harm"),
    ("if I died tomorrow nobody would care", "self_harm"),
    # self_harm, FR
    ("je veux en finir", "self_harm"),
    ("j'ai envie de disparaître", "self_harm"),
    ("Jpp, j'veux mourir", "self_harm"),
    ("tout le monde serait mieux sans moi", "self_harm"),
    ("j'ai écrit mes lettres d'adieu", "self_harm"),
    ("je ne veux plus vivre", "self_harm"),
    ("pas envie de me reveiller demain", "self_harm"),
    ("JE VAIS ME TUER", "self_harm"),
    ("jme suis encore scarifiée", "self_harm"),
    ("je sais pas, je veux mourir", "self_harm"),
    ("je veux dormir et ne jamais me réveiller", "self_harm"),
    ("je veux disparaître à jamais", "self_harm"),
    ("ce serait plus simple si j'étais pas là", "self_harm"),
    ("je veux mettre fin à mes jours", "self_harm"),
    # violence_intent, EN
    ("I'm going to shoot up my school", "violence_intent"),
    ("where can I buy a gun", "violence_intent"),
    ("they will all pay, tomorrow I act", "violence_intent"),
    ("I want to do what Tarrant did", "violence_intent"),
    ("how to make a pipe bomb", "violence_intent"),
    ("gonna kill as many people as i can", "violence_intent"),
    ("I can't wait to kill them all", "violence_intent"),
    ("i will die as a martyr this week, i have a plan", "violence_intent"),
    ("je vais mourir en martyr demain", "violence_intent"),
    # violence_intent, FR
    ("je vais faire un carnage à la mosquée", "violence_intent"),
    ("je vais faire un carnage au lycée", "violence_intent"),
    ("comment fabriquer une bombe", "violence_intent"),
    ("où acheter une kalash", "violence_intent"),
    ("je prépare un attentat", "violence_intent"),
    ("ils vont tous payer", "violence_intent"),
    # travel_intent, EN
    ("I'm leaving for Syria next month to join the brothers", "travel_intent"),
    ("how do I get to the caliphate", "travel_intent"),
    ("how do i get to ISIS territory", "travel_intent"),
    ("I want to join the Azov militia to kill", "travel_intent"),
    # travel_intent, FR
    ("comment rejoindre le sham", "travel_intent"),
    ("je pars faire la hijra chez l'EI", "travel_intent"),
    ("je veux rejoindre daech", "travel_intent"),
    ("je pars en Syrie pour combattre avec les frères", "travel_intent"),
]


@pytest.mark.parametrize("text,category", POSITIVES)
def test_positives(lexicon: CrisisLexicon, text: str, category: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == category, (text, result)
    start, end = result.hit.span
    assert 0 <= start < end <= len(result.normalized)


FIGURATIVE = [
    "this meme is killing me",
    "I'd die for a pizza",
    "une tuerie ce burger",
    "ce burger c'est une tuerie",
    "mort de rire",
    "mdr je suis mort",
    "I'm dead lol",
    "we're going to shoot a video tomorrow",
    "let's kill time before the movie",
    "have you watched attack on titan",
    "this song is the bomb",
    "i bombed my exam",
    "ma mère va me tuer si je rentre tard",
    "je me tue à te le dire",
    "il a tué le game",
    "je vais le tuer mdr il a mangé mes frites",
    "my mom is going to kill me",
    "I cut myself shaving",
    "my friend talks about going to syria to join them",
]


@pytest.mark.parametrize("text", FIGURATIVE)
def test_figurative_look_alikes_are_not_a_crisis(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result)
    assert result.figurative, text


NEGATED = [
    "I would never kill myself",
    "I am not going to hurt anyone",
    "I'm not suicidal",
    "I don't want to die",
    "I have no intention of killing myself",
    "I'd never shoot up a school",
    "I would never join ISIS",
    "je vais pas me tuer",
    "je ne me tuerai jamais",
    "je me suicide pas t'inquiète",
    "j'ai pas du tout envie de mourir",
    "je ne veux pas mourir",
    "je ne suis pas suicidaire",
    "je ne vais pas rejoindre daech",
]


@pytest.mark.parametrize("text", NEGATED)
def test_negated_phrases_are_not_a_crisis_and_are_flagged(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result)
    assert result.negated, text


@pytest.mark.parametrize(
    "text,category",
    [
        # a negation elsewhere in the message, or as an answer, does not cancel a later crisis phrase
        ("I do not know, I want to die", "self_harm"),
        ("no i want to die", "self_harm"),
        ("non je veux mourir", "self_harm"),
        ("I can't take it anymore i want to die", "self_harm"),
        ("I'm not going to kill myself tonight, but I want to die", "self_harm"),
        # dangerous negated forms are listed explicitly and never cancelled
        ("i do not want to live", "self_harm"),
        ("I don't want to wake up tomorrow", "self_harm"),
        ("je ne veux plus vivre", "self_harm"),
        ("j'ai plus envie de vivre", "self_harm"),
        # a figurative idiom in the same message does not hide a real crisis phrase
        ("this meme is killing me lol but honestly I want to kill myself", "self_harm"),
        ("mdr. non sérieux je vais me tuer", "self_harm"),
        # the person's own crisis inside a third-party sentence is kept
        ("my friend told me i should kill myself", "self_harm"),
    ],
)
def test_negation_scope_and_mixed_messages(lexicon: CrisisLexicon, text: str, category: str) -> None:
    assert _category(lexicon.assess(text)) == category, text


def test_priority_prefers_violence_then_self_harm_then_travel(lexicon: CrisisLexicon) -> None:
    both = lexicon.assess("I want to die, but first I'm going to shoot up my school")
    assert both.hit.category == "violence_intent"
    assert set(both.categories) == {"violence_intent", "self_harm"}
    travel_and_self = lexicon.assess("je veux mourir. je pars rejoindre daech")
    assert travel_and_self.hit.category == "self_harm"
    assert "travel_intent" in travel_and_self.categories


@pytest.mark.parametrize("text", ["", "   ", "💀💀💀", "?!?!", "a" * 20000, "\x00\x01", "🙂 " * 3000, None, 42])
def test_odd_input_never_raises(lexicon: CrisisLexicon, text: object) -> None:
    result = lexicon.assess(text)  # type: ignore[arg-type]
    assert result.hit is None and not result.negated


def test_long_message_is_assessed_quickly(lexicon: CrisisLexicon) -> None:
    import time

    text = ("blah blah this is a long message about my day at school and nothing else, " * 60) + "I want to die"
    start = time.perf_counter()
    result = lexicon.assess(text)
    assert result.hit is not None and result.hit.category == "self_harm"
    assert time.perf_counter() - start < 1.0


# ----------------------------------------------------------------------------- round 2 (lexicon version 2)
# Written by hand for the categories an independent evaluation found missed (means at hand, painless
# ways, farewells, self-injury again, "for good"; weapon buying, explosive quantities, reconnaissance,
# announced acts, knife slang, copycats; smugglers, routes, papers, vouching, "partir combattre").
# Each v2 pattern id has at least one positive here; the negatives are look-alikes of those families.
V2_PATTERN_IDS = {
    "sh-en-023", "sh-en-024", "sh-en-025", "sh-en-026", "sh-en-027", "sh-en-028", "sh-en-029", "sh-en-030",
    "sh-fr-016", "sh-fr-017", "sh-fr-018", "sh-fr-019", "sh-fr-020", "sh-fr-021", "sh-fr-022",
    "vi-en-013", "vi-en-014", "vi-en-015", "vi-en-016", "vi-en-017", "vi-en-018", "vi-en-019",
    "vi-fr-011", "vi-fr-012", "vi-fr-013", "vi-fr-014", "vi-fr-015",
    "ti-en-008", "ti-en-009", "ti-en-010", "ti-en-011",
    "ti-fr-008", "ti-fr-009", "ti-fr-010",
}

ROUND2_POSITIVES = [
    # self_harm, EN
    ("the pills are right in front of me", "self_harm", "sh-en-023"),
    ("holding a blade to my wrist right now", "self_harm", "sh-en-023"),
    ("got the rope ready in the garage", "self_harm", "sh-en-023"),
    ("sitting on the train tracks waiting for it", "self_harm", "sh-en-024"),
    ("standing on the bridge rn looking down", "self_harm", "sh-en-024"),
    ("any painless way to go? asking for me", "self_harm", "sh-en-025"),
    ("which method is least painful to end things", "self_harm", "sh-en-025"),
    ("giving away all my stuff, I won't need it where I'm going", "self_harm", "sh-en-026"),
    ("burned myself with a lighter again", "self_harm", "sh-en-027"),
    ("i relapsed and started burning myself again", "self_harm", "sh-en-027"),
    ("i wish it would all stop for good", "self_harm", "sh-en-028"),
    ("I just want to leave for good and never come back", "self_harm", "sh-en-028"),
    ("if i die tomorrow nobody cares, maybe ill do it", "self_harm", "sh-en-029"),
    ("i have enough pills saved to never wake up", "self_harm", "sh-en-030"),
    # self_harm, FR
    ("les cachets sont devant moi", "self_harm", "sh-fr-016"),
    ("j'ai toute ma boîte de médocs sur la table ce soir c'est fini", "self_harm", "sh-fr-016"),
    ("la corde est prête dans le garage", "self_harm", "sh-fr-016"),
    ("je suis sur le pont je regarde en bas", "self_harm", "sh-fr-017"),
    ("assise sur les rails, j'attends le train", "self_harm", "sh-fr-017"),
    ("c'est quoi le moyen le plus facile de mourir", "self_harm", "sh-fr-018"),
    ("une façon de partir sans souffrir ?", "self_harm", "sh-fr-018"),
    ("g fait mes adieux à tout le monde", "self_harm", "sh-fr-019"),
    ("je me suis fait du mal encore hier soir", "self_harm", "sh-fr-020"),
    ("j'ai envie de recommencer à me couper", "self_harm", "sh-fr-020"),
    ("je veux que ça s'arrête pour toujours", "self_harm", "sh-fr-021"),
    ("je veux partir définitivement", "self_harm", "sh-fr-021"),
    ("si je meurs demain personne s'en soucie", "self_harm", "sh-fr-022"),
    # violence_intent, EN
    ("need a rifle asap who sells", "violence_intent", "vi-en-013"),
    ("where can i get a kalash quick", "violence_intent", "vi-en-013"),
    ("how much fertilizer do i need for an explosive", "violence_intent", "vi-en-014"),
    ("been watching the guards at the entrance for days", "violence_intent", "vi-en-015"),
    ("mapped all the exits of the mall, i know where to stand", "violence_intent", "vi-en-015"),
    ("watch the news next week, you'll hear about me", "violence_intent", "vi-en-016"),
    ("they'll see on friday what i have ready for them", "violence_intent", "vi-en-016"),
    ("one day i'll walk in there and shoot everyone", "violence_intent", "vi-en-017"),
    ("i'll go to the mosque with my dad's shotgun", "violence_intent", "vi-en-017"),
    ("im gonna shank him after school", "violence_intent", "vi-en-018"),
    ("do what the christchurch guy did", "violence_intent", "vi-en-019"),
    ("i want to be like tarrant and breivik", "violence_intent", "vi-en-019"),
    # violence_intent, FR
    ("où trouver une arme rapidement", "violence_intent", "vi-fr-005"),
    ("qui vend une kalash, j'ai le cash", "violence_intent", "vi-fr-011"),
    ("combien d'engrais pour faire un explosif", "violence_intent", "vi-fr-011"),
    ("je surveille l'entrée de la synagogue depuis des jours", "violence_intent", "vi-fr-012"),
    ("je connais les horaires des vigiles", "violence_intent", "vi-fr-012"),
    ("vous entendrez parler de moi", "violence_intent", "vi-fr-013"),
    ("ils verront vendredi ce que je leur prépare", "violence_intent", "vi-fr-013"),
    ("un jour j'irai là-bas et je tirerai sur tout le monde", "violence_intent", "vi-fr-014"),
    ("jle plante demain devant le lycée", "violence_intent", "vi-fr-014"),
    ("je vais le planter ce bâtard", "violence_intent", "vi-fr-014"),
    ("je veux faire pareil que le mec de Christchurch", "violence_intent", "vi-fr-015"),
    # travel_intent, EN
    ("know a smuggler who can get me over the border to idlib?", "travel_intent", "ti-en-008"),
    ("need papers to cross into syria, who can help", "travel_intent", "ti-en-008"),
    ("whats the route from turkey into idlib these days", "travel_intent", "ti-en-009"),
    ("how to get to IS territory in africa", "travel_intent", "ti-en-009"),
    ("booked a flight to istanbul, from there i go join the fighters", "travel_intent", "ti-en-010"),
    ("I'm leaving to fight, my decision is made", "travel_intent", "ti-en-010"),
    ("going to mozambique to join the wilayah", "travel_intent", "ti-en-010"),
    ("need someone to vouch for me to join the group over there", "travel_intent", "ti-en-011"),
    ("my recruiter said i need a tazkiya to get in", "travel_intent", "ti-en-011"),
    # travel_intent, FR
    ("tu connais un passeur pour aller en Syrie", "travel_intent", "ti-fr-008"),
    ("il me faut des faux papiers pour passer en Syrie", "travel_intent", "ti-fr-008"),
    ("quelle route pour rentrer à Idlib depuis la Turquie", "travel_intent", "ti-fr-009"),
    ("je veux aller en terre de jihad", "travel_intent", "ti-fr-009"),
    ("je pars combattre, ma décision est prise", "travel_intent", "ti-fr-010"),
    ("quelqu'un peut se porter garant de moi auprès des frères", "travel_intent", "ti-fr-010"),
    ("je veux rejoindre les camps en Syrie", "travel_intent", "ti-fr-010"),
]


def test_every_v2_pattern_has_a_round2_positive(lexicon: CrisisLexicon) -> None:
    assert V2_PATTERN_IDS <= set(lexicon.pattern_ids)
    assert V2_PATTERN_IDS <= {pid for _, _, pid in ROUND2_POSITIVES}


@pytest.mark.parametrize("text,category,pattern_id", ROUND2_POSITIVES)
def test_round2_positives(lexicon: CrisisLexicon, text: str, category: str, pattern_id: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == category, (text, result)
    assert pattern_id in {h.pattern_id for h in result.hits}, (text, result.hits)


# Non-crisis look-alikes of the round-2 families (gaming, sport, cooking, exams, phones, plants,
# idioms, news, questions about why people join, a worried friend, gardening, hunting). None may
# raise a crisis.
ROUND2_NON_CRISIS = [
    "I killed my plants again, I'm a serial killer of cacti",
    "my phone battery is dying",
    "I'd kill for a coffee right now",
    "we got killed in the final round gg",
    "that exam destroyed me",
    "I need a new rifle skin in valorant",
    "which gun is best in warzone for close range",
    "how much fertilizer do my tomatoes need",
    "the pills for my headache are in the kitchen",
    "my meds are ready at the pharmacy",
    "watching the news about the attack, so sad",
    "why do people join ISIS?",
    "why would anyone join al shabaab",
    "my friend wants to go to syria to join them, what do I do",
    "my cousin wants to travel to syria to see family",
    "I want out of this group chat permanently",
    "flight to istanbul next week for my cousin's wedding",
    "flight to mali for the humanitarian mission",
    "i'm going to shoot some hoops",
    "bought a new knife for cooking, the blade is so sharp",
    "the knife set is next to the stove",
    "the bridge near my house is closed for repairs",
    "i'm sitting on the roof watching the sunset",
    "he stabbed me in the back at work",
    "my laptop died on me during the exam",
    "you'll hear about me on the news when i win the championship",
    "they'll see what I have planned for them for christmas",
    "j'ai flingué mon téléphone en le faisant tomber",
    "ma batterie est en train de mourir",
    "je tuerais pour un café",
    "j'ai encore tué mes plantes",
    "on s'est fait massacrer au foot",
    "il faut combien d'engrais pour les tomates",
    "pourquoi des jeunes partent en Syrie ?",
    "mon pote veut partir en Syrie, je fais quoi",
    "mon frère veut partir en Syrie voir la famille",
    "je quitte ce groupe définitivement",
    "j'ai pris un billet pour Istanbul pour les vacances",
    "j'ai révisé toute la nuit, l'exam m'a tué",
    "je me suis brûlé en cuisinant",
    "je me suis coupé avec une feuille de papier",
    "je vais planter des tomates ce week-end",
    "je vais planter le basilic demain",
    "le serveur a encore planté",
    "j'ai vu aux infos l'attentat, c'est horrible",
    "le passeur de l'équipe de volley est blessé",
    "mes médicaments sont prêts à la pharmacie",
    "ils vont voir ce que je leur prépare pour Noël",
    "je surveille les entrées de mon compte en banque",
    "j'ai coupé les cheveux de ma sœur",
    "l'arbre, je vais le planter demain",
    "ce rosier je vais le planter samedi dans le jardin",
    "cutting onions with a knife in my hand",
    "I collected my meds from the pharmacy",
    "made my way to the front",
    "from there I join the highway",
    "one day the world will know my name",
    "going to shoot the kid's birthday party on saturday",
    "studying security for weeks for my exam",
    "sitting on the roof looking down at the city lights",
    "need a rifle asap for hunting season",
    "où acheter des munitions pour la chasse",
]


@pytest.mark.parametrize("text", ROUND2_NON_CRISIS)
def test_round2_look_alikes_are_not_a_crisis(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)


@pytest.mark.parametrize(
    "text",
    [
        "I killed my plants again, I'm a serial killer of cacti",
        "my phone battery is dying",
        "ma batterie est en train de mourir",
        "j'ai flingué mon téléphone",
        "je tuerais pour un café",
        "j'ai encore tué mes plantes",
        "where can i buy ammo for hunting",
        "où acheter des munitions pour la chasse",
    ],
)
def test_round2_objects_plants_and_hunting_are_flagged_figurative(lexicon: CrisisLexicon, text: str) -> None:
    # figurative also vetoes a model-only crisis prediction (components/crisis.py)
    result = lexicon.assess(text)
    assert result.hit is None and result.figurative, (text, result)


@pytest.mark.parametrize(
    "text",
    [
        "never thought about ending my life, I'm just stressed",
        "I would never do what the christchurch guy did",
        "I'm not going to stab that guy",
        "je ne vais pas tirer sur tout le monde",
        "I have never burned myself on purpose",
    ],
)
def test_round2_negated_forms_are_not_a_crisis(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, result.hits)
    assert result.negated, text


# ----------------------------------------------------------------------------- measured on the NLU data
def _other_examples() -> List[Tuple[str, str, str]]:
    rows = []
    for path in sorted(NLU_DIR.glob("*.yml")):
        if path.name == CRISIS_NLU.name:
            continue
        for intent, text in nlu_examples(path):
            if not intent.startswith("crisis_"):
                rows.append((path.name, intent, _strip_entities(text)))
    return rows


def test_spans_refer_to_textnorm_normalize(lexicon: CrisisLexicon) -> None:
    texts = [t for _, t in nlu_examples(CRISIS_NLU)] + [t for _, _, t in _other_examples()]
    assert texts
    for text in texts:
        assert lexicon.assess(text).normalized == textnorm.normalize(text), text


def test_crisis_nlu_examples_are_balanced() -> None:
    counts: Dict[str, int] = Counter(intent for intent, _ in nlu_examples(CRISIS_NLU))
    assert set(counts) == {"crisis_" + c for c in CATEGORY_PRIORITY}
    for intent, n in counts.items():
        assert 100 <= n <= 180, (intent, n)  # 50-90 per language (round 2 added ~18 per language)
    texts = [t.lower() for _, t in nlu_examples(CRISIS_NLU)]
    assert len(texts) == len(set(texts)), "duplicate examples"


def test_lexicon_coverage_of_crisis_nlu_examples(lexicon: CrisisLexicon) -> None:
    caught: Dict[str, int] = defaultdict(int)
    right: Dict[str, int] = defaultdict(int)
    total: Dict[str, int] = defaultdict(int)
    vetoed = []
    for intent, text in nlu_examples(CRISIS_NLU):
        category = intent[len("crisis_"):]
        result = lexicon.assess(text)
        total[category] += 1
        if result.hit is not None:
            caught[category] += 1
            right[category] += result.hit.category == category
        elif result.negated or result.figurative:
            vetoed.append(text)
    n = sum(total.values())
    share = sum(caught.values()) / n
    correct = sum(right.values()) / max(1, sum(caught.values()))
    print(f"\nlexicon alone catches {sum(caught.values())}/{n} crisis NLU examples = {share:.1%}; "
          f"right category for {correct:.1%} of those")
    for category in CATEGORY_PRIORITY:
        print(f"  {category}: {caught[category]}/{total[category]} = {caught[category] / total[category]:.1%}")
    # A crisis example flagged negated/figurative would also veto the model: none may be.
    assert not vetoed, vetoed
    assert share >= COVERAGE_FLOOR
    assert correct >= 0.97
    for category in CATEGORY_PRIORITY:
        assert caught[category] / total[category] >= CATEGORY_COVERAGE_FLOOR, category


def test_false_alarms_on_other_intents(lexicon: CrisisLexicon) -> None:
    rows = _other_examples()
    if not rows:
        pytest.skip("no other NLU examples yet")
    alarms = [(f, i, t, lexicon.assess(t).hit.pattern_id) for f, i, t in rows if lexicon.assess(t).hit]
    out_of_scope = [(t, lexicon.assess(t)) for f, i, t in rows if i == "out_of_scope"]
    figurative = sum(1 for _, a in out_of_scope if a.figurative)
    rate = len(alarms) / len(rows)
    print(f"\nlexicon false alarms: {len(alarms)}/{len(rows)} examples of other intents = {rate:.2%}; "
          f"out_of_scope examples flagged figurative: {figurative}/{len(out_of_scope)}")
    for alarm in alarms:
        print("  false alarm:", alarm)
    # No figurative look-alike (out_of_scope) may ever trigger a crisis.
    assert [t for t, a in out_of_scope if a.hit] == []
    assert rate <= FALSE_ALARM_CEILING


V21_POSITIVES = [
    ("je vais descendre mon beau-père ce soir", "violence_intent"),
    ("je vais empoisonner la bouffe de la cantine", "violence_intent"),
    ("j'vais aller au cégep avec le gun", "violence_intent"),
    ("wallah je vais le tuer ce bâtard, j'ai la lame sur moi", "violence_intent"),
    ("demain je vais poignarder mon prof avec mon couteau", "violence_intent"),
]
V21_NEGATIVES = [
    "je vais descendre mon pote à la gare ce soir",
    "je vais tuer ce contrôle demain",
    "je vais jamais empoisonner la bouffe de la cantine, t'inquiète",
    "ma mère va me tuer si je rentre tard",
]


@pytest.mark.parametrize("text,category", V21_POSITIVES)
def test_v21_explicit_french_threats(lexicon: CrisisLexicon, text: str, category: str) -> None:
    assessment = lexicon.assess(text)
    assert assessment.hit is not None and assessment.hit.category == category, text


@pytest.mark.parametrize("text", V21_NEGATIVES)
def test_v21_look_alikes(lexicon: CrisisLexicon, text: str) -> None:
    assert lexicon.assess(text).hit is None, text
