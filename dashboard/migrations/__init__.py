"""Numbered schema migrations for the dashboard's own tables.

Each module ``mNNNN_<name>.py`` defines ``VERSION`` and ``upgrade(conn)``. Applied versions are
recorded in ``dashboard_schema_version``. Migrations are written with SQLAlchemy Core so that the
same code runs on SQLite and PostgreSQL. Never edit an applied migration: add a new one.
"""
from __future__ import annotations

import importlib
import pkgutil
import time

import sqlalchemy as sa

_version_meta = sa.MetaData()
schema_version = sa.Table(
    "dashboard_schema_version",
    _version_meta,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("applied_at", sa.Float, nullable=False),
)


def available() -> list[tuple[int, str, object]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            mod = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(mod.VERSION), info.name, mod))
    found.sort(key=lambda item: item[0])
    return found


def upgrade(engine: sa.engine.Engine) -> list[int]:
    """Apply every pending migration, each in its own transaction. Returns applied versions."""
    _version_meta.create_all(engine)
    applied_now = []
    with engine.connect() as conn:
        done = {row[0] for row in conn.execute(sa.select(schema_version.c.version))}
    for version, name, mod in available():
        if version in done:
            continue
        with engine.begin() as conn:
            mod.upgrade(conn)
            conn.execute(
                schema_version.insert().values(version=version, name=name, applied_at=time.time())
            )
        applied_now.append(version)
    return applied_now
