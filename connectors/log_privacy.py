"""Keep message text out of Rasa's own logs.

Rasa 3.6 logs some events with the user's text as a structlog field: the REST channel on a failed
or timed-out turn (``rest.message.received.failure`` / ``.timeout``, ``text=...``), the processor's
parse log (``parse_data_text``), the HTTP interpreter (``text``, ``response_text``). The project's
rule is that no message text reaches logs (docs/operations.md). ``apply()`` puts a processor at the
front of structlog's chain that replaces those fields with their length, so the event, its level
and any traceback are still logged. It is applied when Rasa builds this project's channels (after
Rasa has configured structlog) and is idempotent.
"""
from __future__ import annotations

from typing import Any

TEXT_KEYS = frozenset({
    "text", "user_message", "json_message", "parse_data_text", "response_text", "message",
    "utter_action", "bot_message", "tracker_state", "entities", "slots",
})


def redact_text_fields(_logger: Any, _method: str, event_dict: dict) -> dict:
    for key in TEXT_KEYS.intersection(event_dict):
        value = event_dict[key]
        if value is not None:
            event_dict[key] = f"[redacted {len(str(value))} chars]"
    return event_dict


def apply() -> bool:
    """Insert the redacting processor at the front of structlog's chain. False if already there."""
    import structlog

    processors = structlog.get_config()["processors"]
    if redact_text_fields in processors:
        return False
    # In place: loggers Rasa already bound hold this very list.
    processors.insert(0, redact_text_fields)
    return True
