"""Run the conversation tests (tests/test_*.yml) and refuse a run that evaluated nothing.

Rasa only picks up test files named `test_*.yml` and quietly reports "0 stories" otherwise
(RasaHQ/rasa#9850): this wrapper counts the stories in those files and checks Rasa evaluated
exactly that many, all correct (`--fail-on-prediction-errors`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
OUT = ROOT / "results" / "conversation"


def count_stories() -> int:
    total = 0
    for path in sorted(TESTS.glob("test_*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        total += len(data.get("stories") or [])
    return total


def main() -> int:
    expected = count_stories()
    if expected == 0:
        print("no conversation tests found in tests/test_*.yml", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(ROOT))
    rasa = Path(sys.executable).parent / "rasa"
    cmd = [
        str(rasa), "test", "core", "--stories", str(TESTS), "--model", str(ROOT / "models" / "current.tar.gz"),
        "--out", str(OUT), "--fail-on-prediction-errors", "--no-plot",
    ]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    match = re.search(r"CONVERSATION level:\s*\n.*?Correct:\s*(\d+)\s*/\s*(\d+)", output)
    correct, evaluated = (int(match.group(1)), int(match.group(2))) if match else (None, None)
    print("\n".join(line for line in output.splitlines() if "Correct:" in line or "error" in line.lower())[-4000:])
    failed = OUT / "failed_test_stories.yml"
    if result.returncode != 0:
        if failed.exists():
            print(failed.read_text()[:6000])
        print(f"conversation tests FAILED (exit {result.returncode})", file=sys.stderr)
        return 1
    if evaluated is None:
        print("could not read how many stories Rasa evaluated", file=sys.stderr)
        return 1
    if evaluated != expected or correct != expected:
        print(f"Rasa evaluated {evaluated} stories ({correct} correct) but tests/test_*.yml hold {expected}", file=sys.stderr)
        return 1
    print(f"conversation tests: {correct} passed, {evaluated - correct} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
