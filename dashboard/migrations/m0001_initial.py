"""Initial schema: workers, sessions, login attempts, notes, tags, assignments, audit, projection."""
import sqlalchemy as sa

VERSION = 1


def upgrade(conn) -> None:
    meta = sa.MetaData()
    sa.Table(
        "workers", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, default=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    sa.Table(
        "sessions", meta,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("worker_id", sa.Integer, nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("web_sender", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
    )
    sa.Table(
        "login_attempts", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_key", sa.String(64), nullable=False, index=True),
        sa.Column("ip_key", sa.String(64), nullable=False, index=True),
        sa.Column("ts", sa.Float, nullable=False, index=True),
    )
    sa.Table(
        "notes", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender_id", sa.String(255), nullable=False, index=True),
        sa.Column("worker_id", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    sa.Table(
        "tags", meta,
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("tag", sa.String(40), primary_key=True),
        sa.Column("worker_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    sa.Table(
        "assignments", meta,
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("worker_id", sa.Integer, nullable=False),
        sa.Column("claimed_at", sa.Float, nullable=False),
    )
    sa.Table(
        "audit", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False, index=True),
        sa.Column("worker_id", sa.Integer, nullable=True),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=True),
        sa.Column("detail", sa.String(255), nullable=True),
    )
    conversations = sa.Table(
        "conversations", meta,
        sa.Column("sender_id", sa.String(255), primary_key=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("first_ts", sa.Float, nullable=False),
        sa.Column("last_ts", sa.Float, nullable=False),
        sa.Column("last_user_ts", sa.Float, nullable=True),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.Column("n_user", sa.Integer, nullable=False, default=0),
        sa.Column("n_bot", sa.Integer, nullable=False, default=0),
        sa.Column("n_worker", sa.Integer, nullable=False, default=0),
        sa.Column("risk_level", sa.String(10), nullable=False, default="none"),
        sa.Column("risk_rank", sa.Integer, nullable=False, default=0),
        sa.Column("risk_reasons", sa.Text, nullable=False, default="[]"),
        sa.Column("theme", sa.String(64), nullable=True),
        sa.Column("themes_seen", sa.Text, nullable=False, default="[]"),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("paused", sa.Boolean, nullable=False, default=False),
        sa.Column("paused_since", sa.Float, nullable=True),
        sa.Column("human_requested", sa.Boolean, nullable=False, default=False),
        sa.Column("crisis_category", sa.String(32), nullable=True),
        sa.Column("crisis_ts", sa.Float, nullable=True),
        sa.Column("n_crisis", sa.Integer, nullable=False, default=0),
        sa.Column("escalated_ts", sa.Float, nullable=True),
        sa.Column("first_worker_ts", sa.Float, nullable=True),
        sa.Column("handoffs", sa.Integer, nullable=False, default=0),
        sa.Column("closed_at", sa.Float, nullable=True),
    )
    sa.Index("ix_conversations_queue", conversations.c.risk_rank, conversations.c.last_ts)
    sa.Index("ix_conversations_first_ts", conversations.c.first_ts)
    sa.Table(
        "projection_state", meta,
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    meta.create_all(conn)
