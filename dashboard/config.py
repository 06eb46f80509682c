"""Dashboard settings, read from the environment (never at import time)."""
from __future__ import annotations

import ipaddress
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def resolve_db_url(url: str, root: Path = REPO_ROOT) -> str:
    """Make relative SQLite paths relative to the repository root (as the README documents)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////"):
        rest = url[len(prefix):]
        if rest and rest != ":memory:" and not rest.startswith("file:"):
            return prefix + str((root / rest).resolve())
    return url


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str) -> tuple[Network, ...]:
    """``"10.0.0.1, 192.168.0.0/16, ::1"`` -> networks. A wrong entry is an error at start: a
    proxy list that silently trusts less (or more) than written is worse than a refusal."""
    nets = []
    for item in (value or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"DASHBOARD_TRUSTED_PROXIES: {item!r} is not an IP address or CIDR") from None
    return tuple(nets)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    return max(0.0, value)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    return raw in _TRUE if raw else default


@dataclass
class Settings:
    database_url: str
    tracker_db_url: str
    rasa_url: str
    rasa_api_token: str
    secret_key: str
    secure_cookies: bool = False
    port: int = 8080
    host: str = "127.0.0.1"
    operator_name: str = "Outreach team"
    pseudonym_key: str = ""
    state_dir: Path = field(default_factory=lambda: REPO_ROOT / "state")
    content_dir: Path = field(default_factory=lambda: REPO_ROOT / "content")
    poll_interval: float = 0.5
    idle_timeout: int = 30 * 60
    absolute_timeout: int = 12 * 3600
    http_timeout: float = 10.0
    sse_keepalive: float = 15.0
    queue_page_size: int = 100
    # login throttling: failures within the window before refusing
    throttle_window: int = 15 * 60
    throttle_per_user: int = 5
    throttle_per_ip: int = 20
    create_initial_admin: bool = True
    start_projection: bool = True
    # Unclaimed escalations: overdue after this many seconds (0 turns the watch off); a paused
    # conversation nobody has claimed is then handed back to the bot (when hand_back is on).
    escalation_timeout: float = 15 * 60
    escalation_hand_back: bool = True
    escalation_check_interval: float = 15.0  # seconds between checks; 0 = no background task
    # Reverse proxies whose X-Forwarded-For is believed (empty: nobody's).
    trusted_proxies: tuple[Network, ...] = ()
    # Wall clock of the dashboard's own decisions (tests move it instead of sleeping).
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        rasa_port = env.get("RASA_PORT", "5005")
        state_dir = Path(env.get("STATE_DIR", str(REPO_ROOT / "state")))
        secret = env.get("DASHBOARD_SECRET_KEY", "")
        if not secret:
            # The lead's scripts/settings.py normally provides one; a process-local key still
            # works (sessions are server-side and simply end when the process restarts).
            secret = secrets.token_urlsafe(32)
        return cls(
            database_url=resolve_db_url(env.get("DATABASE_URL", "sqlite:///state/dashboard.db")),
            tracker_db_url=resolve_db_url(env.get("TRACKER_DB_URL", "sqlite:///state/rasa.db")),
            rasa_url=env.get("RASA_URL", f"http://127.0.0.1:{rasa_port}").rstrip("/"),
            rasa_api_token=env.get("RASA_API_TOKEN", ""),
            secret_key=secret,
            secure_cookies=env.get("DASHBOARD_SECURE_COOKIES", "").strip().lower() in _TRUE,
            port=int(env.get("DASHBOARD_PORT", "8080")),
            operator_name=env.get("OPERATOR_NAME", "Outreach team"),
            pseudonym_key=env.get("PSEUDONYM_KEY", ""),
            state_dir=state_dir,
            escalation_timeout=_seconds(env, "DASHBOARD_ESCALATION_TIMEOUT_S", 15 * 60),
            escalation_hand_back=_flag(env, "DASHBOARD_ESCALATION_HAND_BACK", True),
            trusted_proxies=parse_networks(env.get("DASHBOARD_TRUSTED_PROXIES", "")),
        )
