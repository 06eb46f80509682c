"""Helpers for the dashboard's tests and benchmark: a tracker DB shaped like Rasa's, events
written the way Rasa writes them, and a fake Rasa HTTP API that checks the JWT and the token.
Only imported by tests and bench, never by the app."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import jwt
import sqlalchemy as sa
from aiohttp import web

from .config import Settings
from .db import events, tracker_meta


def make_tracker(url: str) -> sa.engine.Engine:
    engine = sa.create_engine(url, future=True)
    tracker_meta.create_all(engine)
    return engine


def user_event(text: str, intent: str | None = None, confidence: float = 0.9,
               crisis: str | None = None, ts: float | None = None) -> dict[str, Any]:
    parse: dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": confidence},
                             "entities": [], "intent_ranking": []}
    if crisis:
        parse["intent"] = {"name": f"crisis_{crisis}", "confidence": 1.0}
        parse["crisis"] = {"category": crisis, "source": "lexicon", "score": 1.0}
    return {"event": "user", "timestamp": ts or time.time(), "text": text, "parse_data": parse,
            "input_channel": "telegram", "message_id": "m", "metadata": {}}


def bot_event(text: str, metadata: dict | None = None, buttons: list | None = None,
              ts: float | None = None) -> dict[str, Any]:
    return {"event": "bot", "timestamp": ts or time.time(), "text": text,
            "data": {"elements": None, "quick_replies": None, "buttons": buttons,
                     "attachment": None, "image": None, "custom": None},
            "metadata": metadata or {}}


def slot_event(name: str, value: Any, ts: float | None = None) -> dict[str, Any]:
    return {"event": "slot", "timestamp": ts or time.time(), "name": name, "value": value}


def simple_event(name: str, ts: float | None = None) -> dict[str, Any]:
    return {"event": name, "timestamp": ts or time.time()}


def event_row(sender_id: str, data: dict[str, Any]) -> dict[str, Any]:
    intent = None
    if data["event"] == "user":
        intent = (data.get("parse_data") or {}).get("intent", {}).get("name")
    return {"sender_id": sender_id, "type_name": data["event"], "timestamp": data["timestamp"],
            "intent_name": intent, "action_name": data.get("name") if data["event"] == "action" else None,
            "data": json.dumps(data)}


def add_events(engine: sa.engine.Engine, sender_id: str, *evs: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(events.insert(), [event_row(sender_id, e) for e in evs])


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/dashboard.db",
        "tracker_db_url": f"sqlite:///{tmp_path}/rasa.db",
        "rasa_url": "http://127.0.0.1:9", "rasa_api_token": "test-api-token-0123456789abcdef-0123456789",
        "secret_key": "test-secret-key", "state_dir": tmp_path / "state",
        "content_dir": tmp_path / "content", "poll_interval": 0.1}
    values.update(overrides)
    return Settings(**values)


class FakeClock:
    """A wall clock that only moves when told (``Settings.clock``): tests of timeouts jump
    ahead instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class FakeRasa:
    """Rasa's HTTP API as the dashboard uses it. Writes the events to the tracker DB like Rasa."""

    def __init__(self, tracker: sa.engine.Engine, token: str) -> None:
        self.tracker, self.token = tracker, token
        self.requests: list[tuple[str, dict]] = []
        self.app = web.Application()
        self.app.router.add_post("/conversations/{sender_id}/tracker/events", self.tracker_events)
        self.app.router.add_post("/webhooks/telegram/operator/send", self.operator_send)
        self.app.router.add_post("/webhooks/rest/webhook", self.rest)

    async def tracker_events(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        try:
            payload = jwt.decode(header.removeprefix("Bearer "), self.token, algorithms=["HS256"])
        except jwt.PyJWTError:
            return web.json_response({"error": "bad jwt"}, status=401)
        if payload.get("user", {}).get("role") != "admin":
            return web.json_response({"error": "role"}, status=403)
        body = await request.json()
        self.requests.append(("tracker_events", body))
        add_events(self.tracker, request.match_info["sender_id"], simple_event(body["event"]))
        return web.json_response({"ok": True})

    async def operator_send(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "token"}, status=401)
        body = await request.json()
        if "notice" in body:  # a bot notice: the real endpoint picks the text in the user's language
            self.requests.append(("bot_notice", body))
            add_events(self.tracker, body["sender_id"],
                       bot_event(f"(bot notice: {body['notice']})", {"from": "bot", "kind": body["notice"]}))
            return web.json_response({"ok": True})
        self.requests.append(("operator_send", body))
        add_events(self.tracker, body["sender_id"],
                   bot_event(body["text"], {"from": "worker", "worker": body["worker"]}))
        return web.json_response({"ok": True})

    async def rest(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("rest", body))
        if not re.match(r"^web-[0-9a-f]+$", body.get("sender", "")):
            return web.json_response({"error": "sender"}, status=400)
        add_events(self.tracker, body["sender"], user_event(body["message"], "greet"),
                   bot_event("Hello! I am a bot.", buttons=[{"title": "Help", "payload": "/help"}]))
        return web.json_response([{"recipient_id": body["sender"], "text": "Hello! I am a bot.",
                                   "buttons": [{"title": "Help", "payload": "/help"}]}])


class LiveServer:
    """Run aiohttp apps on loopback in a background thread (for browser tests driven by the
    synchronous Playwright API). ``start(app_factory)`` returns the base URL."""

    def __init__(self) -> None:
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runners: list = []

    def call(self, coro, timeout: float = 60.0):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self, app_factory, port: int = 0) -> str:
        async def _start():
            app = app_factory()
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()
            self._runners.append(runner)
            bound = site._server.sockets[0].getsockname()[1]
            return app, f"http://127.0.0.1:{bound}"

        app, url = self.call(_start())
        self.last_app = app
        return url

    def stop(self) -> None:
        async def _stop():
            for runner in reversed(self._runners):
                await runner.cleanup()

        try:
            self.call(_stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
