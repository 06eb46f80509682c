"""Pure helpers: risk rule, language detection, text normalisation, crisis decision."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actions.language import detect_language
from actions.risk import assess, session_user_intents
from components import textnorm
from components.crisis import decide


@pytest.mark.parametrize(
    "intents,level,reason",
    [
        ([], "none", None),
        (["greet", "thanks"], "none", None),
        (["narrative_takfir"], "low", "narrative:takfir"),
        (["request_human"], "low", "human_requested"),
        (["narrative_martyrdom_glory"], "medium", "glorification:martyrdom_glory"),
        (["narrative_martyrdom_glory", "greet", "narrative_martyrdom_glory"], "high", "glorification_repeated:martyrdom_glory"),
        (["narrative_hijra_travel", "narrative_caliphate_utopia"], "high", "travel_and_caliphate"),
        (["worried_about_someone"], "medium", "worried_about_someone"),
        (["want_to_leave"], "medium", "want_to_leave"),
        (["narrative_takfir", "narrative_antisemitism", "narrative_racism"], "medium", "repeated_narratives:3"),
        (["narrative_belonging_identity", "narrative_meaning_purpose", "narrative_distrust_media_state"], "low", "narrative:meaning_purpose"),
        (["narrative_takfir", "crisis_self_harm"], "critical", "crisis:self_harm"),
        (["sos"], "critical", "sos"),
    ],
)
def test_risk_rule(intents, level, reason):
    got_level, reasons = assess(intents)
    assert got_level == level
    if reason:
        assert reason in reasons
    else:
        assert reasons == []


def test_risk_counts_only_the_current_session():
    events = [
        {"event": "user", "parse_data": {"intent": {"name": "crisis_self_harm"}}},
        {"event": "session_started"},
        {"event": "user", "parse_data": {"intent": {"name": "greet"}}},
    ]
    assert session_user_intents(events) == ["greet"]
    assert assess(session_user_intents(events))[0] == "none"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Why does the West hate Muslims so much?", "en"),
        ("pourquoi la france elle deteste les musulmans", "fr"),
        ("wsh frr jsp pk ils nous detestent", "fr"),
        ("u know ppl like us r never gonna be accepted", "en"),
        ("Ils disent que le califat c'est la justice", "fr"),
        ("bro honestly the media lies about everything", "en"),
    ],
)
def test_language_detection(text, expected):
    assert detect_language(text)[0] == expected


def test_language_keeps_previous_on_short_or_mixed():
    assert detect_language("ok", previous="fr")[0] == "fr"
    assert detect_language("lol", previous="en")[0] == "en"
    assert detect_language("merci bro", previous="en")[0] == "en"
    assert detect_language("ok", language_code="fr")[0] == "fr"


def test_textnorm():
    assert textnorm.normalize("Chuis TROOOP seul, jsp quoi faire") == "je suis troop seul je sais pas quoi faire"
    assert textnorm.normalize("I don't wanna live anymore") == "i do not want to live anymore"
    assert textnorm.normalize("C'est l'État qui ment") == "c est l etat qui ment"
    assert textnorm.normalize("") == ""


def hit(category="self_harm"):
    return SimpleNamespace(hit=SimpleNamespace(category=category, pattern_id="p1"), negated=False, figurative=False)


def no_hit(negated=False, figurative=False):
    return SimpleNamespace(hit=None, negated=negated, figurative=figurative)


def test_crisis_decision_lexicon_wins_over_model():
    ranking = [{"name": "out_of_scope", "confidence": 0.9}]
    assert decide(hit(), ranking, 0.5)["crisis"]["source"] == "lexicon"


def test_crisis_decision_model_alone_and_vetoes():
    ranking = [{"name": "crisis_violence_intent", "confidence": 0.8}, {"name": "insult", "confidence": 0.1}]
    assert decide(no_hit(), ranking, 0.5)["crisis"] == {"category": "violence_intent", "source": "model", "score": 0.8, "pattern_id": None}
    split = [{"name": "out_of_scope", "confidence": 0.4}, {"name": "crisis_self_harm", "confidence": 0.15},
             {"name": "crisis_violence_intent", "confidence": 0.1}]
    decision = decide(no_hit(), split, 0.2)
    assert decision["crisis"]["category"] == "self_harm" and decision["crisis"]["score"] == 0.25
    assert decide(no_hit(figurative=True), ranking, 0.5) == {"demote_to": ranking[1]}
    assert decide(no_hit(negated=True), ranking, 0.5) == {"demote_to": ranking[1]}
    weak = [{"name": "crisis_self_harm", "confidence": 0.3}, {"name": "narrative_meaning_purpose", "confidence": 0.2}]
    assert decide(no_hit(), weak, 0.5) == {"demote_to": weak[1]}
    assert decide(no_hit(), [{"name": "greet", "confidence": 0.9}], 0.5) == {}


def test_crisis_decision_looks_through_fallback():
    ranking = [{"name": "nlu_fallback", "confidence": 0.35}, {"name": "crisis_self_harm", "confidence": 0.55}]
    assert decide(no_hit(), ranking, 0.5)["crisis"]["category"] == "self_harm"


def test_short_messages_need_more_than_a_hint():
    ranking = [{"name": "out_of_scope", "confidence": 0.6}, {"name": "crisis_self_harm", "confidence": 0.3}]
    assert "crisis" not in decide(no_hit(), ranking, 0.2, n_tokens=3)
    assert "crisis" not in decide(no_hit(), ranking, 0.2, n_tokens=4)  # "ok je suis là"
    assert "crisis" in decide(no_hit(), ranking, 0.2, n_tokens=5)
    assert "crisis" in decide(no_hit(), ranking, 0.2, n_tokens=8)


def test_clear_switch_of_language_is_followed():
    assert detect_language("jveux plus vivre sérieux", previous="en")[0] == "fr"
    assert detect_language("i dont wanna live anymore", previous="fr")[0] == "en"


def test_a_figurative_or_negated_cue_cannot_silence_a_very_sure_model():
    sure = [{"name": "crisis_violence_intent", "confidence": 0.93}, {"name": "out_of_scope", "confidence": 0.05}]
    unsure = [{"name": "crisis_violence_intent", "confidence": 0.6}, {"name": "out_of_scope", "confidence": 0.3}]
    for cue in (no_hit(figurative=True), no_hit(negated=True)):
        assert decide(cue, sure, 0.3, veto_override=0.9)["crisis"]["category"] == "violence_intent"
        assert decide(cue, unsure, 0.3, veto_override=0.9) == {"demote_to": unsure[1]}
        assert decide(cue, sure, 0.3) == {"demote_to": sure[1]}  # default: the cue always vetoes
