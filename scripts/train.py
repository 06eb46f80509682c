"""Train the Rasa model only when config.yml, domain.yml, data/ or the custom components changed.

The fingerprint of those inputs is stored next to the model (models/.fingerprint); an unchanged bot
starts without retraining. A file lock keeps two trainings from running at once.
`python -m scripts.train [--force]`
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
FINGERPRINT_FILE = MODELS / ".fingerprint"
INPUTS = ["config.yml", "domain.yml", "data", "components"]
MODEL_NAME = "current"


def fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        path = ROOT / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    digest.update((ROOT / "requirements.txt").read_bytes())
    return digest.hexdigest()


def model_path() -> Path:
    return MODELS / f"{MODEL_NAME}.tar.gz"


def is_current() -> bool:
    return (
        model_path().exists()
        and FINGERPRINT_FILE.exists()
        and FINGERPRINT_FILE.read_text().strip() == fingerprint()
    )


def train(force: bool = False) -> int:
    MODELS.mkdir(exist_ok=True)
    with open(MODELS / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_current():
            print("[train] model is up to date (models/current.tar.gz)")
            return 0
        want = fingerprint()
        print("[train] training the model (config, domain or data changed)...", flush=True)
        started = time.time()
        env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(ROOT))
        rasa = Path(sys.executable).parent / "rasa"
        cmd = [
            str(rasa), "train", "--config", "config.yml", "--domain", "domain.yml",
            "--data", "data", "--out", str(MODELS), "--fixed-model-name", MODEL_NAME,
        ]
        result = subprocess.run(cmd, cwd=ROOT, env=env)
        if result.returncode != 0:
            print("[train] training FAILED", file=sys.stderr)
            return result.returncode
        FINGERPRINT_FILE.write_text(want)
        print(f"[train] done in {time.time() - started:.0f} s", flush=True)
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")
    parser.add_argument("--check", action="store_true", help="exit 1 if the model is stale")
    args = parser.parse_args()
    if args.check:
        return 0 if is_current() else 1
    return train(force=args.force)


if __name__ == "__main__":
    sys.exit(main())
