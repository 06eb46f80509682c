"""NLU evaluation on the held-out files (never trained on) -> reports/nlu_eval.json.

`make eval` (or `python -m scripts.evaluate [--cv-folds 3]`). Reports:
- intents: precision/recall/F1 per intent, macro-F1, accuracy, per language (en/fr by detection);
- themes (narrative_* intents): per-theme P/R/F1 and macro-F1, overall and per language;
- fallback rate (share of held-out messages answered with nlu_fallback);
- crisis (eval/heldout_crisis.yml): recall and precision per category and language, look-alike
  false alarms;
- optionally cross-validated F1 on the training data (`rasa test nlu --cross-validation`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import yaml

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "nlu_eval.json"
THEME_PREFIX = "narrative_"
CRISIS = ("crisis_self_harm", "crisis_violence_intent", "crisis_travel_intent")


def load_examples(path: Path) -> List[Tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                out.append((line[2:].strip(), block["intent"]))
    return out


def prf(gold: List[str], pred: List[str], labels: List[str]) -> Dict[str, Dict[str, float]]:
    out = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}
    return out


def macro(per_label: Dict[str, Dict[str, float]]) -> float:
    rows = [v for v in per_label.values() if v["support"]]
    return round(sum(v["f1"] for v in rows) / len(rows), 4) if rows else 0.0


async def predict(texts: List[str]) -> List[Dict]:
    from rasa.core.agent import load_agent

    agent = await load_agent(model_path=str(ROOT / "models" / "current.tar.gz"))
    return [await agent.parse_message(text) for text in texts]


def language_of(text: str) -> str:
    from actions.language import detect_language

    return detect_language(text, previous="en")[0]


def intent_section(examples: List[Tuple[str, str]], parses: List[Dict]) -> Dict:
    gold = [g for _t, g in examples]
    pred = [p["intent"]["name"] for p in parses]
    langs = [language_of(t) for t, _g in examples]
    labels = sorted(set(gold))
    themes = [label for label in labels if label.startswith(THEME_PREFIX)]
    section: Dict = {"n": len(gold)}
    section["accuracy"] = round(sum(g == p for g, p in zip(gold, pred)) / len(gold), 4)
    section["fallback_rate"] = round(sum(p == "nlu_fallback" for p in pred) / len(pred), 4)
    section["intents"] = prf(gold, pred, labels)
    section["intent_macro_f1"] = macro(section["intents"])
    section["themes"] = prf(gold, pred, themes)
    section["theme_macro_f1"] = macro(section["themes"])
    section["per_language"] = {}
    for lang in ("en", "fr"):
        idx = [i for i, lg in enumerate(langs) if lg == lang]
        g = [gold[i] for i in idx]
        p = [pred[i] for i in idx]
        themes_lang = prf(g, p, themes)
        section["per_language"][lang] = {
            "n": len(idx),
            "accuracy": round(sum(a == b for a, b in zip(g, p)) / max(1, len(g)), 4),
            "fallback_rate": round(sum(x == "nlu_fallback" for x in p) / max(1, len(p)), 4),
            "intent_macro_f1": macro(prf(g, p, labels)),
            "theme_macro_f1": macro(themes_lang),
            "min_theme_recall": min((v["recall"] for v in themes_lang.values() if v["support"]), default=None),
            "themes_below_0.85_recall": sorted(k for k, v in themes_lang.items() if v["support"] and v["recall"] < 0.85),
        }
    section["errors"] = [
        {"text": t, "gold": g, "pred": p} for (t, g), p in zip(examples, pred) if g != p
    ][:300]
    return section


def crisis_section(examples: List[Tuple[str, str]], parses: List[Dict]) -> Dict:
    gold = [g for _t, g in examples]
    pred = [p["intent"]["name"] for p in parses]
    langs = [language_of(t) for t, _g in examples]
    out: Dict = {"n": len(gold), "per_category": {}, "per_language": {}}
    for lang in ("en", "fr", None):
        idx = [i for i, lg in enumerate(langs) if lang is None or lg == lang]
        g = [gold[i] for i in idx]
        p = [pred[i] for i in idx]
        per = prf(g, p, list(CRISIS))
        # any-crisis detection (category confusions still count as detected)
        is_crisis_gold = [x in CRISIS for x in g]
        is_crisis_pred = [x in CRISIS for x in p]
        tp = sum(a and b for a, b in zip(is_crisis_gold, is_crisis_pred))
        fn = sum(a and not b for a, b in zip(is_crisis_gold, is_crisis_pred))
        fp = sum(b and not a for a, b in zip(is_crisis_gold, is_crisis_pred))
        summary = {
            "per_category": per,
            "any_crisis_recall": round(tp / max(1, tp + fn), 4),
            "any_crisis_precision": round(tp / max(1, tp + fp), 4),
            "lookalike_false_alarms": fp,
            "lookalikes": sum(1 for a in is_crisis_gold if not a),
        }
        if lang is None:
            out.update(summary)
        else:
            out["per_language"][lang] = summary
    out["errors"] = [{"text": t, "gold": g, "pred": p} for (t, g), p in zip(examples, pred) if g != p and (g in CRISIS or p in CRISIS)]
    return out


def cross_validation(folds: int) -> Dict:
    out_dir = ROOT / "results" / "cv"
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(ROOT))
    cmd = [str(Path(sys.executable).parent / "rasa"), "test", "nlu", "--nlu", "data/nlu", "--config", "config.yml",
           "--cross-validation", "--folds", str(folds), "--out", str(out_dir), "--no-plot"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    report = json.loads((out_dir / "intent_report.json").read_text())
    return {"folds": folds, "macro_f1": round(report["macro avg"]["f1-score"], 4),
            "weighted_f1": round(report["weighted avg"]["f1-score"], 4), "accuracy": round(report.get("accuracy", 0.0), 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cv-folds", type=int, default=0, help="also run k-fold cross-validation on data/nlu")
    args = parser.parse_args()
    nlu = load_examples(ROOT / "eval" / "heldout_nlu.yml")
    crisis = load_examples(ROOT / "eval" / "heldout_crisis.yml")
    parses = asyncio.run(predict([t for t, _ in nlu] + [t for t, _ in crisis]))
    report = {
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "model": "models/current.tar.gz",
        "heldout_nlu": intent_section(nlu, parses[: len(nlu)]),
        "heldout_crisis": crisis_section(crisis, parses[len(nlu):]),
        "targets": {"theme_macro_f1": 0.90, "theme_recall": 0.85, "crisis_recall": 0.95, "crisis_precision": 0.90},
    }
    if args.cv_folds:
        report["cross_validation"] = cross_validation(args.cv_folds)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    h, c = report["heldout_nlu"], report["heldout_crisis"]
    print(f"held-out NLU: n={h['n']} accuracy={h['accuracy']} intent macro-F1={h['intent_macro_f1']} "
          f"theme macro-F1={h['theme_macro_f1']} fallback={h['fallback_rate']}")
    for lang, v in h["per_language"].items():
        print(f"  {lang}: n={v['n']} theme macro-F1={v['theme_macro_f1']} min theme recall={v['min_theme_recall']} "
              f"below 0.85: {v['themes_below_0.85_recall']}")
    print(f"held-out crisis: recall={c['any_crisis_recall']} precision={c['any_crisis_precision']} "
          f"false alarms={c['lookalike_false_alarms']}/{c['lookalikes']}")
    for lang, v in c["per_language"].items():
        cats = {k[len('crisis_'):]: (v2["recall"], v2["precision"]) for k, v2 in v["per_category"].items()}
        print(f"  {lang}: recall={v['any_crisis_recall']} precision={v['any_crisis_precision']} per category (R,P)={cats}")
    if "cross_validation" in report:
        print(f"cross-validation: {report['cross_validation']}")
    print(f"report: {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
