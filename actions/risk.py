"""The risk rule: one documented, explainable level per conversation, updated every turn.

Workers order their queue by this, so every level comes with the reasons that produced it.
Computed over the current session's user messages (oldest first):

| level    | when (any of)                                                                    |
|----------|----------------------------------------------------------------------------------|
| critical | a crisis message (self_harm, violence_intent, travel_intent) or /sos this session |
| high     | glorification of violence (martyrdom_glory, religious_duty_of_violence,          |
|          | race_war_accelerationism) in 2+ messages; or hijra_travel together with           |
|          | caliphate_utopia                                                                 |
| medium   | a worried family member or friend; someone who wants to leave a group; one        |
|          | glorification message; hijra_travel; 3+ messages on extremist/hate themes         |
| low      | any narrative theme at least once; a request for a human                          |
| none     | otherwise                                                                        |

Reasons are codes: `crisis:<category>`, `sos`, `glorification_repeated:<theme>`,
`glorification:<theme>`, `travel_and_caliphate`, `hijra_travel`, `worried_about_someone`,
`want_to_leave`, `repeated_narratives:<n>`, `narrative:<theme>`, `human_requested`.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, List, Optional, Sequence, Tuple

LEVELS = ("none", "low", "medium", "high", "critical")
GLORIFICATION = ("martyrdom_glory", "religious_duty_of_violence", "race_war_accelerationism")
CROSS_CUTTING = ("discrimination_grievance", "belonging_identity", "meaning_purpose", "distrust_media_state")
NARRATIVE_PREFIX = "narrative_"
CRISIS_PREFIX = "crisis_"


def assess(intents: Sequence[Optional[str]]) -> Tuple[str, List[str]]:
    """Level and reasons from the session's user intents, oldest first."""
    reasons: List[str] = []
    level = 0

    def raise_to(new_level: str, reason: str) -> None:
        nonlocal level
        level = max(level, LEVELS.index(new_level))
        if reason not in reasons:
            reasons.append(reason)

    intents = [i for i in intents if i]
    themes = [i[len(NARRATIVE_PREFIX):] for i in intents if i.startswith(NARRATIVE_PREFIX)]
    counts = Counter(themes)

    for intent in intents:
        if intent.startswith(CRISIS_PREFIX):
            raise_to("critical", f"crisis:{intent[len(CRISIS_PREFIX):]}")
        elif intent == "sos":
            raise_to("critical", "sos")

    for theme in GLORIFICATION:
        if counts[theme] >= 2:
            raise_to("high", f"glorification_repeated:{theme}")
        elif counts[theme] == 1:
            raise_to("medium", f"glorification:{theme}")
    if counts["hijra_travel"] and counts["caliphate_utopia"]:
        raise_to("high", "travel_and_caliphate")
    elif counts["hijra_travel"]:
        raise_to("medium", "hijra_travel")
    if "worried_about_someone" in intents:
        raise_to("medium", "worried_about_someone")
    if "want_to_leave" in intents:
        raise_to("medium", "want_to_leave")
    ideological = [t for t in themes if t not in CROSS_CUTTING]
    if len(ideological) >= 3:
        raise_to("medium", f"repeated_narratives:{len(ideological)}")
    for theme in dict.fromkeys(themes):
        raise_to("low", f"narrative:{theme}")
    if "request_human" in intents:
        raise_to("low", "human_requested")
    return LEVELS[level], reasons


def session_user_intents(events: Iterable[dict]) -> List[Optional[str]]:
    """User intents since the latest session start, from rasa_sdk tracker events."""
    intents: List[Optional[str]] = []
    for event in events:
        kind = event.get("event")
        if kind == "session_started":
            intents = []
        elif kind == "user":
            intents.append(((event.get("parse_data") or {}).get("intent") or {}).get("name"))
    return intents
