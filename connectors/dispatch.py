"""Decide what to do with one raw Telegram update (a dict), without any I/O.

Telegram sends many kinds of updates; only private text messages, commands and button presses reach
Rasa. Everything else gets a short kind reply where one makes sense, or is ignored. This function
never raises on odd input: a malformed update is ignored, and Telegram still gets 200.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.payloads import command_payload, neutralise_text

# Message content types that get the "I can only read text" reply.
NON_TEXT_KINDS = (
    "sticker", "photo", "voice", "video", "video_note", "animation", "audio", "document",
    "location", "venue", "contact", "poll", "dice", "game", "story", "invoice", "paid_media",
)


@dataclass
class Decision:
    """What to do with an update.

    kind: ``message`` (send ``text`` to Rasa), ``reply`` (send connector reply ``reply_key``),
    ``callback`` (a button: ``callback_data`` to check against the allow-list), ``blocked`` /
    ``unblocked`` (the user blocked or restarted the bot), ``ignore``.
    """

    kind: str
    chat_id: int | None = None
    text: str | None = None
    reply_key: str | None = None
    language_code: str | None = None
    callback_query_id: str | None = None
    callback_data: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _private_chat_id(message: Any) -> int | None:
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    if not isinstance(chat, dict) or chat.get("type") != "private":
        return None
    chat_id = chat.get("id")
    return chat_id if isinstance(chat_id, int) and not isinstance(chat_id, bool) else None


def _language(obj: Any) -> str | None:
    user = obj.get("from") if isinstance(obj, dict) else None
    code = user.get("language_code") if isinstance(user, dict) else None
    return code if isinstance(code, str) and len(code) <= 16 else None


def decide(update: Any) -> Decision:
    """Classify one update."""
    if not isinstance(update, dict):
        return Decision("ignore", reason="not_an_object")

    message = update.get("message")
    if message is not None:
        chat_id = _private_chat_id(message)
        if chat_id is None:
            return Decision("ignore", reason="not_private")
        if isinstance(message.get("from"), dict) and message["from"].get("is_bot"):
            return Decision("ignore", reason="from_bot")
        lang = _language(message)
        text = message.get("text")
        if isinstance(text, str) and text.strip():
            payload = command_payload(text)
            if payload:
                return Decision("message", chat_id, text=payload, language_code=lang,
                                reason="command")
            if text.lstrip().startswith("/"):
                cleaned = neutralise_text(text)
                if not cleaned:
                    return Decision("reply", chat_id, reply_key="empty_command",
                                    language_code=lang, reason="empty_command")
                return Decision("message", chat_id, text=cleaned, language_code=lang,
                                reason="unknown_command")
            return Decision("message", chat_id, text=text.strip(), language_code=lang,
                            reason="text")
        if any(k in message for k in NON_TEXT_KINDS) or "caption" in message:
            return Decision("reply", chat_id, reply_key="unsupported", language_code=lang,
                            reason="non_text")
        # Service messages (pinned, new members, ...) and empty text.
        return Decision("ignore", chat_id, reason="service_message")

    edited = update.get("edited_message")
    if edited is not None:
        chat_id = _private_chat_id(edited)
        if chat_id is None:
            return Decision("ignore", reason="edited_not_private")
        return Decision("reply", chat_id, reply_key="edited", language_code=_language(edited),
                        reason="edited")

    query = update.get("callback_query")
    if isinstance(query, dict):
        query_id = query.get("id") if isinstance(query.get("id"), str) else None
        chat_id = _private_chat_id(query.get("message"))
        data = query.get("data")
        if chat_id is None or not isinstance(data, str):
            # Still answer the callback so the client stops its spinner.
            return Decision("ignore", callback_query_id=query_id, reason="callback_unusable")
        return Decision("callback", chat_id, callback_query_id=query_id, callback_data=data,
                        language_code=_language(query), reason="callback")

    member = update.get("my_chat_member")
    if isinstance(member, dict):
        chat = member.get("chat")
        if isinstance(chat, dict) and chat.get("type") == "private" and isinstance(chat.get("id"), int):
            status = (member.get("new_chat_member") or {}).get("status")
            if status == "kicked":
                return Decision("blocked", chat["id"], reason="blocked")
            if status == "member":
                return Decision("unblocked", chat["id"], reason="unblocked")
        return Decision("ignore", reason="chat_member")

    # channel_post, edited_channel_post, inline_query, poll_answer, chat_join_request, ...
    return Decision("ignore", reason="other_update")
