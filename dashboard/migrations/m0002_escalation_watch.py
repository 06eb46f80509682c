"""Escalation watch: when the current escalation started, when it was resolved, when a claim
ended and when it was flagged overdue (all on ``conversations``).

Written by the projection: ``esc_start_ts``/``esc_start_id`` (first escalation signal of the current
episode) and ``esc_last_ts``/``esc_last_id`` (latest signal). Written by the dashboard only:
``esc_resolved_id`` (tracker event id up to which a worker resolved it by hand-back or close),
``claim_ended_at`` and ``overdue_at``.

Existing escalations are carried over from ``escalated_ts`` and marked as already flagged, so an
upgrade does not raise one alert (and one audit row) per old conversation at once.
"""
import time

import sqlalchemy as sa

VERSION = 2

COLUMNS = (("esc_start_ts", "FLOAT"), ("esc_start_id", "INTEGER"), ("esc_last_ts", "FLOAT"),
           ("esc_last_id", "INTEGER"), ("esc_resolved_id", "INTEGER"), ("claim_ended_at", "FLOAT"),
           ("overdue_at", "FLOAT"))


def upgrade(conn) -> None:
    for name, sql_type in COLUMNS:  # fixed names and types: nothing from outside goes into the DDL
        conn.execute(sa.text(f"ALTER TABLE conversations ADD COLUMN {name} {sql_type}"))
    conn.execute(sa.text(
        "UPDATE conversations SET esc_start_ts = COALESCE(escalated_ts, last_ts), "
        "esc_last_ts = COALESCE(escalated_ts, last_ts), esc_start_id = last_event_id, "
        "esc_last_id = last_event_id, overdue_at = :now "
        "WHERE human_requested = :yes OR crisis_ts IS NOT NULL OR paused = :yes"),
        {"now": time.time(), "yes": True})
