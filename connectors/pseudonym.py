"""Keyed pseudonyms for Telegram chats: the chat id never reaches Rasa, logs or the dashboard."""
from __future__ import annotations

import hashlib
import hmac

PREFIX = "tg-"


def pseudonymise(chat_id: int | str, key: bytes) -> str:
    """Return ``tg-`` + the first 32 hex characters of HMAC-SHA256(key, str(chat_id))."""
    if not key:
        raise ValueError("PSEUDONYM_KEY must not be empty")
    if isinstance(key, str):
        key = key.encode("utf-8")
    digest = hmac.new(key, str(chat_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


def is_telegram_sender(sender_id: str) -> bool:
    """True when ``sender_id`` has the shape of a Telegram pseudonym."""
    return (
        isinstance(sender_id, str)
        and sender_id.startswith(PREFIX)
        and len(sender_id) == len(PREFIX) + 32
        and all(c in "0123456789abcdef" for c in sender_id[len(PREFIX):])
    )
