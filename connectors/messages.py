"""The connector's own short replies (everything else comes from the bot), in English and French."""
from __future__ import annotations

_TEXTS = {
    "unsupported": {
        "en": "I can only read text messages. Could you tell me in words?",
        "fr": "Je ne peux lire que des messages écrits. Tu peux me le dire avec des mots ?",
    },
    "edited": {
        "en": "I only see new messages, not edits. If you changed something, please send it again.",
        "fr": "Je ne vois que les nouveaux messages, pas les modifications. Si tu as changé quelque chose, renvoie-le.",
    },
    "button_expired": {
        "en": "That button has expired. Please type your answer or use /help.",
        "fr": "Ce bouton a expiré. Écris ta réponse ou utilise /help.",
    },
    "error": {
        "en": "Sorry, something went wrong on my side. Could you send that again in a moment?",
        "fr": "Désolé, j'ai eu un problème. Tu peux renvoyer ton message dans un instant ?",
    },
    "empty_command": {
        "en": "I didn't get that. Type a message, or use /help to see what I can do.",
        "fr": "Je n'ai pas compris. Écris un message, ou utilise /help pour voir ce que je peux faire.",
    },
}


def language_of(language_code: str | None) -> str:
    """Telegram's ``language_code`` (e.g. ``fr-CA``) -> ``fr`` or ``en``."""
    return "fr" if isinstance(language_code, str) and language_code.lower().startswith("fr") else "en"


def text(key: str, language_code: str | None) -> str:
    return _TEXTS[key][language_of(language_code)]
