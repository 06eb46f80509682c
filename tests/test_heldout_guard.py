"""The held-out evaluation sets are never trained on, and the evaluation really has data."""

from __future__ import annotations

import hashlib

from components.textnorm import normalize
from scripts.evaluate import HELDOUT_SETS, ROOT, load_examples, training_texts


def test_heldout_sets_exist_and_are_balanced():
    for name in HELDOUT_SETS:
        examples = load_examples(ROOT / "eval" / f"{name}.yml")
        assert len(examples) >= 200, name
        langs = {lang for _t, _g, lang in examples}
        assert langs == {"en", "fr"}, name


def known_overlap() -> set:
    """Hashes of held-out examples that matched training lines written BEFORE the held-out set
    (common phrases; eval/known_overlap_*.sha256 says which). Hashes, so nobody reads them."""
    hashes = set()
    for path in (ROOT / "eval").glob("known_overlap_*.sha256"):
        hashes |= {ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
                   if ln.strip() and not ln.startswith("#")}
    return hashes


def test_no_heldout_sentence_is_in_the_training_data():
    train = training_texts()
    allowed = known_overlap()
    leaked = []
    for name in HELDOUT_SETS:
        for text, _g, _l in load_examples(ROOT / "eval" / f"{name}.yml"):
            norm = normalize(text)
            if len(norm.split()) >= 4 and norm in train \
                    and hashlib.sha256(norm.encode()).hexdigest() not in allowed:
                leaked.append(name)
    # Names only: printing the texts would show held-out examples to whoever reads the failure.
    assert not leaked, f"held-out examples found in data/nlu: {len(leaked)} ({sorted(set(leaked))})"


def test_the_allowed_overlap_stays_small():
    assert len(known_overlap()) <= 20
