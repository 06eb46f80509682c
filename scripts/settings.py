"""Effective settings for every process: environment first, then `.env`, then safe defaults.

Secrets that are not set are generated once into `state/secrets.env` (git-ignored, mode 0600), so a
new user can start everything with one command and nothing secret ever lives in the repository.
`python -m scripts.settings` prints the non-secret settings (for debugging).
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Dict, Mapping, Optional

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "state"

SECRET_NAMES = ("RASA_API_TOKEN", "PSEUDONYM_KEY", "DASHBOARD_SECRET_KEY")

DEFAULTS: Dict[str, str] = {
    "RASA_HOST": "127.0.0.1",
    "RASA_PORT": "5005",
    "ACTION_PORT": "5055",
    "DASHBOARD_PORT": "8080",
    "TRACKER_DB_URL": f"sqlite:///{STATE / 'rasa.db'}",
    "CONNECTOR_DB_URL": f"sqlite:///{STATE / 'connector.db'}",
    "DATABASE_URL": f"sqlite:///{STATE / 'dashboard.db'}",
    "LOCK_STORE_TYPE": "in_memory",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_DB": "1",
    "SESSION_EXPIRATION_MINUTES": "1440",
    "RETENTION_DAYS": "30",
    "OPERATOR_NAME": "Counter-narrative demo operator (configure OPERATOR_NAME)",
    "OPERATOR_CONTACT": "configure OPERATOR_CONTACT",
    "TELEGRAM_BOT_TOKEN": "",
    "TELEGRAM_API_BASE_URL": "https://api.telegram.org/bot",
    "TELEGRAM_WEBHOOK_URL": "",
    "TELEGRAM_WEBHOOK_SECRET": "",
    "DASHBOARD_SECURE_COOKIES": "false",
    "RASA_TELEMETRY_ENABLED": "false",
    "ACTION_TIMEOUT_SECONDS": "5",
}


def _read_env_file(path: Path) -> Dict[str, str]:
    values: Dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def _ensure_secrets(env: Dict[str, str], state_dir: Path) -> None:
    secret_file = state_dir / "secrets.env"
    stored = _read_env_file(secret_file)
    changed = False
    for name in SECRET_NAMES:
        if env.get(name):
            continue
        if not stored.get(name):
            stored[name] = secrets.token_urlsafe(32)
            changed = True
        env[name] = stored[name]
    if changed:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = secret_file.with_suffix(".tmp")
        tmp.write_text(
            "# generated once by scripts/settings.py; keep private\n"
            + "".join(f"{k}={v}\n" for k, v in sorted(stored.items())),
            encoding="utf-8",
        )
        os.chmod(tmp, 0o600)
        tmp.replace(secret_file)


def load_settings(
    environ: Optional[Mapping[str, str]] = None, state_dir: Optional[Path] = None
) -> Dict[str, str]:
    """Return the complete environment for the service's processes."""
    environ = dict(os.environ if environ is None else environ)
    state_dir = state_dir or STATE
    env: Dict[str, str] = dict(DEFAULTS)
    env.update({k: v for k, v in _read_env_file(ROOT / ".env").items() if v != ""})
    env.update({k: v for k, v in environ.items() if v != "" or k not in DEFAULTS})
    _ensure_secrets(env, state_dir)
    env.setdefault("RASA_URL", f"http://{env['RASA_HOST']}:{env['RASA_PORT']}")
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{env['ACTION_PORT']}/webhook")
    env.setdefault("DASHBOARD_URL", f"http://127.0.0.1:{env['DASHBOARD_PORT']}")
    env["RASA_TELEMETRY_ENABLED"] = "false"
    env.setdefault("SANIC_HOST", "127.0.0.1")
    env.setdefault("PYTHONPATH", str(ROOT))
    if str(ROOT) not in env["PYTHONPATH"].split(os.pathsep):
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env["PYTHONPATH"]
    return env


def main() -> int:
    env = load_settings()
    for key in sorted(DEFAULTS):
        value = env.get(key, "")
        if key in SECRET_NAMES or "TOKEN" in key or "SECRET" in key or "KEY" in key:
            value = "<set>" if value else "<unset>"
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
