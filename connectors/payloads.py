"""Pure helpers for what may reach Rasa: commands, button payloads, text, long replies.

Rasa parses any text that starts with ``/`` as ``/intent{"entity": "value"}`` and skips NLU, so a
user could inject intents and slots. Only the commands below and button payloads that the bot itself
can send (intents of the domain, with at most the ``language`` and ``country`` entities) pass.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Telegram command -> Rasa intent (docs/ARCHITECTURE.md, "Telegram commands -> Rasa").
COMMANDS: dict[str, str] = {
    "start": "start",
    "help": "help",
    "language": "ask_language",
    "country": "ask_country",
    "helplines": "ask_helplines",
    "sos": "sos",
    "human": "request_human",
    "delete": "request_delete",
    "stop": "stop",
}

# Descriptions registered with setMyCommands (scripts/set_webhook.py).
COMMAND_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "en": {
        "start": "Start: who I am, language and country",
        "help": "What I can do",
        "language": "Change language",
        "country": "Change country (for helplines)",
        "helplines": "Helplines and people you can talk to",
        "sos": "Urgent help now",
        "human": "Talk to a person",
        "delete": "Erase my conversation",
        "stop": "Stop the conversation",
    },
    "fr": {
        "start": "Commencer : qui je suis, langue et pays",
        "help": "Ce que je peux faire",
        "language": "Changer de langue",
        "country": "Changer de pays (pour les numéros d'aide)",
        "helplines": "Numéros d'aide et personnes à qui parler",
        "sos": "Aide urgente maintenant",
        "human": "Parler à une personne",
        "delete": "Effacer ma conversation",
        "stop": "Arrêter la conversation",
    },
}

MAX_CALLBACK_BYTES = 64
MAX_MESSAGE_CHARS = 4096
# Text of a message that has only buttons (Telegram refuses an empty text).
EMPTY_TEXT = "…"

_COMMAND_RE = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@[A-Za-z0-9_]{1,64})?(?:\s|$)")
_PAYLOAD_RE = re.compile(r"^/([A-Za-z0-9_]{1,100})(\{.*\})?$", re.DOTALL)
_LANGUAGES = frozenset({"en", "fr"})
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def command_payload(text: str) -> str | None:
    """``/start``, ``/start@MyBot`` or ``/start deep-link`` -> ``/start`` payload; else None."""
    match = _COMMAND_RE.match(text.strip())
    if not match:
        return None
    intent = COMMANDS.get(match.group(1).lower())
    return f"/{intent}" if intent else None


def neutralise_text(text: str) -> str:
    """Strip leading slashes (and the spaces around them) so free text always goes through NLU."""
    cleaned = text.strip()
    while cleaned.startswith("/"):
        cleaned = cleaned.lstrip("/").lstrip()
    return cleaned


# Rasa adds these to every domain; as payloads they restart or rewind a conversation. Never allowed.
RASA_DEFAULT_INTENTS = frozenset({"restart", "back", "session_start", "nlu_fallback"})


class AllowList:
    """Button payloads the bot itself can send: ``/intent`` of the domain, limited entities."""

    def __init__(self, intents: Iterable[str]) -> None:
        self.intents: frozenset[str] = frozenset(
            i for i in intents if isinstance(i, str) and i and i not in RASA_DEFAULT_INTENTS)

    def check(self, payload: Any) -> str | None:
        """Return the canonical payload when allowed, None otherwise."""
        if not isinstance(payload, str) or len(payload) > 500:
            return None
        match = _PAYLOAD_RE.match(payload.strip())
        if not match or match.group(1) not in self.intents:
            return None
        intent, raw_entities = match.group(1), match.group(2)
        if not raw_entities:
            return f"/{intent}"
        try:
            entities = json.loads(raw_entities)
        except ValueError:
            return None
        if not isinstance(entities, dict) or not entities:
            return None
        for name, value in entities.items():
            if name == "language" and value in _LANGUAGES:
                continue
            if name == "country" and isinstance(value, str) and _COUNTRY_RE.match(value):
                continue
            return None
        return f"/{intent}" + json.dumps(entities, separators=(",", ":"), sort_keys=True)


def domain_intents(domain_path: Path) -> list[str]:
    """Intent names from a domain file or directory of domain files (no Rasa import needed)."""
    import yaml  # local import: only needed when the agent's domain is not available

    files = sorted(domain_path.rglob("*.yml")) if domain_path.is_dir() else [domain_path]
    intents: list[str] = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for item in data.get("intents", []) or []:
            if isinstance(item, str):
                intents.append(item)
            elif isinstance(item, dict):
                intents.extend(str(k) for k in item)
    return intents


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Split a reply into Telegram-sized parts on paragraph, then sentence, then word boundaries."""
    text = text or ""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = window.rfind("\n\n")
        if cut <= 0:
            cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "),
                      window.rfind(".\n"), window.rfind("\n"))
            cut = cut + 1 if cut > 0 else -1
        if cut <= 0:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def merge_turn_messages(calls: list[tuple[str, dict[str, Any]]],
                        limit: int = MAX_MESSAGE_CHARS) -> list[tuple[str, dict[str, Any]]]:
    """Join one turn's consecutive ``sendMessage`` calls into as few Telegram messages as fit.

    Each message of a turn is a paragraph of the merged one (blank line between). A call with an
    inline keyboard ends its group (its buttons stay under the text they belong to), and a group
    never grows past ``limit`` characters. Fewer messages per turn means fewer calls against
    Telegram's 30 messages/s per bot and 1/s per chat, so the whole answer arrives at once.
    """
    merged: list[tuple[str, dict[str, Any]]] = []
    for method, params in calls:
        if merged and method == "sendMessage" and merged[-1][0] == "sendMessage":
            last = merged[-1][1]
            head, text = last.get("text") or "", params.get("text") or ""
            joined = "\n\n".join(t for t in (head, text) if t and t != EMPTY_TEXT) or EMPTY_TEXT
            if not last.get("inline_keyboard") and len(joined) <= limit:
                merged[-1] = (method, {**params, "text": joined})
                continue
        merged.append((method, dict(params)))
    return merged
