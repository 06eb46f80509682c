"""Custom actions: thin wiring around the pure helpers in actions/library.py, helplines.py,
language.py and risk.py. Every action is async and does no blocking I/O (content is cached data).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, BotUttered, EventType, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import helplines as hl
from actions import library, risk
from actions.language import detect_language

logger = logging.getLogger(__name__)

CRISIS_CATEGORIES = ("self_harm", "violence_intent", "travel_intent")
NARRATIVE_PREFIX = "narrative_"
OTHER_CLAIM_MIN_CONFIDENCE = 0.15
KNOWN_COUNTRIES = {"FR", "BE", "UK", "IE", "DE", "NL", "AT", "SE", "US", "CA", "AU"}
CLARIFY_MAX_OPTIONS = 3
LANGUAGE_BUTTONS = [
    {"title": "English", "payload": '/choose_language{"language":"en"}'},
    {"title": "Français", "payload": '/choose_language{"language":"fr"}'},
]


# ------------------------------------------------------------------------------ small helpers
def operator_values() -> Dict[str, Any]:
    return {
        "operator": os.environ.get("OPERATOR_NAME", "the project's operator"),
        "contact": os.environ.get("OPERATOR_CONTACT", "-"),
        "retention_days": os.environ.get("RETENTION_DAYS", "30"),
    }


def lang_of(tracker: Tracker) -> str:
    value = tracker.get_slot("language")
    return value if value in library.LANGUAGES else "en"


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def latest_user_metadata(tracker: Tracker) -> Dict[str, Any]:
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return event.get("metadata") or {}
    return {}


def user_turns(tracker: Tracker) -> int:
    return sum(1 for e in tracker.events if e.get("event") == "user")


def crisis_category(tracker: Tracker) -> Optional[str]:
    crisis = tracker.latest_message.get("crisis") or {}
    if crisis.get("category") in CRISIS_CATEGORIES:
        return crisis["category"]
    intent = latest_intent(tracker) or ""
    if intent.startswith("crisis_") and intent[len("crisis_"):] in CRISIS_CATEGORIES:
        return intent[len("crisis_"):]
    return None


def country_buttons(language: str) -> List[Dict[str, str]]:
    codes = ["FR", "BE", "CA", "UK", "IE", "DE", "NL", "AT", "SE", "US", "AU", "OTHER"]
    def label(code: str) -> str:
        name = library.country_name(code, language)
        name = name[4:] if name.startswith("the ") else name
        return name[:1].upper() + name[1:]

    return [{"title": label(c), "payload": f'/inform_country{{"country":"{c}"}}'} for c in codes]


def crisis_messages(category: str, language: str, country: Optional[str]) -> List[Dict[str, Any]]:
    """The crisis reply: acknowledge + are you safe, numbers, one thing to do now, a person."""
    known = bool(country) and country != "OTHER"
    emergency = hl.emergency_number(country if known else None, language)
    situation = category if category in CRISIS_CATEGORIES else "self_harm"
    lines = hl.lines_for(country if known else None, situation, language, limit=3)
    ack_key = f"crisis_{situation}_ack"
    line_key = "crisis_self_harm_line" if situation == "self_harm" else "crisis_violence_line"
    numbers = library.message("crisis_numbers_intro", language, emergency=emergency)
    if lines:
        numbers += "\n" + library.message(line_key, language) + "\n" + hl.format_lines(lines, language, known)
    if not known:
        numbers += "\n" + library.message("country_unknown_hint", language)
    meta = {
        "helpline_ids": [h.id for h in lines],
        "emergency": emergency,
        "crisis_category": situation,
        "language": language,
        "kind": "crisis",
    }
    return [
        {"text": library.message(ack_key, language), "metadata": dict(meta)},
        {"text": numbers, "metadata": dict(meta)},
        {"text": library.message(f"crisis_{situation}_now", language), "metadata": dict(meta)},
        {"text": library.message("crisis_offer_person", language), "metadata": dict(meta)},
    ]


# ------------------------------------------------------------------------------ every turn
class ActionAssessTurn(Action):
    """Runs on every user message, even while a human has the conversation: language, risk level
    and reasons, first-contact transparency, and the crisis reply when paused.

    It is Rasa's global slot-validation hook (`action_validate_slot_mappings`), which
    `action_extract_slots` calls after every user message whether or not the tracker is paused,
    and whose bot messages Rasa sends at once (bot events returned by custom slot-mapping actions
    are dropped by Rasa 3.6; those of this hook are kept).
    """

    def name(self) -> Text:
        return "action_validate_slot_mappings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events: List[EventType] = []
        text = tracker.latest_message.get("text") or ""
        intent = latest_intent(tracker)
        metadata = latest_user_metadata(tracker)
        previous = tracker.get_slot("language")
        locked = bool(tracker.get_slot("language_locked"))
        language = previous if previous in library.LANGUAGES else None
        if not locked and text and not text.startswith("/"):
            language, _conf = detect_language(text, previous=language, language_code=metadata.get("language_code"))
        language = language or "en"
        if language != previous:
            events.append(SlotSet("language", language))

        # Country default from Telegram's language code region (e.g. fr-BE), never asked silently.
        if not tracker.get_slot("country"):
            code = str(metadata.get("language_code") or "")
            if "-" in code and code.split("-")[1].upper() in KNOWN_COUNTRIES:
                events.append(SlotSet("country", code.split("-")[1].upper()))

        level, reasons = risk.assess(risk.session_user_intents(tracker.events))
        if level != tracker.get_slot("risk_level"):
            events.append(SlotSet("risk_level", level))
        if reasons != (tracker.get_slot("risk_reasons") or []):
            events.append(SlotSet("risk_reasons", reasons))
        category = crisis_category(tracker) or ("self_harm" if intent == "sos" else None)
        if category and category != tracker.get_slot("crisis_category"):
            events.append(SlotSet("crisis_category", category))

        if tracker.is_paused():
            if category:
                # A human has the conversation, but a crisis reply never waits.
                country = tracker.get_slot("country")
                for msg in crisis_messages(category, language, country):
                    events.append(BotUttered(text=msg["text"], metadata={**msg["metadata"], "while_paused": True}))
                logger.info("crisis while paused: reply sent, workers alerted (risk=critical)")
            return events

        if not tracker.get_slot("first_contact_done"):
            events.append(SlotSet("first_contact_done", True))
            if intent not in ("start", "greet", "help", "bot_challenge", "ask_who_runs", "ask_privacy") and not category:
                events.append(
                    BotUttered(
                        text=library.message("first_contact", language, **operator_values()),
                        metadata={"kind": "transparency", "language": language},
                    )
                )
        return events


# ------------------------------------------------------------------------------ safety
class ActionCrisisResponse(Action):
    def name(self) -> Text:
        return "action_crisis_response"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        category = crisis_category(tracker) or tracker.get_slot("crisis_category") or "self_harm"
        for msg in crisis_messages(category, language, tracker.get_slot("country")):
            dispatcher.utter_message(text=msg["text"], **msg["metadata"])
        reasons = list(tracker.get_slot("risk_reasons") or [])
        reason = f"crisis:{category}" if latest_intent(tracker) != "sos" else "sos"
        if reason not in reasons:
            reasons.append(reason)
        events: List[EventType] = [
            SlotSet("risk_level", "critical"),
            SlotSet("risk_reasons", reasons),
            SlotSet("crisis_category", category),
            SlotSet("human_requested", True),
        ]
        if tracker.active_loop.get("name"):
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events


class ActionShowHelplines(Action):
    def name(self) -> Text:
        return "action_show_helplines"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        country = tracker.get_slot("country")
        known = bool(country) and country != "OTHER"
        situation = "self_harm" if tracker.get_slot("crisis_category") == "self_harm" else "general"
        lines = hl.lines_for(country if known else None, situation, language, limit=4)
        if situation == "self_harm":
            lines += [h for h in hl.lines_for(country if known else None, "general", language, limit=4) if h not in lines]
        emergency = hl.emergency_number(country if known else None, language)
        if not lines:
            dispatcher.utter_message(text=library.message("helplines_none", language), helpline_ids=[], language=language)
            return []
        intro = (
            library.message("helplines_intro", language, country=library.country_name(country, language))
            if known else library.message("helplines_intro_unknown", language)
        )
        body = intro + "\n" + hl.format_lines(lines[:5], language, known) + "\n" + library.message(
            "crisis_numbers_intro", language, emergency=emergency
        )
        dispatcher.utter_message(
            text=body, helpline_ids=[h.id for h in lines[:5]], language=language, kind="helplines",
            buttons=None if known else country_buttons(language),
        )
        return []


class ActionSupportFamily(Action):
    def name(self) -> Text:
        return "action_support_family"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        country = tracker.get_slot("country")
        known = bool(country) and country != "OTHER"
        lines = hl.lines_for(country if known else None, "family", language, audience="families", limit=3)
        text = library.message("family_intro", language)
        if lines:
            text += "\n" + hl.format_lines(lines, language, known)
        dispatcher.utter_message(text=text, helpline_ids=[h.id for h in lines], language=language, kind="family")
        dispatcher.utter_message(
            text=library.message("family_question", language), language=language, kind="question",
            buttons=None if known else country_buttons(language),
        )
        return []


class ActionSupportExit(Action):
    def name(self) -> Text:
        return "action_support_exit"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        country = tracker.get_slot("country")
        known = bool(country) and country != "OTHER"
        lines = hl.lines_for(country if known else None, "exit", language, limit=3)
        text = library.message("exit_intro", language)
        if lines:
            text += "\n" + hl.format_lines(lines, language, known)
        text += "\n" + library.message("exit_safety", language, emergency=hl.emergency_number(country if known else None, language))
        dispatcher.utter_message(text=text, helpline_ids=[h.id for h in lines], language=language, kind="exit")
        dispatcher.utter_message(text=library.message("exit_question", language), language=language, kind="question")
        return []


class ActionRequestHuman(Action):
    def name(self) -> Text:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(text=library.message("human_requested", language), language=language, kind="handoff")
        return [SlotSet("human_requested", True)]


# ------------------------------------------------------------------------------ counter-narratives
class ActionCounterNarrative(Action):
    """Answer the strongest claim with a counter-narrative; acknowledge another one if present."""

    def name(self) -> Text:
        return "action_counter_narrative"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        intent = latest_intent(tracker) or ""
        theme = intent[len(NARRATIVE_PREFIX):] if intent.startswith(NARRATIVE_PREFIX) else tracker.get_slot("active_theme")
        if theme not in library.THEMES:
            dispatcher.utter_message(text=library.message("clarify_generic", language), language=language)
            return []
        used = list(tracker.get_slot("cn_used") or [])
        counts = dict(tracker.get_slot("theme_counts") or {})
        times = int(counts.get(theme, 0))
        last_kind = None
        for event in reversed(tracker.events):
            meta = (event.get("metadata") or {}) if event.get("event") == "bot" else {}
            if meta.get("theme") == theme and meta.get("kind"):
                last_kind = meta["kind"]
                break
        entry, restarted = library.choose_entry(theme, language, used, times, last_kind)
        if entry is None:
            dispatcher.utter_message(text=library.message("clarify_offer_human", language), language=language)
            return []
        if restarted:
            used = [u for u in used if not u.startswith(f"{theme}-")]
        dispatcher.utter_message(
            text=library.render_entry(entry),
            cn_id=entry.id, theme=theme, language=entry.language, kind=entry.kind,
        )
        other = self._other_claim(tracker, theme)
        if other:
            dispatcher.utter_message(
                text=library.message("other_topic_ack", language, topic=library.theme_label(other, language)),
                language=language, kind="acknowledge", other_theme=other,
            )
        counts[theme] = times + 1
        return [
            SlotSet("cn_used", used + [entry.id]),
            SlotSet("theme_counts", counts),
            SlotSet("active_theme", theme),
            SlotSet("fallback_count", 0.0),
        ]

    @staticmethod
    def _other_claim(tracker: Tracker, theme: str) -> Optional[str]:
        for item in tracker.latest_message.get("intent_ranking") or []:
            name = item.get("name") or ""
            if (
                name.startswith(NARRATIVE_PREFIX)
                and name[len(NARRATIVE_PREFIX):] != theme
                and (item.get("confidence") or 0) >= OTHER_CLAIM_MIN_CONFIDENCE
            ):
                return name[len(NARRATIVE_PREFIX):]
        return None


# ------------------------------------------------------------------------------ conversation
class ActionWelcome(Action):
    def name(self) -> Text:
        return "action_welcome"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        values = operator_values()
        dispatcher.utter_message(text=library.message("welcome", language, **values), language=language, kind="transparency")
        dispatcher.utter_message(text=library.message("privacy_short", language, **values), language=language, kind="transparency")
        dispatcher.utter_message(
            text=library.message("choose_language", language),
            buttons=LANGUAGE_BUTTONS,
            language=language,
        )
        events: List[EventType] = [SlotSet("first_contact_done", True)]
        if not tracker.get_slot("country"):
            dispatcher.utter_message(
                text=library.message("ask_country", language), buttons=country_buttons(language), language=language
            )
        return events


class ActionGreet(Action):
    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        if user_turns(tracker) <= 1:
            values = operator_values()
            dispatcher.utter_message(text=library.message("welcome", language, **values), language=language, kind="transparency")
            dispatcher.utter_message(text=library.message("privacy_short", language, **values), language=language, kind="transparency")
        else:
            dispatcher.utter_message(text=library.message("greet_again", language), language=language)
        return [SlotSet("first_contact_done", True)]


class ActionTransparency(Action):
    def name(self) -> Text:
        return "action_transparency"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        intent = latest_intent(tracker)
        key = {"bot_challenge": "bot_challenge", "ask_who_runs": "who_runs", "ask_privacy": "privacy"}.get(intent or "", "bot_challenge")
        dispatcher.utter_message(text=library.message(key, language, **operator_values()), language=language, kind="transparency")
        if key != "bot_challenge":
            dispatcher.utter_message(text=library.message("bot_challenge", language), language=language, kind="transparency")
        return [SlotSet("first_contact_done", True)]


class ActionClarify(Action):
    """Low confidence: ask with suggestion buttons, then offer a human; never loop."""

    def name(self) -> Text:
        return "action_clarify"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        count = float(tracker.get_slot("fallback_count") or 0) + 1
        if count >= 2:
            dispatcher.utter_message(
                text=library.message("clarify_offer_human", language), language=language, kind="clarify",
                buttons=[
                    {"title": library.message("button_human", language), "payload": "/request_human"},
                    {"title": library.message("button_helplines", language), "payload": "/ask_helplines"},
                ],
            )
            return [SlotSet("fallback_count", 0.0)]
        options = []
        for item in tracker.latest_message.get("intent_ranking") or []:
            name = item.get("name") or ""
            if name.startswith(NARRATIVE_PREFIX) and len(options) < CLARIFY_MAX_OPTIONS:
                theme = name[len(NARRATIVE_PREFIX):]
                options.append({"title": library.theme_label(theme, language).capitalize(), "payload": f"/{name}"})
        if options:
            options.append({"title": library.message("button_something_else", language), "payload": "/deny"})
            dispatcher.utter_message(text=library.message("clarify", language), buttons=options, language=language, kind="clarify")
        else:
            dispatcher.utter_message(text=library.message("clarify_generic", language), language=language, kind="clarify")
        return [SlotSet("fallback_count", count)]


class ActionHandleInsult(Action):
    def name(self) -> Text:
        return "action_handle_insult"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        variant = library.pick_variant(tracker.sender_id or "", user_turns(tracker), 3)
        dispatcher.utter_message(text=library.message("insult", language, variant=variant), language=language)
        return []


class ActionAskLanguage(Action):
    def name(self) -> Text:
        return "action_ask_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(
            text=library.message("choose_language", language),
            buttons=LANGUAGE_BUTTONS,
        )
        return []


class ActionSetLanguage(Action):
    def name(self) -> Text:
        return "action_set_language"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        chosen = next(tracker.get_latest_entity_values("language"), None)
        if chosen not in library.LANGUAGES:
            return await ActionAskLanguage().run(dispatcher, tracker, domain)
        dispatcher.utter_message(text=library.message("language_set", chosen), language=chosen)
        return [SlotSet("language", chosen), SlotSet("language_locked", True)]


class ActionSetCountry(Action):
    def name(self) -> Text:
        return "action_set_country"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        country = next(tracker.get_latest_entity_values("country"), None) or tracker.get_slot("country")
        country = (country or "").upper()
        if country in KNOWN_COUNTRIES:
            dispatcher.utter_message(
                text=library.message("country_set", language, country=library.country_name(country, language)),
                language=language,
            )
            return [SlotSet("country", country)]
        dispatcher.utter_message(text=library.message("country_other", language), language=language)
        return [SlotSet("country", "OTHER")]


class ValidateCountryForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_country_form"

    async def validate_country(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        value = str(slot_value or "").upper()
        if value in KNOWN_COUNTRIES or value == "OTHER":
            return {"country": value}
        if len(value) == 2 and value.isalpha():
            return {"country": "OTHER"}
        return {"country": None}


class ActionAskDeleteConfirmation(Action):
    def name(self) -> Text:
        return "action_ask_delete_confirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(
            text=library.message("delete_confirm", language),
            buttons=[
                {"title": library.message("delete_yes", language), "payload": "/confirm_delete"},
                {"title": library.message("delete_no", language), "payload": "/deny"},
            ],
            language=language,
        )
        return []


class ActionEraseConversation(Action):
    """Erasure happens when the tracker is saved (stores/tracker.py); the channel then drops
    what it holds for this conversation when it receives the custom `erasure` message."""

    def name(self) -> Text:
        return "action_erase_conversation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(text=library.message("erased", language), language=language, kind="erasure")
        dispatcher.utter_message(json_message={"erasure": "done"})
        return [SlotSet("erasure_requested", True)]


class ActionStop(Action):
    def name(self) -> Text:
        return "action_stop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(text=library.message("stopped", language), language=language)
        return []


class ActionAskCountry(Action):
    """Asked by country_form (Rasa calls `action_ask_<slot>`): buttons, free text also works."""

    def name(self) -> Text:
        return "action_ask_country"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(
            text=library.message("ask_country", language), buttons=country_buttons(language), language=language
        )
        return []


class ActionDefaultFallback(Action):
    """When no policy is confident: a kind reply, never a loop, and the conversation goes on."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        language = lang_of(tracker)
        dispatcher.utter_message(text=library.message("something_went_wrong", language), language=language)
        return [UserUtteranceReverted()]
