"""Start the real action server and the real Rasa server for end-to-end tests and benchmarks.

Usage (pytest, a session fixture)::

    from tests.stack import RasaStack

    @pytest.fixture(scope="session")
    def stack(tmp_path_factory):
        with RasaStack(env={"TELEGRAM_BOT_TOKEN": ..., "TELEGRAM_API_BASE_URL": ...},
                       workdir=tmp_path_factory.mktemp("stack")) as s:
            yield s

    stack.rasa_url          # "http://127.0.0.1:<port>"
    stack.action_url        # "http://127.0.0.1:<port>"
    stack.env               # the full environment both processes got (RASA_API_TOKEN, ...)
    stack.auth_headers()    # {"Authorization": "Bearer <JWT>"} for Rasa's HTTP API
    stack.operator_headers()  # {"Authorization": "Bearer $RASA_API_TOKEN"} for the connector
    stack.restart_rasa(kill=True)  # SIGKILL Rasa (a crash) and start it again on the same port
    stack.tail_log("rasa")  # last lines of a process log (for assertion messages)

`RasaStack(..., profile_to=path)` runs Rasa under cProfile; the stats file is written on stop().
`RasaStack(..., replicas=2)` also starts Rasa replicas ("rasa1", ...) on free ports, without
Telegram settings, and gives the main Rasa `TELEGRAM_TURN_REPLICAS` (their URLs): the main one is
the Telegram ingress and routes each chat's turns to one replica (docs/telegram.md). Pass
`LOCK_STORE_TYPE=redis` in `env` with more than one replica; `stack.replica_urls` lists all.

What it does:
- Picks FREE loopback ports for both servers (unless `rasa_port` / `action_port` are given).
- Builds the environment from `scripts.settings.load_settings` (defaults and generated secrets in
  `<workdir>/state`), with every database in `workdir` (TRACKER_DB_URL, CONNECTOR_DB_URL,
  DATABASE_URL), telemetry off, no TELEGRAM_* from the caller's shell unless passed in `env`, and
  a DASHBOARD_URL pointing at a closed port unless given. `env` entries win over everything.
- Runs `rasa run actions --actions actions` and `rasa run --enable-api -i 127.0.0.1 --jwt-secret
  $RASA_API_TOKEN --credentials credentials.yml --endpoints endpoints.yml --model <model>` from the
  repository root, logs to `<workdir>/<name>.log`.
- Ready when the action server's `/health` answers and Rasa's `/status` reports a loaded model
  (and, when a Telegram token is set, `/webhooks/telegram/` says the channel is running).
  Raises `StackError` with the log tail if a process dies or `ready_timeout` passes.
- It never trains: it copies the model file given (or the newest in `models/`) into `workdir`, so a
  retraining during the run changes nothing; without a model it raises `StackError` (use
  `pytest.skip` on it in tests, or run `make train`).
- `stop()` sends SIGINT, waits, then SIGKILL; only the processes this object started.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"


class StackError(RuntimeError):
    """A server did not start (the message carries the log tail)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def latest_model(model: Optional[Path] = None) -> Path:
    """The model file to serve: `model` itself, or the newest `*.tar.gz` in it / in `models/`."""
    path = Path(model) if model else ROOT / "models"
    if path.is_file():
        return path
    candidates = sorted(path.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime) if path.is_dir() else []
    if not candidates:
        raise StackError(f"no trained model in {path} (run `make train`)")
    return candidates[-1]


def make_jwt(secret: str) -> str:
    import jwt  # PyJWT, installed with Rasa

    return jwt.encode({"user": {"username": "dashboard", "role": "admin"}}, secret,
                      algorithm="HS256")


def _get(url: str, headers: Optional[Mapping[str, str]] = None, timeout: float = 3.0) -> tuple:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


class RasaStack:
    """The action server + Rasa server pair (see module docstring)."""

    def __init__(
        self,
        env: Optional[Mapping[str, str]] = None,
        model: Optional[Path] = None,
        workdir: Optional[Path] = None,
        rasa_port: Optional[int] = None,
        action_port: Optional[int] = None,
        ready_timeout: float = 420.0,
        start_actions: bool = True,
        profile_to: Optional[Path] = None,
        replicas: int = 1,
    ) -> None:
        import tempfile

        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stack-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A private copy: `make train` may replace models/ while this stack runs or restarts.
        source = latest_model(model)
        self.model = self.workdir / source.name
        if source.resolve() != self.model.resolve():
            shutil.copy2(source, self.model)
        self.rasa_port = rasa_port or free_port()
        self.action_port = action_port or free_port()
        self.ready_timeout = ready_timeout
        self.start_actions = start_actions
        self.profile_to = Path(profile_to) if profile_to else None
        self.replica_ports = [free_port() for _ in range(max(0, replicas - 1))]
        overrides = dict(env or {})
        if self.replica_ports:
            overrides.setdefault("TELEGRAM_TURN_REPLICAS", ",".join(
                f"http://127.0.0.1:{port}" for port in self.replica_ports))
            # As scripts/run.py: from three processes on, the ingress runs no turns itself.
            overrides.setdefault("TELEGRAM_INGRESS_TURNS", "0" if replicas >= 3 else "1")
        self.env = self._build_env(overrides)
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        self.replica_urls = [self.rasa_url] + [f"http://127.0.0.1:{p}" for p in self.replica_ports]
        self.action_url = f"http://127.0.0.1:{self.action_port}"
        self._procs: Dict[str, subprocess.Popen] = {}
        self._logs: Dict[str, Any] = {}

    # -- environment -----------------------------------------------------------------------
    def _build_env(self, overrides: Dict[str, str]) -> Dict[str, str]:
        import sys

        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from scripts.settings import load_settings

        base = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
        for key in ("TRACKER_DB_URL", "CONNECTOR_DB_URL", "DATABASE_URL", "RASA_PORT",
                    "ACTION_PORT", "ACTION_ENDPOINT_URL", "RASA_URL", "DASHBOARD_URL"):
            base.pop(key, None)
        wd = self.workdir
        base.update({
            "RASA_PORT": str(self.rasa_port),
            "ACTION_PORT": str(self.action_port),
            "TRACKER_DB_URL": f"sqlite:///{wd / 'rasa.db'}",
            "CONNECTOR_DB_URL": f"sqlite:///{wd / 'connector.db'}",
            "DATABASE_URL": f"sqlite:///{wd / 'dashboard.db'}",
            "DASHBOARD_URL": f"http://127.0.0.1:{free_port()}",
            "RASA_API_TOKEN": overrides.get("RASA_API_TOKEN") or secrets.token_urlsafe(24),
            "PSEUDONYM_KEY": overrides.get("PSEUDONYM_KEY") or secrets.token_urlsafe(24),
        })
        env = load_settings(environ=base, state_dir=wd / "state")
        env.update({k: str(v) for k, v in overrides.items()})
        env["RASA_TELEMETRY_ENABLED"] = "false"
        env["SANIC_HOST"] = "127.0.0.1"
        env["ACTION_ENDPOINT_URL"] = f"http://127.0.0.1:{self.action_port}/webhook"
        env.setdefault("PYTHONPATH", str(ROOT))
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def auth_headers(self) -> Dict[str, str]:
        return {"Authorization": "Bearer " + make_jwt(self.env["RASA_API_TOKEN"])}

    def operator_headers(self) -> Dict[str, str]:
        return {"Authorization": "Bearer " + self.env["RASA_API_TOKEN"]}

    # -- processes -------------------------------------------------------------------------
    def _spawn(self, name: str, args: list) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs[name] = log
        self._procs[name] = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)

    def start_action_server(self) -> None:
        self._spawn("actions", [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions",
                                "--port", str(self.action_port)])

    def start_rasa(self) -> None:
        prefix = [str(VENV_BIN / "rasa")]
        if self.profile_to is not None:  # cProfile writes its stats when Rasa stops (SIGINT)
            prefix = [str(VENV_BIN / "python"), "-m", "cProfile", "-o", str(self.profile_to),
                      str(VENV_BIN / "rasa")]
        self._spawn("rasa", [*prefix, *self._rasa_args(self.rasa_port)])

    def _rasa_args(self, port: int) -> list:
        return ["run", "--enable-api", "-i", "127.0.0.1",
                "-p", str(port), "--jwt-secret", self.env["RASA_API_TOKEN"],
                "--credentials", "credentials.yml", "--endpoints", "endpoints.yml",
                "--model", str(self.model)]

    def start_replicas(self) -> None:
        """Rasa replicas that run turns for the main one: same stores, no Telegram of their own."""
        env = {k: v for k, v in self.env.items() if not k.startswith("TELEGRAM_")}
        for i, port in enumerate(self.replica_ports, start=1):
            log = open(self.workdir / f"rasa{i}.log", "ab")  # noqa: SIM115 - closed in stop()
            self._logs[f"rasa{i}"] = log
            self._procs[f"rasa{i}"] = subprocess.Popen(
                [str(VENV_BIN / "rasa"), *self._rasa_args(port)], cwd=ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def start(self) -> "RasaStack":
        try:
            if self.start_actions:
                self.start_action_server()
            self.start_replicas()
            self.start_rasa()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        want_telegram = bool(self.env.get("TELEGRAM_BOT_TOKEN"))
        pending = {"rasa"} | ({"actions"} if self.start_actions else set())
        replicas = {f"rasa{i}": url for i, url in enumerate(self.replica_urls[1:], start=1)
                    if f"rasa{i}" in self._procs}
        pending |= set(replicas)
        while pending:
            for name, proc in self._procs.items():
                if proc.poll() is not None and name in pending:
                    raise StackError(f"{name} exited with {proc.returncode}:\n{self.tail_log(name)}")
            if "actions" in pending and _get(f"{self.action_url}/health")[0] == 200:
                pending.discard("actions")
            if "rasa" in pending:
                status, body = _get(f"{self.rasa_url}/status", self.auth_headers())
                if status == 200 and b"model_file" in body:
                    if not want_telegram or b'"running":true' in _get(
                            f"{self.rasa_url}/webhooks/telegram/")[1].replace(b" ", b""):
                        pending.discard("rasa")
            for name, url in replicas.items():
                if name in pending:
                    status, body = _get(f"{url}/status", self.auth_headers())
                    if status == 200 and b"model_file" in body:
                        pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise StackError(f"{sorted(pending)} not ready after {self.ready_timeout:.0f}s:\n"
                                 + "\n".join(self.tail_log(n) for n in pending))
            if pending:
                time.sleep(0.5)

    def stop_process(self, name: str, kill: bool = False, timeout: float = 30.0) -> None:
        proc = self._procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGINT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    def restart_rasa(self, kill: bool = True) -> None:
        """Stop Rasa (SIGKILL = a crash, by default) and start it again on the same port."""
        self.stop_process("rasa", kill=kill)
        self.start_rasa()
        self.wait_ready()

    def stop(self) -> None:
        for name in ["rasa", *[n for n in list(self._procs) if n.startswith("rasa") and n != "rasa"],
                     "actions"]:
            self.stop_process(name)

    def tail_log(self, name: str, lines: int = 40) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return f"({name}: no log)"
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return f"--- {name}.log ---\n" + "\n".join(text[-lines:])

    def __enter__(self) -> "RasaStack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
