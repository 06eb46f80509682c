"""Run the whole service in the foreground: action server, Rasa server, dashboard.

Ctrl-C (or SIGTERM) stops every process it started; if one of them dies, the others are stopped
too, so the service is never half up. `python -m scripts.run` (the README's `make run`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, List

from scripts.settings import ROOT, load_settings

BIN = Path(sys.executable).parent


def commands(env: Dict[str, str]) -> Dict[str, List[str]]:
    return {
        "actions": [
            str(BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", env["ACTION_PORT"],
        ],
        "rasa": [
            str(BIN / "rasa"), "run", "--enable-api", "-i", env["RASA_HOST"], "-p", env["RASA_PORT"],
            "--jwt-secret", env["RASA_API_TOKEN"], "--jwt-method", "HS256",
            "--credentials", "credentials.yml", "--endpoints", "endpoints.yml",
            "--model", str(ROOT / "models" / "current.tar.gz"),
        ],
        "dashboard": [sys.executable, "-m", "dashboard"],
    }


def replica_plan(env: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    """Extra Rasa processes (``RASA_REPLICAS``, default 1 = none): name -> its environment.

    Replica i listens on RASA_PORT + i with no Telegram settings; the main Rasa process keeps the
    Telegram ingress and gets their URLs in TELEGRAM_TURN_REPLICAS, so each chat's turns run on
    one replica (docs/telegram.md). Replicas share the tracker store, so the lock store must be
    shared too: more than one replica needs LOCK_STORE_TYPE=redis."""
    try:
        count = int(env.get("RASA_REPLICAS", "1") or 1)
    except ValueError:
        raise SystemExit("[run] RASA_REPLICAS must be a whole number") from None
    if count <= 1:
        return {}
    if env.get("LOCK_STORE_TYPE") != "redis":
        raise SystemExit("[run] RASA_REPLICAS > 1 needs a shared lock store: set LOCK_STORE_TYPE=redis "
                         "(and REDIS_HOST / REDIS_PORT)")
    base = int(env["RASA_PORT"])
    plan = {}
    for i in range(1, count):
        replica_env = {k: v for k, v in env.items() if not k.startswith("TELEGRAM_")}
        replica_env["RASA_PORT"] = str(base + i)
        replica_env["RASA_HOST"] = "127.0.0.1"  # replicas serve only the ingress on this machine
        plan[f"rasa{i}"] = replica_env
    env["TELEGRAM_TURN_REPLICAS"] = ",".join(
        f"http://127.0.0.1:{e['RASA_PORT']}" for e in plan.values())
    if not env.get("TELEGRAM_BOT_TOKEN"):
        print("[run] RASA_REPLICAS > 1 without TELEGRAM_BOT_TOKEN: the replicas will take no "
              "turns (only the Telegram ingress routes to them)", file=sys.stderr, flush=True)
    # From three processes on, the ingress only receives and sends (unless set otherwise): its
    # event loop stays free for Telegram while the replicas run the turns.
    env.setdefault("TELEGRAM_INGRESS_TURNS", "0" if count >= 3 else "1")
    return plan


def wait_http(url: str, timeout: float, should_stop=lambda: False) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and not should_stop():
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 (loopback only)
                if resp.status < 500:
                    return True
        except Exception:
            time.sleep(1)
    return False


def main() -> int:
    env = load_settings()
    os.chdir(ROOT)
    procs: Dict[str, subprocess.Popen] = {}
    stopping = False

    def stop_all(*_args: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.time() + 15
        for proc in procs.values():
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()

    interrupted = False

    def on_signal(*_args: object) -> None:
        nonlocal interrupted
        interrupted = True

    # Ctrl-C reaches the whole process group: note it, stop everything in order, exit 0.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        replicas = replica_plan(env)
        for name, replica_env in replicas.items():
            procs[name] = subprocess.Popen(commands(replica_env)["rasa"], cwd=ROOT, env=replica_env)
        for name, cmd in commands(env).items():
            procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env)
        if replicas:
            print(f"[run] {len(replicas)} more Rasa replica(s) on :"
                  + ", :".join(e["RASA_PORT"] for e in replicas.values()), flush=True)
        print("[run] starting: action server :%s, Rasa :%s, dashboard :%s (Rasa takes ~1 min)"
              % (env["ACTION_PORT"], env["RASA_PORT"], env["DASHBOARD_PORT"]), flush=True)
        def gone() -> bool:
            return interrupted or any(p.poll() is not None for p in procs.values())

        ready = all(wait_http(f"http://127.0.0.1:{port}/", 240, gone) for port in
                    [env["RASA_PORT"], *(e["RASA_PORT"] for e in replicas.values())])
        if ready and not interrupted:
            print(f"[run] ready. Dashboard and test chat: http://127.0.0.1:{env['DASHBOARD_PORT']}/"
                  "  (first admin password: state/initial_admin_password)", flush=True)
            if not env.get("TELEGRAM_BOT_TOKEN"):
                print("[run] Telegram is off (no TELEGRAM_BOT_TOKEN): use the test chat.", flush=True)
        while True:
            if interrupted:
                print("\n[run] stopping...", flush=True)
                stop_all()
                return 0
            for name, proc in procs.items():
                code = proc.poll()
                if code is not None and not interrupted:
                    print(f"[run] {name} exited with {code}; stopping everything", file=sys.stderr)
                    stop_all()
                    return code or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n[run] stopping...", flush=True)
        stop_all()
        return 0


if __name__ == "__main__":
    sys.exit(main())
