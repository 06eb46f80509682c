"""Crisis lexicon, round 7 (lexicon v4.1): false alarms found by a data author, without losing recall.

Families (each with must-not-fire look-alikes and must-fire crises, EN and FR, slang and no accents):
1. "tired of living" / "fatigue de vivre" / "marre de vivre" about WHERE or WITH WHOM one lives.
2. "want to disappear forever" out of embarrassment (a presentation, a speech, a date).
3. "wish I could sleep forever" because of a cold, a flu, a hangover, a long shift.
4. "done with life" admin / insurance / hacks; "marre de la vie chere / etudiante".
5. "can't keep going like this" about revising, exams, deadlines, shifts.
6. "rejoindre les freres au bled pour l'aid": a family trip home, not travel to an armed group.
7. Travel messages that a look-alike must NOT veto ("asking for me", a smuggler waiting).

Every case is written by hand for this file (none is copied from data/nlu or the evaluation sets).
Run: .venv/bin/python -m pytest tests/test_crisis_lexicon_round7.py -q
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pytest

from components.crisis_lexicon import Assessment, CrisisLexicon, LexiconError

ROOT = Path(__file__).resolve().parent.parent


def _category(assessment: Assessment) -> Optional[str]:
    return assessment.hit.category if assessment.hit else None


def _why(assessment: Assessment) -> list:
    return [(h.pattern_id, assessment.normalized[h.span[0]:h.span[1]]) for h in assessment.hits]


# ----------------------------------------------------------------------------- must NOT fire
MUST_NOT_FIRE = [
    # 1. tired / fed up of living somewhere or with someone (reported by the data author)
    "i'm tired of living with my parents",
    "je suis fatiguée de vivre chez mes parents",
    "tired of living in this town",
    "marre de vivre en colocation",
    "fatigué de vivre à Paris",
    # 1. own
    "so tired of living with roommates who never clean",
    "sick of living in london tbh",
    "im tired of living paycheck to paycheck",
    "exhausted of living under my parents roof",
    "tired of living out of a suitcase for work",
    "chui fatigué de vivre avec mes colocs",
    "marre de vivre chez ma daronne",
    "j'en ai marre de vivre en banlieue",
    "fatiguee de vivre loin de ma famille",
    "marre de vivre dans cette ville pourrie",
    "jsuis lasse de vivre a 4 dans un 30m2",
    "i don't want to live with my parents anymore",
    "je veux plus vivre chez mes parents",
    "je ne veux plus vivre à Paris",
    # 2. disappear forever out of embarrassment (reported)
    "i want to disappear forever after that presentation",
    # 2. own
    "i wanna vanish forever after that karaoke lol",
    "omg that speech was so cringe, i want to disappear forever",
    "i just want to disappear forever from this group chat",
    "i wish i could disappear forever after tripping on stage",
    "je veux disparaître pour toujours après cette présentation",
    "j'ai envie de disparaître après cet exposé",
    "trop la honte mon oral, jveux disparaitre a jamais",
    # 3. sleep forever because of an illness or tiredness (reported)
    "i wish i could sleep forever, this cold is brutal",
    # 3. own
    "i want to sleep forever, got the worst hangover",
    "wish i could sleep forever, so jet lagged",
    "i want to sleep forever until monday",
    "after that double shift i just want to sleep forever",
    "je voudrais dormir pour toujours, ce rhume me tue",
    "j'ai envie de dormir pour toujours avec cette grippe",
    "jveux dormir pour toujours jusqu'a lundi",
    # 4. done with life admin (reported)
    "so done with life admin",
    "done with life insurance calls",
    # 4. own
    "done with life admin for this week",
    "so done with life insurance salesmen",
    "done with life hacks videos",
    "im done with life coaching lol",
    "done with living with my ex",
    "marre de la vie chère",
    "j'en ai marre de la vie d'étudiant",
    "marre de la vie en coloc",
    # 5. can't keep going like this about study or work (reported)
    "i'm so tired of revising, can't keep going like this",
    # 5. own
    "exam revision every day, i can't keep going like this",
    "cant carry on like this with these deadlines",
    "this commute is brutal, i can't go on like this",
    "not sure i can keep going like this with the night shifts",
    "my dissertation is due friday and i cant keep going like this",
    "j'en peux plus des révisions, je peux plus continuer comme ça",
    "je peux plus continuer comme ca avec ces partiels",
    # 6. a family trip home (reported)
    "je pars rejoindre les frères au bled pour l'aïd",
    # 6. own
    "je rejoins les frères au foot ce soir",
    "on rejoint les freres du quartier au parc",
    "je vais rejoindre les frères au stade",
    "jrejoins les freres au bled cet ete",
    "rejoindre les frères en ligne sur le discord",
    "je rejoins les frères du club après le taf",
    "je pars rejoindre les freres en algerie pour l'aid",
    "i'm joining the brothers in morocco for eid",
    "joining the brothers in the mosque for eid prayer",
]


@pytest.mark.parametrize("text", MUST_NOT_FIRE)
def test_round7_look_alikes_do_not_fire(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None, (text, _why(result))


# ----------------------------------------------------------------------------- must STILL fire
MUST_FIRE = [
    # 1. reported
    ("i'm tired of living", "self_harm"),
    ("tired of living like this, i want it to end", "self_harm"),
    ("je suis fatigué de vivre", "self_harm"),
    ("j'en ai marre de vivre", "self_harm"),
    # 1. own
    ("i am so tired of living in this world", "self_harm"),
    ("tired of living in pain every day", "self_harm"),
    ("sick of living tbh", "self_harm"),
    ("tired of living with this depression", "self_harm"),
    ("tired of living. with my parents or anywhere", "self_harm"),
    ("marre de vivre dans la peur", "self_harm"),
    ("jsuis fatigue de vivre comme ca", "self_harm"),
    ("j'en ai marre de vivre en enfer", "self_harm"),
    ("fatiguée de vivre avec cette douleur", "self_harm"),
    ("tired of living in general", "self_harm"),
    ("fatigué de vivre en général", "self_harm"),
    ("i don't want to live like this", "self_harm"),
    ("je veux plus vivre comme ça", "self_harm"),
    # 2. reported
    ("i want to disappear forever, nobody would notice", "self_harm"),
    # 2. own
    ("i want to disappear forever", "self_harm"),
    ("i want to disappear forever after tonight", "self_harm"),
    ("i want to disappear forever and never come back", "self_harm"),
    ("i wanna vanish forever", "self_harm"),
    # sad or dangerous events are not embarrassment: these stay a crisis
    ("i want to disappear forever after what happened at the party", "self_harm"),
    ("i want to disappear forever after that video got out", "self_harm"),
    ("i want to disappear forever from this world", "self_harm"),
    ("j'ai envie de disparaître pour toujours, personne le remarquerait", "self_harm"),
    ("jveux disparaitre pour toujours", "self_harm"),
    ("je veux disparaître à jamais", "self_harm"),
    # 3. reported
    ("i just want to sleep forever and not wake up", "self_harm"),
    # 3. own
    ("i just want to sleep forever", "self_harm"),
    ("i don't have a cold, i just want to sleep forever", "self_harm"),
    ("this flu is nothing, i want to sleep forever and never wake up", "self_harm"),
    ("wish i could sleep forever. nobody would care", "self_harm"),
    ("je veux dormir pour toujours", "self_harm"),
    ("jveux m'endormir pour toujours", "self_harm"),
    ("j'ai pas de rhume, je veux juste dormir pour toujours", "self_harm"),
    # 4. reported
    ("i'm done with life", "self_harm"),
    # 4. own
    ("i'm so done with life", "self_harm"),
    ("done with life. admin can wait", "self_harm"),
    ("i am done with living", "self_harm"),
    ("done with this life, i want out", "self_harm"),
    ("j'en ai marre de la vie", "self_harm"),
    ("j'en ai marre de cette vie", "self_harm"),
    ("marre de la vie de merde que je mene", "self_harm"),
    # 5. reported
    ("can't keep going, i want to die", "self_harm"),
    # 5. own
    ("i can't keep going like this", "self_harm"),
    ("i can't go on anymore", "self_harm"),
    ("cant keep going anymore", "self_harm"),
    ("i'm not sure i can keep going like this", "self_harm"),
    ("i can't keep going like this, i want to end it", "self_harm"),
    ("revising is pointless, i can't go on living", "self_harm"),
    ("i failed my exams, i can't keep going like this", "self_harm"),
    ("je peux plus continuer comme ça, je veux mourir", "self_harm"),
    ("j'en peux plus de vivre", "self_harm"),
    # 6. reported
    ("je pars rejoindre les frères en syrie", "travel_intent"),
    ("je rejoins les frères au sham le mois prochain", "travel_intent"),
    ("je vais rejoindre le groupe là-bas, le passeur m'attend", "travel_intent"),
    # 6. own
    ("je veux rejoindre les frères au front", "travel_intent"),
    ("je rejoins les frères en irak", "travel_intent"),
    ("jvais rejoindre les freres au sahel", "travel_intent"),
    ("je rejoins les frères du sham", "travel_intent"),
    ("je pars rejoindre les frères la bas", "travel_intent"),
    ("je pars au bled puis je rejoins les frères en syrie", "travel_intent"),
    ("going to join the brothers in somalia", "travel_intent"),
    ("i'm joining the brothers over there", "travel_intent"),
    # 7. own (the smuggler makes "join the group" a travel plan)
    ("j'ai payé le passeur, je rejoins le groupe dimanche", "travel_intent"),
    ("le passeur me fait traverser vendredi pour rejoindre le groupe", "travel_intent"),
    ("the smuggler takes me across on friday to join the group", "travel_intent"),
    ("gonna join the group over there, the smuggler is waiting", "travel_intent"),
    ("mon passeur m'attend a la frontiere, je rejoins les freres", "travel_intent"),
]


@pytest.mark.parametrize("text,category", MUST_FIRE)
def test_round7_crises_still_fire(lexicon: CrisisLexicon, text: str, category: str) -> None:
    result = lexicon.assess(text)
    assert _category(result) == category, (text, _why(result))


# ----------------------------------------------------------------------------- travel: no veto
# A look-alike ("why do people join ...", "rejoindre le groupe") must not veto the model when the
# writer says it is about themself or when a smuggler is waiting: crisis, or at least no veto.
NOT_VETOED = [
    "le passeur me fait traverser vendredi pour rejoindre le groupe",
    "how do foreigners join the fighters in the sahel these days? asking for me",
    "why do people join isis? asking for a friend",
    "pourquoi des jeunes partent en syrie ? je demande pour moi",
    "comment des jeunes rejoignent les combattants au sahel ? c'est pour moi",
    "how do young people go to the caliphate? asking for myself",
    "je rejoins le groupe, le passeur nous attend a la frontiere",
    "why do converts join the fighters over there? people like me i mean",
]


@pytest.mark.parametrize("text", NOT_VETOED)
def test_round7_travel_is_not_vetoed(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.is_crisis or not result.vetoes_model, (text, result)


def test_round7_reported_sahel_question_is_travel(lexicon: CrisisLexicon) -> None:
    result = lexicon.assess("how do foreigners join the fighters in the sahel these days? asking for me")
    assert _category(result) == "travel_intent", _why(result)


# The look-alikes themselves still hold where nothing says it is about the writer.
STILL_LOOK_ALIKES = [
    "je vais rejoindre le groupe",
    "pourquoi des jeunes partent en Syrie ?",
    "why do people join isis?",
    "how do foreigners join the fighters in the sahel these days?",
    "le passeur de l'équipe de volley est blessé, je vais rejoindre le groupe",
    "je rejoins le groupe whatsapp de la classe",
]


@pytest.mark.parametrize("text", STILL_LOOK_ALIKES)
def test_round7_look_alikes_still_veto(lexicon: CrisisLexicon, text: str) -> None:
    result = lexicon.assess(text)
    assert result.hit is None and result.vetoes_model, (text, _why(result))


# ----------------------------------------------------------------------------- header and loader
def test_header_notes_v41_pending_review() -> None:
    header = (ROOT / "content" / "crisis_lexicon.yml").read_text(encoding="utf-8").split("\nversion:")[0]
    assert "v4.1" in header
    assert "Pending safety-team review" in header.split("v4.1")[1]


def _minimal(rules: Optional[dict] = None) -> dict:
    def lang_block(prefix: str, lang: str) -> dict:
        out: dict = {"patterns": [{"id": f"{prefix}-{lang}-001", "re": f"{prefix} {lang}"}]}
        if prefix == "sh" and lang == "en":
            out["figurative"] = [{"id": "sh-en-fig-001", "re": "sh en lol"}]
        return out

    data = {
        "version": 1,
        "reviewed": {"by": "t", "date": "2026-01-01"},
        "negations": {"en": ["not"], "fr": ["pas"]},
        "negation_bridge": {"en": ["have", "a"], "fr": ["de"]},
        "categories": {
            c: {"en": lang_block(p, "en"), "fr": lang_block(p, "fr")}
            for c, p in (("violence_intent", "vi"), ("self_harm", "sh"), ("travel_intent", "ti"))
        },
    }
    if rules is not None:
        data["pattern_rules"] = rules
    return data


def test_context_rules_look_at_the_whole_message() -> None:
    lex = CrisisLexicon.from_dict(_minimal({
        "unless_context": {"sh-en-001": "cold", "sh-en-fig-001": "for me"},
        "requires_context": {"ti-en-001": "smuggler"},
    }))
    # unless_context: the hit is dropped when the cue is anywhere in the message, not negated ...
    assert lex.assess("sh en").hit.pattern_id == "sh-en-001"
    assert lex.assess("sh en, this cold").hit is None
    assert not lex.assess("sh en, this cold").vetoes_model  # dropping a hit never vetoes the model
    assert lex.assess("i do not have a cold, sh en").hit.pattern_id == "sh-en-001"
    # ... and a look-alike with unless_context does not apply
    assert lex.assess("sh en lol").hit is None and lex.assess("sh en lol").figurative
    assert lex.assess("sh en lol? for me").hit.pattern_id == "sh-en-001"
    # requires_context: the hit counts only with the cue somewhere in the message, not negated
    assert lex.assess("ti en").hit is None
    assert lex.assess("ti en. the smuggler waits").hit.category == "travel_intent"
    assert lex.assess("ti en, not a smuggler").hit is None


def test_context_rules_are_validated() -> None:
    for bad in (
        {"requires_context": {"sh-en-fig-001": "x"}},  # a look-alike cannot require a context
        {"requires_context": {"sh-en-999": "x"}},  # unknown id
        {"unless_context": {"sh-en-001": "("}},  # bad regex
        {"unless_context": {"sh-en-001": ""}},  # empty
    ):
        with pytest.raises(LexiconError):
            CrisisLexicon.from_dict(_minimal(bad))
