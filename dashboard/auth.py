"""Workers, passwords (argon2), server-side sessions, CSRF, login throttling, security headers.

Sessions are rows in ``sessions`` keyed by the SHA-256 of a random token that lives only in an
HttpOnly, SameSite=Strict cookie (Secure and ``__Host-`` prefixed behind HTTPS). A new token is
issued at every login; logout deletes the row, so a copied cookie is dead too. Limits: 30 minutes
idle, 12 hours absolute (OWASP ASVS 3.3.2, level 2).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from . import db as tables
from .keys import DB, SETTINGS

logger = logging.getLogger(__name__)

ROLES = ("worker", "supervisor", "admin")
ROLE_RANK = {name: i for i, name in enumerate(ROLES)}
LOGIN_CSRF_COOKIE = "dash_login_csrf"
_hasher = PasswordHasher()
# A valid hash used to spend the same time when the username does not exist.
_DUMMY_HASH: str | None = None  # built on first use, not at import


def use_fast_hashing_for_tests() -> None:
    """Cheap argon2 parameters so test set-ups do not spend seconds hashing (still argon2id)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    _DUMMY_HASH = None


def cookie_name(settings) -> str:
    return "__Host-dash_session" if settings.secure_cookies else "dash_session"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global _DUMMY_HASH
    if not password_hash:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
        password_hash = _DUMMY_HASH
        password = password + "\x00never"
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def validate_username(username: str) -> str:
    username = (username or "").strip()
    if not (2 <= len(username) <= 64) or not all(c.isalnum() or c in "._-" for c in username):
        raise ValueError("A username has 2-64 letters, digits, dots, dashes or underscores.")
    return username


def validate_password(password: str) -> str:
    if len(password or "") < 12:
        raise ValueError("A password has at least 12 characters.")
    if len(password) > 256:
        raise ValueError("A password has at most 256 characters.")
    return password


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _keyed(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


@dataclass
class Worker:
    id: int
    username: str
    role: str
    csrf_token: str
    token_hash: str
    web_sender: str | None

    def has_role(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


# --- synchronous DB helpers (run through Database.run) ---------------------------------------

def create_worker(engine, username: str, password: str, role: str = "worker") -> int:
    username = validate_username(username)
    validate_password(password)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    with engine.begin() as conn:
        taken = conn.execute(sa.select(tables.workers.c.id).where(
            tables.workers.c.username == username)).first()
        if taken:
            raise ValueError("That username is taken.")
        res = conn.execute(tables.workers.insert().values(
            username=username, password_hash=hash_password(password), role=role, active=True,
            created_at=time.time()))
        return int(res.inserted_primary_key[0])


def count_workers(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables.workers)).scalar())


def ensure_initial_admin(engine, state_dir: Path) -> Path | None:
    """When no worker exists, create ``admin`` with a random password in a 0600 file."""
    if count_workers(engine):
        return None
    password = secrets.token_urlsafe(18)
    create_worker(engine, "admin", password, "admin")
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "initial_admin_password"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    os.chmod(path, 0o600)
    return path


def throttled(engine, secret: str, username: str, ip: str, settings) -> bool:
    since = time.time() - settings.throttle_window
    la = tables.login_attempts
    with engine.connect() as conn:
        per_user = conn.execute(sa.select(sa.func.count()).select_from(la).where(
            la.c.user_key == _keyed(secret, username.lower()), la.c.ts > since)).scalar()
        per_ip = conn.execute(sa.select(sa.func.count()).select_from(la).where(
            la.c.ip_key == _keyed(secret, ip), la.c.ts > since)).scalar()
    return per_user >= settings.throttle_per_user or per_ip >= settings.throttle_per_ip


def record_failure(engine, secret: str, username: str, ip: str, settings) -> None:
    la = tables.login_attempts
    now = time.time()
    with engine.begin() as conn:
        conn.execute(la.insert().values(user_key=_keyed(secret, username.lower()),
                                        ip_key=_keyed(secret, ip), ts=now))
        conn.execute(la.delete().where(la.c.ts < now - 2 * settings.throttle_window))


def clear_failures(engine, secret: str, username: str) -> None:
    la = tables.login_attempts
    with engine.begin() as conn:
        conn.execute(la.delete().where(la.c.user_key == _keyed(secret, username.lower())))


def authenticate(engine, username: str, password: str) -> dict | None:
    w = tables.workers
    with engine.connect() as conn:
        row = conn.execute(sa.select(w).where(w.c.username == username.strip())).first()
    ok = verify_password(row.password_hash if row else None, password)
    if not ok or row is None or not row.active:
        return None
    return dict(row._mapping)


def start_session(engine, worker_id: int) -> str:
    token = secrets.token_urlsafe(32)
    now = time.time()
    with engine.begin() as conn:
        conn.execute(tables.sessions.insert().values(
            token_hash=_token_hash(token), worker_id=worker_id,
            csrf_token=secrets.token_urlsafe(32), web_sender=None, created_at=now, last_seen=now))
    return token


def load_session(engine, token: str, settings) -> Worker | None:
    s, w = tables.sessions, tables.workers
    now = time.time()
    th = _token_hash(token)
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(s.c.token_hash, s.c.csrf_token, s.c.web_sender, s.c.created_at, s.c.last_seen,
                      w.c.id, w.c.username, w.c.role, w.c.active)
            .select_from(s.join(w, w.c.id == s.c.worker_id)).where(s.c.token_hash == th)
        ).first()
        if row is None:
            return None
        if (not row.active or now - row.last_seen > settings.idle_timeout
                or now - row.created_at > settings.absolute_timeout):
            conn.execute(s.delete().where(s.c.token_hash == th))
            return None
        if now - row.last_seen > 15:  # avoid a write per request
            conn.execute(s.update().where(s.c.token_hash == th).values(last_seen=now))
    return Worker(row.id, row.username, row.role, row.csrf_token, th, row.web_sender)


def end_session(engine, token_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(tables.sessions.delete().where(tables.sessions.c.token_hash == token_hash))


def end_all_sessions(engine, worker_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(tables.sessions.delete().where(tables.sessions.c.worker_id == worker_id))


def disable_worker(engine, worker_id: int) -> None:
    """Disable an account and end its sessions at once."""
    with engine.begin() as conn:
        conn.execute(tables.workers.update().where(tables.workers.c.id == worker_id).values(active=False))
    end_all_sessions(engine, worker_id)


def set_web_sender(engine, token_hash: str, web_sender: str) -> None:
    with engine.begin() as conn:
        conn.execute(tables.sessions.update().where(tables.sessions.c.token_hash == token_hash)
                     .values(web_sender=web_sender))


def audit(engine, action: str, worker: Worker | None = None, sender_id: str | None = None,
          detail: str | None = None, username: str | None = None) -> None:
    """Who did what to which conversation. Never message text."""
    with engine.begin() as conn:
        conn.execute(tables.audit.insert().values(
            ts=time.time(), worker_id=worker.id if worker else None,
            username=(worker.username if worker else username), action=action[:40],
            sender_id=sender_id, detail=(detail or None) and detail[:255]))


# --- client address behind reverse proxies ----------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_ip(value: str | None) -> IPAddress | None:
    """An address from a peer or an X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:567", "::1",
    "[::1]:567"); IPv4-mapped IPv6 becomes IPv4. None for anything else ("unknown", "_hidden")."""
    value = (value or "").strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _is_trusted(addr: IPAddress, trusted) -> bool:
    return any(addr.version == net.version and addr in net for net in trusted)


def client_address(request: web.Request) -> str:
    """The address login throttling and the audit log attribute a request to.

    The direct peer, unless it is one of ``DASHBOARD_TRUSTED_PROXIES``: then X-Forwarded-For is
    read from the right, skipping the trusted proxies, and the first address that is not one of
    them is the client. Everything left of it could have been written by the client, so it is
    never looked at. An entry that is not an address stops the walk at the last trusted hop."""
    peer = request.remote or "unknown"
    trusted = request.app[SETTINGS].trusted_proxies
    if not trusted:
        return peer
    current = _parse_ip(peer)
    if current is None or not _is_trusted(current, trusted):
        return peer
    hops = [h for line in request.headers.getall("X-Forwarded-For", []) for h in line.split(",")]
    for hop in reversed(hops):
        if not hop.strip():
            continue
        addr = _parse_ip(hop)
        if addr is None:
            break
        current = addr
        if not _is_trusted(addr, trusted):
            break
    return str(current)


# --- middlewares ------------------------------------------------------------------------------

PUBLIC_PREFIXES = ("/static/", "/login", "/healthz", "/internal/", "/favicon.ico")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: runs for every response, errors and streams included."""
    h = response.headers
    h["Server"] = "dashboard"  # no framework or version banner (ASVS 14.3.3)
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")
    if request.app[SETTINGS].secure_cookies:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings, database = request.app[SETTINGS], request.app[DB]
    token = request.cookies.get(cookie_name(settings))
    worker = None
    if token and len(token) < 200:
        worker = await database.run(load_session, database.engine, token, settings)
    request["worker"] = worker
    path = request.path
    if worker is None and not path.startswith(PUBLIC_PREFIXES):
        if path == "/events" or request.headers.get("Accept", "").startswith("application/json") \
                or request.method != "GET":
            raise web.HTTPUnauthorized(text="Please log in again.")
        raise web.HTTPFound("/login")
    if request.method not in ("GET", "HEAD", "OPTIONS") and not path.startswith("/internal/") \
            and path != "/login":
        await check_csrf(request, worker)
    return await handler(request)


async def check_csrf(request: web.Request, worker: Worker | None) -> None:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in ("application/x-www-form-urlencoded",
                                                 "multipart/form-data"):
        form = await request.post()
        sent = form.get("csrf_token")
    if worker is None or not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode(), worker.csrf_token.encode()):
        raise web.HTTPForbidden(text="This form has expired. Reload the page and try again.")


def require_role(request: web.Request, role: str) -> Worker:
    worker: Worker | None = request.get("worker")
    if worker is None:
        raise web.HTTPFound("/login")
    if not worker.has_role(role):
        raise web.HTTPForbidden(text="Your role does not allow this page.")
    return worker


def set_session_cookie(response: web.StreamResponse, settings, token: str) -> None:
    response.set_cookie(cookie_name(settings), token, httponly=True, samesite="Strict",
                        secure=settings.secure_cookies, path="/", max_age=settings.absolute_timeout)


def clear_session_cookie(response: web.StreamResponse, settings) -> None:
    response.del_cookie(cookie_name(settings), path="/")
