"""Read models for the pages: queue, transcript, figures, audit (plain synchronous functions)."""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from . import db as t
from .projection import (
    RISK_LEVELS,
    RISK_RANK,
    crisis_of,
    is_worker_message,
    parse_data,
    user_intent,
)

_UTC = timezone.utc  # noqa: UP017 (datetime.UTC is Python 3.11+)
STATUSES = ("bot", "human", "closed")
MAX_TRANSCRIPT_EVENTS = 20000


def _closed(c):
    return sa.and_(c.closed_at.isnot(None),
                   sa.or_(c.last_user_ts.is_(None), c.last_user_ts <= c.closed_at))


# --- escalations ------------------------------------------------------------------------------
# "Needs a person": an escalation (the person asked for one, a crisis, or the bot is paused) whose
# latest signal came after the last resolution (a worker's hand-back or close), that nobody has
# claimed and that is not closed. Its wait runs from the start of the episode, or from the moment
# the last claim ended when that is later. The SQL and the Python versions below must agree.

def _needs_person(c, a):
    return sa.and_(a.sender_id.is_(None), sa.not_(_closed(c)), c.esc_last_id.isnot(None),
                   c.esc_last_id > sa.func.coalesce(c.esc_resolved_id, 0),
                   sa.or_(c.human_requested.is_(True), c.crisis_ts.isnot(None), c.paused.is_(True)))


def _wait_from(c):
    start = sa.case((sa.and_(c.esc_start_id.isnot(None),
                             c.esc_start_id > sa.func.coalesce(c.esc_resolved_id, 0)), c.esc_start_ts),
                    else_=c.esc_last_ts)
    return sa.case((sa.and_(c.claim_ended_at.isnot(None), c.claim_ended_at > start), c.claim_ended_at),
                   else_=start)


def needs_person(row: dict[str, Any]) -> bool:
    """Python twin of ``_needs_person`` for one row (with ``claimed_by_id`` from the join)."""
    resolved = row.get("esc_resolved_id") or 0
    return (row.get("claimed_by_id") is None and status_of(row) != "closed"
            and row.get("esc_last_id") is not None and row["esc_last_id"] > resolved
            and bool(row.get("human_requested") or row.get("crisis_ts") is not None or row.get("paused")))


def wait_from(row: dict[str, Any]) -> float | None:
    """Python twin of ``_wait_from``."""
    resolved = row.get("esc_resolved_id") or 0
    start = row.get("esc_start_ts") if (row.get("esc_start_id") is not None
                                        and row["esc_start_id"] > resolved) else row.get("esc_last_ts")
    ended = row.get("claim_ended_at")
    if ended is not None and (start is None or ended > start):
        return ended
    return start


def add_wait(row: dict[str, Any], unclaimed: bool, now: float, timeout: float) -> None:
    """Set ``unclaimed``, ``waited_s`` and ``overdue`` on a row for the templates."""
    since = wait_from(row) if unclaimed else None
    row["unclaimed"] = unclaimed
    row["waited_s"] = max(0.0, now - since) if since is not None else None
    row["overdue"] = bool(unclaimed and timeout > 0 and row["waited_s"] is not None
                          and row["waited_s"] >= timeout)


def overdue_escalations(engine, now: float, timeout: float, limit: int = 500) -> list[dict[str, Any]]:
    """Unclaimed escalations waiting for ``timeout`` seconds or more that need something done:
    not flagged yet for this wait, or the bot is paused. Longest wait first."""
    c, a = t.conversations, t.assignments
    waited_since = _wait_from(c.c)
    stmt = (sa.select(c.c.sender_id, c.c.paused, c.c.crisis_category, c.c.crisis_ts, c.c.risk_level,
                      c.c.overdue_at, waited_since.label("wait_from"))
            .select_from(c.outerjoin(a, a.c.sender_id == c.c.sender_id))
            .where(_needs_person(c.c, a.c), waited_since <= now - timeout,
                   sa.or_(c.c.overdue_at.is_(None), c.c.overdue_at < waited_since, c.c.paused.is_(True)))
            .order_by(waited_since).limit(limit))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return "under a minute"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def status_of(row: dict[str, Any]) -> str:
    closed_at = row.get("closed_at")
    if closed_at is not None and (row.get("last_user_ts") is None or row["last_user_ts"] <= closed_at):
        return "closed"
    return "human" if row.get("paused") else "bot"


def clean_filters(query: dict[str, str]) -> dict[str, str]:
    """Keep only known filter values (anything else is ignored, never an error)."""
    out = {}
    if query.get("risk") in RISK_LEVELS:
        out["risk"] = query["risk"]
    if query.get("status") in STATUSES:
        out["status"] = query["status"]
    if query.get("language") in ("en", "fr"):
        out["language"] = query["language"]
    theme = query.get("theme", "")
    if theme and len(theme) <= 64 and all(ch.isalnum() or ch == "_" for ch in theme):
        out["theme"] = theme
    if query.get("unclaimed") in ("1", "on", "true"):
        out["unclaimed"] = "1"
    if query.get("overdue") in ("1", "on", "true"):
        out["overdue"] = "1"
    return out


def queue(engine, filters: dict[str, str], limit: int = 100, now: float | None = None,
          timeout: float = 0.0) -> dict[str, Any]:
    """The queue: unclaimed crisis escalations first, then the other overdue escalations (both
    longest wait first, however many other conversations there are), then the rest by risk and
    recency, ``limit`` rows in all."""
    now = time.time() if now is None else now
    c, a, w = t.conversations, t.assignments, t.workers
    conds = []
    if "risk" in filters:
        conds.append(c.c.risk_level == filters["risk"])
    if "language" in filters:
        conds.append(c.c.language == filters["language"])
    if "theme" in filters:
        conds.append(c.c.theme == filters["theme"])
    status = filters.get("status")
    if status == "closed":
        conds.append(_closed(c.c))
    elif status == "human":
        conds.extend([c.c.paused.is_(True), sa.not_(_closed(c.c))])
    elif status == "bot":
        conds.extend([c.c.paused.is_(False), sa.not_(_closed(c.c))])
    unclaimed_cond = _needs_person(c.c, a.c)
    waited_since = _wait_from(c.c)
    overdue_cond = sa.and_(unclaimed_cond, waited_since <= now - timeout) if timeout > 0 else sa.false()
    if filters.get("unclaimed"):
        conds.append(unclaimed_cond)
    if filters.get("overdue"):
        conds.append(overdue_cond)
    joined = c.outerjoin(a, a.c.sender_id == c.c.sender_id).outerjoin(w, w.c.id == a.c.worker_id)
    columns = (c, w.c.username.label("claimed_by"), unclaimed_cond.label("unclaimed"))
    # pinned: an unclaimed crisis or an overdue escalation never falls below the first page
    pinned_stmt = (sa.select(*columns).select_from(joined)
                   .where(*conds, unclaimed_cond, sa.or_(c.c.crisis_ts.isnot(None), overdue_cond))
                   .order_by(sa.case((c.c.crisis_ts.isnot(None), 1), else_=0).desc(), waited_since)
                   .limit(limit))
    stmt = (sa.select(*columns).select_from(joined).where(*conds)
            .order_by(c.c.risk_rank.desc(), c.c.last_ts.desc()).limit(limit))
    with engine.connect() as conn:
        pinned = [dict(r._mapping) for r in conn.execute(pinned_stmt)]
        seen = {r["sender_id"] for r in pinned}
        rows = pinned + [r for r in (dict(r._mapping) for r in conn.execute(stmt))
                         if r["sender_id"] not in seen][:max(0, limit - len(pinned))]
        by_risk = dict(conn.execute(sa.select(c.c.risk_level, sa.func.count())
                                    .group_by(c.c.risk_level)).all())
        total = sum(by_risk.values())
        n_unclaimed = conn.execute(sa.select(sa.func.count()).select_from(
            c.outerjoin(a, a.c.sender_id == c.c.sender_id)).where(unclaimed_cond)).scalar()
        n_overdue = conn.execute(sa.select(sa.func.count()).select_from(
            c.outerjoin(a, a.c.sender_id == c.c.sender_id)).where(overdue_cond)).scalar() \
            if timeout > 0 else 0
        n_human = conn.execute(sa.select(sa.func.count()).select_from(c).where(
            c.c.paused.is_(True), sa.not_(_closed(c.c)))).scalar()
        n_matching = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*conds)).scalar() \
            if conds else total
        themes = [r[0] for r in conn.execute(sa.select(c.c.theme).where(c.c.theme.isnot(None))
                                             .distinct().order_by(c.c.theme))]
    for r in rows:
        r["status"] = status_of(r)
        r["reasons"] = json.loads(r.get("risk_reasons") or "[]")
        add_wait(r, bool(r["unclaimed"]), now, timeout)
    return {"rows": rows, "total": total, "matching": n_matching, "unclaimed": n_unclaimed,
            "overdue": n_overdue, "timeout": timeout, "human": n_human, "by_risk": {lvl: by_risk.get(lvl, 0) for lvl in reversed(RISK_LEVELS)},
            "themes": themes}


def conversation(engine, sender_id: str, now: float | None = None,
                 timeout: float = 0.0) -> dict[str, Any] | None:
    c, a, w = t.conversations, t.assignments, t.workers
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(c, w.c.username.label("claimed_by"), a.c.worker_id.label("claimed_by_id"))
            .select_from(c.outerjoin(a, a.c.sender_id == c.c.sender_id)
                         .outerjoin(w, w.c.id == a.c.worker_id))
            .where(c.c.sender_id == sender_id)).first()
        if row is None:
            return None
        out = dict(row._mapping)
        out["notes"] = [dict(r._mapping) for r in conn.execute(
            sa.select(t.notes.c.id, t.notes.c.text, t.notes.c.created_at, w.c.username)
            .select_from(t.notes.outerjoin(w, w.c.id == t.notes.c.worker_id))
            .where(t.notes.c.sender_id == sender_id).order_by(t.notes.c.id))]
        out["tags"] = [r[0] for r in conn.execute(
            sa.select(t.tags.c.tag).where(t.tags.c.sender_id == sender_id).order_by(t.tags.c.tag))]
    out["status"] = status_of(out)
    out["reasons"] = json.loads(out.get("risk_reasons") or "[]")
    add_wait(out, needs_person(out), time.time() if now is None else now, timeout)
    return out


def transcript(tracker_engine, sender_id: str, after_id: int = 0) -> dict[str, Any]:
    """Messages with what the bot understood, labelled by author; paused-time messages flagged."""
    ev = t.events
    with tracker_engine.connect() as conn:
        rows = conn.execute(
            sa.select(ev.c.id, ev.c.type_name, ev.c.timestamp, ev.c.intent_name, ev.c.data)
            .where(ev.c.sender_id == sender_id, ev.c.id > after_id)
            .order_by(ev.c.id).limit(MAX_TRANSCRIPT_EVENTS)).fetchall()
    items: list[dict[str, Any]] = []
    paused = False
    cn_sent: list[dict[str, Any]] = []
    helplines: list[str] = []
    for r in rows:
        kind = r.type_name
        if kind not in ("user", "bot", "slot", "pause", "resume", "restart"):
            continue
        data = parse_data(r.data)
        base = {"id": r.id, "ts": r.timestamp, "time": fmt_time(r.timestamp)}
        if kind == "user":
            pd = data.get("parse_data") or {}
            intent = user_intent(data, r.intent_name)
            confidence = (pd.get("intent") or {}).get("confidence")
            theme = intent[len("narrative_"):] if intent and intent.startswith("narrative_") else None
            items.append(base | {
                "kind": "user", "text": str(data.get("text") or ""), "intent": intent,
                "confidence": confidence if isinstance(confidence, (int, float)) else None,
                "theme": theme, "crisis": crisis_of(data, intent), "while_paused": paused})
        elif kind == "bot":
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            buttons = ((data.get("data") or {}).get("buttons") or []) if isinstance(data.get("data"), dict) else []
            item = base | {"kind": "worker" if is_worker_message(data) else "bot",
                           "text": str(data.get("text") or ""),
                           "buttons": [str(b.get("title", "")) for b in buttons if isinstance(b, dict)],
                           "worker": str(meta.get("worker") or "") if is_worker_message(data) else "",
                           "cn_id": meta.get("cn_id"), "cn_kind": meta.get("kind"),
                           "cn_theme": meta.get("theme"),
                           "helpline_ids": [str(h) for h in (meta.get("helpline_ids") or [])
                                            if isinstance(h, (str, int))],
                           "crisis_category": meta.get("crisis_category")}
            if item["cn_id"]:
                cn_sent.append({"id": str(item["cn_id"]), "theme": item["cn_theme"],
                                "kind": item["cn_kind"]})
            helplines.extend(h for h in item["helpline_ids"] if h not in helplines)
            items.append(item)
        elif kind == "slot":
            if data.get("name") == "risk_level" and data.get("value") in RISK_RANK:
                items.append(base | {"kind": "system", "text": f"risk level: {data['value']}"})
            elif data.get("name") == "risk_reasons" and isinstance(data.get("value"), list) and data["value"]:
                items.append(base | {"kind": "system",
                                     "text": "risk reasons: " + ", ".join(map(str, data["value"]))})
        elif kind == "pause":
            paused = True
            items.append(base | {"kind": "system", "text": "taken over by a person (bot paused)"})
        elif kind in ("resume", "restart"):
            paused = False
            items.append(base | {"kind": "system", "text": "handed back to the bot" if kind == "resume"
                                 else "conversation restarted"})
    return {"items": items, "cn_sent": cn_sent, "helplines": helplines,
            "last_id": rows[-1].id if rows else after_id, "truncated": len(rows) >= MAX_TRANSCRIPT_EVENTS}


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), tz=_UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def figures(engine, days: int = 30) -> dict[str, Any]:
    """Aggregates in SQL (portable SQLite/PostgreSQL); only small result sets reach Python."""
    c = t.conversations
    since = time.time() - days * 86400
    day = (sa.cast(c.c.first_ts, sa.Integer) / 86400).label("day")
    with engine.connect() as conn:
        agg = conn.execute(sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((c.c.n_user >= 5, 1), else_=0)),
            sa.func.coalesce(sa.func.sum(c.c.handoffs), 0),
            sa.func.sum(sa.case((c.c.crisis_ts.isnot(None), 1), else_=0)),
            sa.func.coalesce(sa.func.sum(c.c.n_crisis), 0),
        )).one()
        per_day_rows = conn.execute(sa.select(day, sa.func.count()).where(c.c.first_ts >= since)
                                    .group_by(day).order_by(day)).all()
        theme_rows = conn.execute(sa.select(c.c.themes_seen, sa.func.count())
                                  .where(c.c.themes_seen != "[]").group_by(c.c.themes_seen)).all()
        waits = [r[0] for r in conn.execute(
            sa.select(c.c.first_worker_ts - c.c.escalated_ts)
            .where(c.c.escalated_ts.isnot(None), c.c.first_worker_ts.isnot(None),
                   c.c.first_worker_ts >= c.c.escalated_ts))]
    total, engaged, handoffs, crisis_convs, crisis_msgs = (int(v or 0) for v in agg)
    themes: Counter = Counter()
    for seen, n in theme_rows:
        for th in json.loads(seen or "[]"):
            themes[th] += n
    per_day = [(datetime.fromtimestamp(int(d) * 86400, tz=_UTC).strftime("%Y-%m-%d"), n)
               for d, n in per_day_rows]
    return {
        "total": total, "per_day": per_day, "themes": themes.most_common(),
        "engaged_share": (engaged / total) if total else None, "engaged": engaged,
        "handoffs": handoffs, "crisis_conversations": crisis_convs, "crisis_messages": crisis_msgs,
        "median_first_reply_s": statistics.median(waits) if waits else None, "replied": len(waits),
        "days": days,
    }


def audit_log(engine, limit: int = 500) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.audit).order_by(t.audit.c.id.desc()).limit(limit)).fetchall()
    return [dict(r._mapping) | {"time": fmt_time(r.ts)} for r in rows]


def list_workers(engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.workers.c.id, t.workers.c.username, t.workers.c.role,
                                      t.workers.c.active, t.workers.c.created_at)
                            .order_by(t.workers.c.username)).fetchall()
    return [dict(r._mapping) for r in rows]
