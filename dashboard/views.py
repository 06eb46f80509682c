"""Request handlers, one per page or action. Thin: the work is in queries/actions/auth."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from . import actions, auth, queries
from .keys import BROADCASTER, DB, HTTP, PROJECTOR, SETTINGS, SUGGESTIONS
from .rasa_client import RasaClient, RasaError

logger = logging.getLogger(__name__)

SENDER_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MAX_MESSAGE = 4000
NOTICES = {  # fixed texts only: nothing from the query string is reflected
    "claimed": "You have claimed this conversation.",
    "taken": "Someone else has claimed this conversation.",
    "paused": "You have the conversation: the bot is paused.",
    "resumed": "Handed back to the bot.",
    "sent": "Message sent.",
    "closed": "Conversation closed.",
    "reopened": "Conversation reopened.",
    "released": "Claim released.",
    "note": "Note saved.",
    "tag": "Tag saved.",
    "untag": "Tag removed.",
    "not_paused": "Take the conversation over before writing to the person.",
    "empty": "The message is empty.",
    "too_long": f"A message has at most {MAX_MESSAGE} characters.",
    "rasa_down": "The bot server did not accept the request. Try again in a moment.",
    "worker_created": "Worker created.",
    "worker_disabled": "Worker disabled and signed out; their claims went back to the queue.",
    "bad_input": "That input was not accepted; see the rules next to the field.",
}


def worker_tag(worker: auth.Worker) -> str:
    """How a worker appears in the transcript: a stable label, not a name."""
    return f"worker-{worker.id}"


def render(request: web.Request, template: str, ctx: dict[str, Any], status: int = 200) -> web.Response:
    worker: auth.Worker | None = request.get("worker")
    base = {"worker": worker, "csrf": worker.csrf_token if worker else "",
            "operator": request.app[SETTINGS].operator_name,
            "notice": NOTICES.get(request.query.get("n", ""))}
    return aiohttp_jinja2.render_template(template, request, base | ctx, status=status)


def rasa(request: web.Request) -> RasaClient:
    s = request.app[SETTINGS]
    return RasaClient(request.app[HTTP], s.rasa_url, s.rasa_api_token, s.http_timeout)


def sender_or_404(request: web.Request) -> str:
    sender = request.match_info.get("sender_id", "")
    if not SENDER_RE.match(sender):
        raise web.HTTPNotFound(text="No such conversation.")
    return sender


def back(request: web.Request, sender: str, notice: str) -> web.HTTPFound:
    return web.HTTPFound(request.app.router["conversation"].url_for(sender_id=sender)
                         .with_query(n=notice))


async def _refresh(request: web.Request) -> None:
    """Pull the events an action just caused (Rasa has stored them when it answers)."""
    await request.app[PROJECTOR].step(request.app[BROADCASTER])


async def _audit(request: web.Request, action: str, sender: str | None = None,
                 detail: str | None = None) -> None:
    database = request.app[DB]
    await database.run(auth.audit, database.engine, action, request.get("worker"), sender, detail)


# --- login / logout ---------------------------------------------------------------------------

async def login_page(request: web.Request) -> web.Response:
    # Reuse the pre-login token when the browser has one: a second GET (another tab, a favicon
    # redirect) must not invalidate the form already on screen.
    existing = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    token = existing if re.fullmatch(r"[A-Za-z0-9_-]{32}", existing) else secrets.token_urlsafe(24)
    resp = render(request, "login.html", {"login_csrf": token, "error": None})
    resp.set_cookie(auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                    secure=request.app[SETTINGS].secure_cookies, path="/login", max_age=3600)
    return resp


async def login(request: web.Request) -> web.Response:
    settings, database = request.app[SETTINGS], request.app[DB]
    form = await request.post()
    sent, cookie = form.get("csrf_token"), request.cookies.get(auth.LOGIN_CSRF_COOKIE)
    if not isinstance(sent, str) or not cookie or not secrets.compare_digest(sent, cookie):
        raise web.HTTPForbidden(text="This form has expired. Reload the login page and try again.")
    username = str(form.get("username") or "")[:64].strip()
    password = str(form.get("password") or "")[:256]
    ip = auth.client_address(request)
    engine = database.engine
    client = f"client={ip}"

    def again(message: str, status: int) -> web.Response:
        token = secrets.token_urlsafe(24)
        resp = render(request, "login.html", {"login_csrf": token, "error": message,
                                              "username": username}, status=status)
        resp.set_cookie(auth.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        secure=settings.secure_cookies, path="/login", max_age=3600)
        return resp

    if await database.run(auth.throttled, engine, settings.secret_key, username, ip, settings):
        await database.run(auth.audit, engine, "login_throttled", None, None, client, username)
        return again("Too many failed attempts. Wait 15 minutes, or ask an admin.", 429)
    row = await database.run(auth.authenticate, engine, username, password)
    if row is None:
        await database.run(auth.record_failure, engine, settings.secret_key, username, ip, settings)
        await database.run(auth.audit, engine, "login_failed", None, None, client, username)
        return again("Wrong username or password.", 401)
    await database.run(auth.clear_failures, engine, settings.secret_key, username)
    old = request.get("worker")
    if old is not None:  # a new session at every login (no fixation)
        await database.run(auth.end_session, engine, old.token_hash)
    token = await database.run(auth.start_session, engine, row["id"])
    await database.run(auth.audit, engine, "login", None, None, client, row["username"])
    resp = web.HTTPFound("/")
    auth.set_session_cookie(resp, settings, token)
    resp.del_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.Response:
    database, worker = request.app[DB], request["worker"]
    await database.run(auth.end_session, database.engine, worker.token_hash)
    await _audit(request, "logout")
    resp = web.HTTPFound("/login")
    auth.clear_session_cookie(resp, request.app[SETTINGS])
    raise resp


# --- queue ------------------------------------------------------------------------------------

async def _queue(request: web.Request) -> tuple[dict[str, Any], dict[str, str]]:
    database, settings = request.app[DB], request.app[SETTINGS]
    filters = queries.clean_filters(dict(request.query))
    data = await database.run(queries.queue, database.engine, filters, settings.queue_page_size,
                              settings.clock(), settings.escalation_timeout)
    return data, filters


async def queue_page(request: web.Request) -> web.Response:
    data, filters = await _queue(request)
    return render(request, "queue.html", {"q": data, "filters": filters,
                                          "risk_levels": list(reversed(queries.RISK_LEVELS)),
                                          "statuses": queries.STATUSES})


async def queue_rows(request: web.Request) -> web.Response:
    data, filters = await _queue(request)
    return render(request, "_queue_rows.html", {"q": data, "filters": filters})


async def events_stream(request: web.Request) -> web.StreamResponse:
    broadcaster, database, settings = request.app[BROADCASTER], request.app[DB], request.app[SETTINGS]
    token = request.cookies.get(auth.cookie_name(settings), "")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    queue = broadcaster.subscribe()
    try:
        await resp.write(b"retry: 2000\nevent: hello\ndata: {}\n\n")
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), timeout=settings.sse_keepalive)
            except asyncio.TimeoutError:  # noqa: UP041 (not the builtin on 3.10)
                # a logged-out or expired session stops receiving updates
                if await database.run(auth.load_session, database.engine, token, settings) is None:
                    break
                await resp.write(b": keep-alive\n\n")
                continue
            if msg.get("type") == "bye":
                break
            await resp.write(f"event: {msg['type']}\ndata: {json.dumps(msg)}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        broadcaster.unsubscribe(queue)
    return resp


# --- conversation -----------------------------------------------------------------------------

async def _conversation_ctx(request: web.Request, sender: str) -> dict[str, Any]:
    database, settings = request.app[DB], request.app[SETTINGS]
    conv = await database.run(queries.conversation, database.engine, sender, settings.clock(),
                              settings.escalation_timeout)
    if conv is None:
        raise web.HTTPNotFound(text="No such conversation (it may have been erased).")
    if await database.run(database.tracker_ready):
        tr = await database.run(queries.transcript, database.tracker, sender)
    else:
        tr = {"items": [], "cn_sent": [], "helplines": [], "last_id": 0, "truncated": False}
    names = {f"worker-{w['id']}": w["username"]
             for w in await database.run(queries.list_workers, database.engine)}
    for item in tr["items"]:
        if item["kind"] == "worker":
            item["worker_name"] = names.get(item["worker"], "")
    used = [c["id"] for c in tr["cn_sent"]]
    suggestions = request.app[SUGGESTIONS].for_conversation(conv.get("theme"), conv.get("language"), used)
    return {"c": conv, "t": tr, "suggestions": suggestions}


async def conversation_page(request: web.Request) -> web.Response:
    sender = sender_or_404(request)
    ctx = await _conversation_ctx(request, sender)
    await _audit(request, "view", sender)
    return render(request, "conversation.html", ctx)


async def conversation_messages(request: web.Request) -> web.Response:
    sender = sender_or_404(request)
    ctx = await _conversation_ctx(request, sender)
    return render(request, "_messages.html", ctx)


async def conversation_export(request: web.Request) -> web.Response:
    auth.require_role(request, "supervisor")
    sender = sender_or_404(request)
    ctx = await _conversation_ctx(request, sender)
    await _audit(request, "export", sender)
    body = json.dumps({"sender_id": sender, "risk_level": ctx["c"]["risk_level"],
                       "risk_reasons": ctx["c"]["reasons"], "messages": ctx["t"]["items"]},
                      ensure_ascii=False, indent=1, default=str)
    return web.Response(text=body, content_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="conversation-{sender}.json"'})


async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def claim(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    ok = await database.run(actions.claim, database.engine, sender, request["worker"].id)
    if ok:
        await _audit(request, "claim", sender)
    raise back(request, sender, "claimed" if ok else "taken")


async def release(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    if await _held_by_someone_else(request, sender):
        raise back(request, sender, "taken")
    await database.run(actions.release, database.engine, sender, request.app[SETTINGS].clock())
    await _audit(request, "release", sender)
    raise back(request, sender, "released")


async def take_over(request: web.Request) -> web.Response:
    sender, database, worker = sender_or_404(request), request.app[DB], request["worker"]
    if not await database.run(actions.claim, database.engine, sender, worker.id) \
            and not worker.has_role("supervisor"):
        raise back(request, sender, "taken")
    try:
        await rasa(request).pause(sender)
    except RasaError:
        raise back(request, sender, "rasa_down") from None
    await database.run(actions.reopen, database.engine, sender)
    await _refresh(request)
    await _audit(request, "take_over", sender)
    raise back(request, sender, "paused")


async def _held_by_someone_else(request: web.Request, sender: str) -> bool:
    """True when another worker has claimed it and this one is not a supervisor."""
    worker, database = request["worker"], request.app[DB]
    conv = await database.run(queries.conversation, database.engine, sender)
    if conv is None:
        raise web.HTTPNotFound(text="No such conversation.")
    return conv.get("claimed_by_id") not in (None, worker.id) and not worker.has_role("supervisor")


async def hand_back(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    if await _held_by_someone_else(request, sender):
        raise back(request, sender, "taken")
    try:
        await rasa(request).resume(sender)
    except RasaError:
        raise back(request, sender, "rasa_down") from None
    await _refresh(request)  # first: what came in before the resume is part of what was handled
    await database.run(actions.release, database.engine, sender, request.app[SETTINGS].clock(), True)
    await _audit(request, "hand_back", sender)
    raise back(request, sender, "resumed")


async def send_message(request: web.Request) -> web.Response:
    sender, database, worker = sender_or_404(request), request.app[DB], request["worker"]
    form = await _form(request)
    text = (form.get("text") or "").strip()
    if not text:
        raise back(request, sender, "empty")
    if len(text) > MAX_MESSAGE:
        raise back(request, sender, "too_long")
    conv = await database.run(queries.conversation, database.engine, sender)
    if conv is None:
        raise web.HTTPNotFound(text="No such conversation.")
    if not conv["paused"]:
        raise back(request, sender, "not_paused")
    if conv.get("claimed_by_id") not in (None, worker.id) and not worker.has_role("supervisor"):
        raise back(request, sender, "taken")
    await database.run(actions.claim, database.engine, sender, worker.id)
    try:
        await rasa(request).operator_send(sender, text, worker_tag(worker))
    except RasaError:
        raise back(request, sender, "rasa_down") from None
    await _refresh(request)
    await _audit(request, "send", sender, f"suggestion={form.get('suggestion_id', '')[:80]}"
                 if form.get("suggestion_id") else None)
    raise back(request, sender, "sent")


async def close_conversation(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    if await _held_by_someone_else(request, sender):
        raise back(request, sender, "taken")
    await _refresh(request)
    await database.run(actions.close, database.engine, sender, request.app[SETTINGS].clock())
    await _audit(request, "close", sender)
    raise back(request, sender, "closed")


async def add_note(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    form = await _form(request)
    try:
        await database.run(actions.add_note, database.engine, sender, request["worker"].id,
                           form.get("text", ""))
    except ValueError:
        raise back(request, sender, "bad_input") from None
    await _audit(request, "note", sender)
    raise back(request, sender, "note")


async def add_tag(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    form = await _form(request)
    try:
        await database.run(actions.add_tag, database.engine, sender, request["worker"].id,
                           form.get("tag", ""))
    except ValueError:
        raise back(request, sender, "bad_input") from None
    await _audit(request, "tag", sender, (form.get("tag") or "")[:40])
    raise back(request, sender, "tag")


async def remove_tag(request: web.Request) -> web.Response:
    sender, database = sender_or_404(request), request.app[DB]
    form = await _form(request)
    await database.run(actions.remove_tag, database.engine, sender, form.get("tag", ""))
    await _audit(request, "untag", sender, (form.get("tag") or "")[:40])
    raise back(request, sender, "untag")


# --- try the bot ------------------------------------------------------------------------------

async def _web_sender(request: web.Request, new: bool = False) -> str:
    worker, database = request["worker"], request.app[DB]
    if worker.web_sender and not new:
        return worker.web_sender
    sender = "web-" + secrets.token_hex(8)
    await database.run(auth.set_web_sender, database.engine, worker.token_hash, sender)
    worker.web_sender = sender
    return sender


async def try_page(request: web.Request) -> web.Response:
    sender = await _web_sender(request)
    return render(request, "try.html", {"web_sender": sender})


async def try_reset(request: web.Request) -> web.Response:
    await _web_sender(request, new=True)
    raise web.HTTPFound("/try")


async def try_send(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "Send JSON: {\"message\": \"...\"}."}, status=400)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message.strip():
        return web.json_response({"error": "The message is empty."}, status=400)
    if len(message) > MAX_MESSAGE:
        return web.json_response({"error": NOTICES["too_long"]}, status=400)
    sender = await _web_sender(request)
    try:
        replies = await rasa(request).rest_message(sender, message)
    except RasaError as exc:
        return web.json_response({"error": str(exc)}, status=502)
    out = []
    for r in replies:
        if not isinstance(r, dict):
            continue
        buttons = [{"title": str(b.get("title", ""))[:200], "payload": str(b.get("payload", ""))[:200]}
                   for b in (r.get("buttons") or []) if isinstance(b, dict)]
        out.append({"text": str(r.get("text") or ""), "buttons": buttons})
    return web.json_response({"replies": out, "sender": sender})


async def try_poll(request: web.Request) -> web.Response:
    database = request.app[DB]
    sender = await _web_sender(request)
    try:
        after = max(0, int(request.query.get("after", "0")))
    except ValueError:
        after = 0
    if not await database.run(database.tracker_ready):
        return web.json_response({"messages": [], "last_id": after})
    tr = await database.run(queries.transcript, database.tracker, sender, after)
    msgs = [{"text": i["text"]} for i in tr["items"] if i["kind"] == "worker"]
    return web.json_response({"messages": msgs, "last_id": tr["last_id"]})


# --- figures, audit, workers ------------------------------------------------------------------

async def figures_page(request: web.Request) -> web.Response:
    auth.require_role(request, "supervisor")
    database = request.app[DB]
    data = await database.run(queries.figures, database.engine)
    return render(request, "figures.html", {"f": data})


async def audit_page(request: web.Request) -> web.Response:
    auth.require_role(request, "admin")
    database = request.app[DB]
    rows = await database.run(queries.audit_log, database.engine)
    await _audit(request, "view_audit")
    return render(request, "audit.html", {"rows": rows})


async def workers_page(request: web.Request) -> web.Response:
    auth.require_role(request, "admin")
    database = request.app[DB]
    rows = await database.run(queries.list_workers, database.engine)
    return render(request, "workers.html", {"rows": rows, "roles": auth.ROLES, "error": None})


async def create_worker(request: web.Request) -> web.Response:
    auth.require_role(request, "admin")
    database = request.app[DB]
    form = await _form(request)
    try:
        await database.run(auth.create_worker, database.engine, form.get("username", ""),
                           form.get("password", ""), form.get("role", "worker"))
    except ValueError as exc:
        rows = await database.run(queries.list_workers, database.engine)
        return render(request, "workers.html", {"rows": rows, "roles": auth.ROLES,
                                                "error": str(exc)}, status=400)
    await _audit(request, "create_worker", None, f"username={form.get('username', '')[:64]}")
    raise web.HTTPFound("/workers?n=worker_created")


async def disable_worker(request: web.Request) -> web.Response:
    admin = auth.require_role(request, "admin")
    database = request.app[DB]
    try:
        worker_id = int(request.match_info["worker_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if worker_id == admin.id:
        raise web.HTTPFound("/workers?n=bad_input")

    await database.run(auth.disable_worker, database.engine, worker_id)
    await _audit(request, "disable_worker", None, f"worker_id={worker_id}")
    for sender in await database.run(actions.release_all_of, database.engine, worker_id,
                                     request.app[SETTINGS].clock()):
        await _audit(request, "release", sender, f"worker_id={worker_id} disabled")
    raise web.HTTPFound("/workers?n=worker_disabled")


# --- machine endpoints ------------------------------------------------------------------------

async def internal_erasure(request: web.Request) -> web.Response:
    settings, database = request.app[SETTINGS], request.app[DB]
    header = request.headers.get("Authorization", "")
    expected = f"Bearer {settings.rasa_api_token}"
    if not settings.rasa_api_token or not secrets.compare_digest(header.encode(), expected.encode()):
        return web.json_response({"error": "unauthorised"}, status=401)
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return web.json_response({"error": "expected JSON {\"sender_id\": ...}"}, status=400)
    sender = body.get("sender_id") if isinstance(body, dict) else None
    if not isinstance(sender, str) or not SENDER_RE.match(sender):
        return web.json_response({"error": "sender_id missing or malformed"}, status=400)
    counts = await database.run(actions.erase, database.engine, sender, "user_request")
    logger.info("erasure done for one conversation (%s)", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return web.json_response({"erased": True, "deleted": counts})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)
