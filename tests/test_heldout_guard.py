"""The held-out evaluation sets are never trained on, and the evaluation really has data."""

from __future__ import annotations

from components.textnorm import normalize
from scripts.evaluate import HELDOUT_SETS, ROOT, load_examples, training_texts


def test_heldout_sets_exist_and_are_balanced():
    for name in HELDOUT_SETS:
        examples = load_examples(ROOT / "eval" / f"{name}.yml")
        assert len(examples) >= 200, name
        langs = {lang for _t, _g, lang in examples}
        assert langs == {"en", "fr"}, name


def test_no_heldout_sentence_is_in_the_training_data():
    train = training_texts()
    leaked = []
    for name in HELDOUT_SETS:
        for text, _g, _l in load_examples(ROOT / "eval" / f"{name}.yml"):
            norm = normalize(text)
            if len(norm.split()) >= 4 and norm in train:
                leaked.append((name, text))
    assert not leaked, f"held-out examples found in data/nlu: {leaked[:10]}"
