"""Custom actions called directly with the real domain and built trackers."""

from __future__ import annotations

import asyncio
import re

import pytest
import yaml

from actions import actions as A
from actions import library
from tests.conftest import ROOT
from tests.helpers import make_tracker, run_action, slot_values, user_event


def run(coro):
    return asyncio.get_event_loop().run_until_complete(coro) if False else asyncio.run(coro)


def test_registry_actions_in_code_match_domain():
    from rasa_sdk import Action

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    in_domain = set(domain["actions"])

    def all_subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from all_subclasses(sub)

    in_code = set()
    for cls in all_subclasses(Action):
        if cls.__module__.startswith("actions."):
            in_code.add(cls().name())
    assert in_code == in_domain


def test_counter_narrative_carries_metadata_and_question():
    tracker = make_tracker([user_event("Muslims who vote are apostates", "narrative_takfir")])
    messages, events = run(run_action(A.ActionCounterNarrative(), tracker))
    first = messages[0]
    assert first["cn_id"].startswith("takfir-en-")
    assert first["theme"] == "takfir" and first["language"] == "en"
    entry = next(e for e in library.load_library() if e.id == first["cn_id"])
    assert entry.question in first["text"] and entry.text in first["text"]
    slots = slot_values(events)
    assert slots["cn_used"] == [first["cn_id"]]
    assert slots["theme_counts"] == {"takfir": 1}
    assert slots["active_theme"] == "takfir"


def test_counter_narrative_in_french():
    tracker = make_tracker([user_event("les musulmans qui votent sont des apostats", "narrative_takfir")], slots={"language": "fr"})
    messages, _ = run(run_action(A.ActionCounterNarrative(), tracker))
    assert messages[0]["cn_id"].startswith("takfir-fr-")
    assert messages[0]["language"] == "fr"


@pytest.mark.parametrize("theme", library.THEMES)
@pytest.mark.parametrize("language", library.LANGUAGES)
def test_no_repeat_while_unused_remain_and_kinds_vary(theme, language):
    pool = library.served_entries(theme, language)
    assert len(pool) >= 6, f"{theme}/{language} has {len(pool)} approved entries"
    used, counts, sent_kinds, events_so_far = [], {}, [], []
    for turn in range(len(pool)):
        tracker = make_tracker(
            [user_event("claim", f"narrative_{theme}")],
            slots={"language": language, "cn_used": used, "theme_counts": counts},
            extra_events=events_so_far,
        )
        messages, events = run(run_action(A.ActionCounterNarrative(), tracker))
        cn_id = messages[0]["cn_id"]
        assert cn_id not in used, f"repeated {cn_id} at turn {turn}"
        used = slot_values(events)["cn_used"]
        counts = slot_values(events)["theme_counts"]
        sent_kinds.append(messages[0]["kind"])
        events_so_far.append({"event": "bot", "text": messages[0]["text"], "metadata": {"theme": theme, "kind": messages[0]["kind"]}})
    assert len(set(used)) == len(pool)
    # consecutive messages differ in kind while the pool allows it
    assert sent_kinds[0] != sent_kinds[1] or len({e.kind for e in pool}) == 1


def test_second_claim_is_acknowledged():
    ranking = [
        {"name": "narrative_great_replacement", "confidence": 0.6},
        {"name": "narrative_anti_migrant", "confidence": 0.3},
        {"name": "greet", "confidence": 0.1},
    ]
    tracker = make_tracker([user_event("they replace us, migrants are all criminals", "narrative_great_replacement", 0.6, ranking)])
    messages, _ = run(run_action(A.ActionCounterNarrative(), tracker))
    assert messages[0]["theme"] == "great_replacement"
    assert messages[1]["other_theme"] == "anti_migrant"
    assert "migrants" in messages[1]["text"]


@pytest.mark.parametrize("category", ["self_harm", "violence_intent", "travel_intent"])
@pytest.mark.parametrize("language,country", [("en", "UK"), ("fr", "FR"), ("en", None), ("fr", None)])
def test_crisis_response(category, language, country):
    tracker = make_tracker(
        [user_event("...", f"crisis_{category}", 1.0, crisis={"category": category, "source": "lexicon"})],
        slots={"language": language, "country": country},
    )
    messages, events = run(run_action(A.ActionCrisisResponse(), tracker))
    assert len(messages) == 4
    assert all(m["crisis_category"] == category for m in messages)
    ids = messages[1]["helpline_ids"]
    assert ids, "crisis reply must give at least one line"
    from actions import helplines as hl

    kinds = {hl.by_id(i).kind for i in ids}
    if category == "self_harm":
        assert kinds == {"suicide_crisis"}
    else:
        assert "radicalisation" in kinds
    if country == "UK":
        assert "999" in messages[1]["text"]
    if country is None:
        assert "112" in messages[1]["text"]
        assert "/country" in messages[1]["text"]
    slots = slot_values(events)
    assert slots["risk_level"] == "critical"
    assert f"crisis:{category}" in slots["risk_reasons"]
    assert slots["human_requested"] is True
    # never harmful information, always the offer of a person
    assert "/human" in messages[3]["text"]


def test_crisis_response_closes_active_form():
    tracker = make_tracker(
        [user_event("i want to die", "crisis_self_harm", 1.0, crisis={"category": "self_harm"})],
        active_loop={"name": "country_form"},
    )
    _, events = run(run_action(A.ActionCrisisResponse(), tracker))
    assert {"event": "active_loop", "name": None} in [
        {"event": e["event"], "name": e.get("name")} for e in events if e["event"] == "active_loop"
    ]


def test_assess_turn_sends_crisis_reply_when_paused():
    tracker = make_tracker(
        [user_event("je veux mourir", "crisis_self_harm", 1.0, crisis={"category": "self_harm"})],
        slots={"language": "fr", "country": "FR"},
        paused=True,
    )
    _, events = run(run_action(A.ActionAssessTurn(), tracker))
    bots = [e for e in events if e["event"] == "bot"]
    assert len(bots) == 4 and all(b["metadata"]["while_paused"] for b in bots)
    assert "3114" in bots[1]["text"]
    assert slot_values(events)["risk_level"] == "critical"


def test_assess_turn_quiet_when_paused_without_crisis():
    tracker = make_tracker([user_event("ok merci", "thanks")], slots={"language": "fr", "first_contact_done": True}, paused=True)
    _, events = run(run_action(A.ActionAssessTurn(), tracker))
    assert not [e for e in events if e["event"] == "bot"]


def test_assess_turn_first_contact_transparency_and_language():
    tracker = make_tracker([user_event("pourquoi la France déteste les musulmans ?", "narrative_west_at_war_with_islam")], slots={"language": None})
    _, events = run(run_action(A.ActionAssessTurn(), tracker))
    slots = slot_values(events)
    assert slots["language"] == "fr"
    assert slots["first_contact_done"] is True
    bots = [e for e in events if e["event"] == "bot"]
    assert len(bots) == 1 and "automatique" in bots[0]["text"]
    assert slots["risk_level"] == "low"


def test_assess_turn_respects_locked_language():
    tracker = make_tracker(
        [user_event("I am just writing in English now", "out_of_scope")],
        slots={"language": "fr", "language_locked": True, "first_contact_done": True},
    )
    _, events = run(run_action(A.ActionAssessTurn(), tracker))
    assert "language" not in slot_values(events)


def test_clarify_offers_topics_then_a_human():
    ranking = [{"name": "nlu_fallback", "confidence": 0.35}, {"name": "narrative_takfir", "confidence": 0.3},
               {"name": "narrative_west_at_war_with_islam", "confidence": 0.2}, {"name": "greet", "confidence": 0.1}]
    tracker = make_tracker([user_event("hmm they r not real muslims", "nlu_fallback", 0.35, ranking)])
    messages, events = run(run_action(A.ActionClarify(), tracker))
    payloads = [b["payload"] for b in messages[0]["buttons"]]
    assert payloads[:2] == ["/narrative_takfir", "/narrative_west_at_war_with_islam"]
    assert slot_values(events)["fallback_count"] == 1
    tracker = make_tracker([user_event("???", "nlu_fallback", 0.2, ranking)], slots={"fallback_count": 1})
    messages, events = run(run_action(A.ActionClarify(), tracker))
    assert "/human" in messages[0]["text"]
    assert "/request_human" in [b["payload"] for b in messages[0]["buttons"]]
    assert slot_values(events)["fallback_count"] == 0


def test_transparency_names_operator(monkeypatch):
    monkeypatch.setenv("OPERATOR_NAME", "Association Test")
    monkeypatch.setenv("OPERATOR_CONTACT", "contact@example.org")
    tracker = make_tracker([user_event("t'es les flics ?", "ask_who_runs")], slots={"language": "fr"})
    messages, _ = run(run_action(A.ActionTransparency(), tracker))
    assert "Association Test" in messages[0]["text"] and "contact@example.org" in messages[0]["text"]
    assert "robot" in messages[1]["text"]


def test_helplines_for_known_and_unknown_country():
    tracker = make_tracker([user_event("numbers?", "ask_helplines")], slots={"country": "BE", "language": "fr"})
    messages, _ = run(run_action(A.ActionShowHelplines(), tracker))
    assert all(i.startswith("be-") for i in messages[0]["helpline_ids"])
    assert "0800 32 123" in messages[0]["text"]
    tracker = make_tracker([user_event("numbers?", "ask_helplines")], slots={"country": None})
    messages, _ = run(run_action(A.ActionShowHelplines(), tracker))
    assert messages[0]["buttons"], "unknown country: offer the country buttons"


def test_family_gets_family_lines():
    tracker = make_tracker([user_event("my son watches isis videos", "worried_about_someone")], slots={"country": "UK"})
    messages, _ = run(run_action(A.ActionSupportFamily(), tracker))
    assert "uk-act-early" in messages[0]["helpline_ids"]
    assert "0800 011 3764" in messages[0]["text"]


def test_exit_gets_exit_lines():
    tracker = make_tracker([user_event("I want out of the movement", "want_to_leave")], slots={"country": "DE"})
    messages, _ = run(run_action(A.ActionSupportExit(), tracker))
    assert "de-bfv-exit" in messages[0]["helpline_ids"]


def test_erase_sets_flag_and_custom_message():
    tracker = make_tracker([user_event("/confirm_delete", "confirm_delete")])
    messages, events = run(run_action(A.ActionEraseConversation(), tracker))
    assert slot_values(events) == {"erasure_requested": True}
    assert messages[-1]["custom"] == {"erasure": "done"}


def test_set_country_and_language():
    tracker = make_tracker([user_event('/inform_country{"country":"CA"}', "inform_country", entities=[{"entity": "country", "value": "CA"}])])
    messages, events = run(run_action(A.ActionSetCountry(), tracker))
    assert slot_values(events) == {"country": "CA"} and "Canada" in messages[0]["text"]
    tracker = make_tracker([user_event('/choose_language{"language":"fr"}', "choose_language", entities=[{"entity": "language", "value": "fr"}])])
    messages, events = run(run_action(A.ActionSetLanguage(), tracker))
    assert slot_values(events) == {"language": "fr", "language_locked": True}
    assert re.search("français", messages[0]["text"])
