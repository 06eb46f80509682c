"""Builders for rasa_sdk trackers used by the action tests."""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from tests.conftest import ROOT


@functools.lru_cache(maxsize=1)
def domain_dict() -> Dict[str, Any]:
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml")).as_dict()


def user_event(text: str, intent: str, confidence: float = 0.95, ranking: Optional[List[Dict[str, Any]]] = None,
               entities: Optional[List[Dict[str, Any]]] = None, metadata: Optional[Dict[str, Any]] = None,
               crisis: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": ranking or [{"name": intent, "confidence": confidence}],
        "entities": entities or [],
    }
    if crisis:
        parse["crisis"] = crisis
    return {"event": "user", "text": text, "parse_data": parse, "metadata": metadata or {}}


def make_tracker(
    turns: List[Dict[str, Any]],
    slots: Optional[Dict[str, Any]] = None,
    paused: bool = False,
    active_loop: Optional[Dict[str, Any]] = None,
    extra_events: Optional[List[Dict[str, Any]]] = None,
    sender_id: str = "tg-test",
) -> Tracker:
    events: List[Dict[str, Any]] = [{"event": "action", "name": "action_session_start"}, {"event": "session_started"}]
    events += extra_events or []
    for turn in turns:
        events.append({"event": "action", "name": "action_listen"})
        events.append(turn)
    base_slots = {"language": "en", "risk_level": "none", "risk_reasons": [], "cn_used": [], "theme_counts": {}}
    base_slots.update(slots or {})
    latest = turns[-1]["parse_data"] if turns else {}
    return Tracker(sender_id, base_slots, latest, events, paused, None, active_loop or {}, "action_listen")


async def run_action(action: Any, tracker: Tracker) -> tuple:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain_dict())
    return dispatcher.messages, events


def slot_values(events: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
