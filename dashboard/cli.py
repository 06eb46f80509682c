"""Admin commands.

    python -m dashboard.cli create-admin --username NAME
        Password from $DASHBOARD_ADMIN_PASSWORD, else prompted twice (never echoed).
        Without --username: $DASHBOARD_ADMIN_USERNAME, else prompted (so `make admin` works).
    python -m dashboard.cli create-worker --username NAME --role worker|supervisor|admin
    python -m dashboard.cli migrate
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from . import auth
from .config import Settings
from .db import Database


def _username(given) -> str:
    if given:
        return given
    env = os.environ.get("DASHBOARD_ADMIN_USERNAME")
    if env:
        return env
    if not sys.stdin.isatty():
        raise SystemExit("Give --username NAME (or set DASHBOARD_ADMIN_USERNAME).")
    return input("Username: ").strip()


def _password() -> str:
    env = os.environ.get("DASHBOARD_ADMIN_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        raise SystemExit("Set DASHBOARD_ADMIN_PASSWORD or run this in a terminal to type the password.")
    first = getpass.getpass("Password (12+ characters): ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("The two passwords differ.")
    return first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p1 = sub.add_parser("create-admin", help="create an admin account")
    p1.add_argument("--username")
    p2 = sub.add_parser("create-worker", help="create a worker account")
    p2.add_argument("--username")
    p2.add_argument("--role", default="worker", choices=auth.ROLES)
    sub.add_parser("migrate", help="apply database migrations")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    database = Database(settings.database_url, settings.tracker_db_url, workers=1)
    try:
        applied = database.migrate()
        if args.cmd == "migrate":
            print(f"migrations applied: {applied or 'none pending'}")
            return 0
        role = "admin" if args.cmd == "create-admin" else args.role
        username = _username(args.username)
        try:
            auth.create_worker(database.engine, username, _password(), role)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        auth.audit(database.engine, "create_worker", None, None, f"username={username}; cli",
                   username="cli")
        print(f"{role} '{username}' created.")
        return 0
    finally:
        database.close()


if __name__ == "__main__":
    sys.exit(main())
