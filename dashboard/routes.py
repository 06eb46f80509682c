"""Named routes."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

from . import views

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", views.login_page, name="login")
    r.add_post("/login", views.login)
    r.add_post("/logout", views.logout, name="logout")
    r.add_get("/", views.queue_page, name="queue")
    r.add_get("/queue/rows", views.queue_rows, name="queue_rows")
    r.add_get("/events", views.events_stream, name="events")
    r.add_get("/c/{sender_id}", views.conversation_page, name="conversation")
    r.add_get("/c/{sender_id}/messages", views.conversation_messages, name="messages")
    r.add_get("/c/{sender_id}/export", views.conversation_export, name="export")
    r.add_post("/c/{sender_id}/claim", views.claim, name="claim")
    r.add_post("/c/{sender_id}/release", views.release, name="release")
    r.add_post("/c/{sender_id}/take-over", views.take_over, name="take_over")
    r.add_post("/c/{sender_id}/hand-back", views.hand_back, name="hand_back")
    r.add_post("/c/{sender_id}/send", views.send_message, name="send")
    r.add_post("/c/{sender_id}/close", views.close_conversation, name="close")
    r.add_post("/c/{sender_id}/note", views.add_note, name="note")
    r.add_post("/c/{sender_id}/tag", views.add_tag, name="tag")
    r.add_post("/c/{sender_id}/untag", views.remove_tag, name="untag")
    r.add_get("/try", views.try_page, name="try_page")
    r.add_post("/try/reset", views.try_reset, name="try_reset")
    r.add_post("/try/send", views.try_send, name="try_send")
    r.add_get("/try/poll", views.try_poll, name="try_poll")
    r.add_get("/figures", views.figures_page, name="figures")
    r.add_get("/audit", views.audit_page, name="audit")
    r.add_get("/workers", views.workers_page, name="workers")
    r.add_post("/workers", views.create_worker)
    r.add_post("/workers/{worker_id}/disable", views.disable_worker, name="disable_worker")
    r.add_post("/internal/erasure", views.internal_erasure, name="internal_erasure")
    r.add_get("/healthz", views.healthz, name="healthz")
    r.add_get("/favicon.ico", views.favicon, name="favicon")
    r.add_static("/static/", STATIC_DIR, name="static")
