"""Rasa input/output channels of this bot (Telegram; see docs/telegram.md)."""
