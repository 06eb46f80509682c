"""Typed application keys (aiohttp web.AppKey), in one place."""
from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

SETTINGS = web.AppKey("settings", "Settings")
DB = web.AppKey("db", "Database")
PROJECTOR = web.AppKey("projector", "Projector")
BROADCASTER = web.AppKey("broadcaster", "Broadcaster")
HTTP = web.AppKey("http", aiohttp.ClientSession)
SUGGESTIONS = web.AppKey("suggestions", "SuggestionLibrary")
PROJECTION_TASK = web.AppKey("projection_task", asyncio.Task)
ESCALATIONS = web.AppKey("escalations", "EscalationWatch")
ESCALATION_TASK = web.AppKey("escalation_task", asyncio.Task)
