"""`python -m dashboard.cli` and `python -m dashboard` as real processes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent


def env_for(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHBOARD_", "DATABASE_URL"))}
    env.update({"DATABASE_URL": f"sqlite:///{tmp_path}/dash.db",
                "TRACKER_DB_URL": f"sqlite:///{tmp_path}/rasa.db",
                "STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(ROOT),
                "RASA_API_TOKEN": "cli-test-token-0123456789abcdef0123456789"})
    env.update(extra)
    return env


def test_create_admin_from_env_and_refusals(tmp_path):
    cmd = [sys.executable, "-m", "dashboard.cli", "create-admin", "--username", "boss"]
    ok = subprocess.run(cmd, env=env_for(tmp_path, DASHBOARD_ADMIN_PASSWORD="a long enough password"),
                        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "admin 'boss' created" in ok.stdout and "a long enough password" not in ok.stdout + ok.stderr
    engine = sa.create_engine(f"sqlite:///{tmp_path}/dash.db")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT role, password_hash FROM workers WHERE username='boss'")).one()
    assert row.role == "admin" and row.password_hash.startswith("$argon2id$")
    again = subprocess.run(cmd, env=env_for(tmp_path, DASHBOARD_ADMIN_PASSWORD="a long enough password"),
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert again.returncode == 1 and "taken" in again.stderr
    short = subprocess.run([*cmd[:-1], "other"], env=env_for(tmp_path, DASHBOARD_ADMIN_PASSWORD="short"),
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert short.returncode == 1 and "12 characters" in short.stderr
    no_tty = subprocess.run([*cmd[:-1], "third"], env=env_for(tmp_path), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert no_tty.returncode != 0 and "DASHBOARD_ADMIN_PASSWORD" in no_tty.stderr


def test_python_m_dashboard_serves_and_creates_first_admin(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "dashboard"], cwd=ROOT,
                            env=env_for(tmp_path, DASHBOARD_PORT=str(port)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    assert resp.status == 200
                    assert resp.headers["X-Frame-Options"] == "DENY"
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "dashboard did not start"
                time.sleep(0.3)
        secret = tmp_path / "state" / "initial_admin_password"
        assert secret.exists() and oct(secret.stat().st_mode & 0o777) == "0o600"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert str(secret) in out
    assert secret.read_text().strip() not in out


def test_make_admin_without_username_uses_env_or_says_what_to_do(tmp_path):
    cmd = [sys.executable, "-m", "dashboard.cli", "create-admin"]
    ok = subprocess.run(cmd, env=env_for(tmp_path, DASHBOARD_ADMIN_USERNAME="chief",
                                         DASHBOARD_ADMIN_PASSWORD="another long password"),
                        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert ok.returncode == 0 and "admin 'chief' created" in ok.stdout
    missing = subprocess.run(cmd, env=env_for(tmp_path), stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert missing.returncode != 0 and "--username" in missing.stderr
