"""The intent classifier's speed-ups change nothing in what it predicts."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from components.linear_classifier import LinearIntentClassifier


def _message(text, sparse_row, dense_row=None):
    message = Message(data={"text": text})
    message.add_features(Features(sp.coo_matrix(np.array([sparse_row], dtype=float)), "sentence", "text", "cv"))
    if dense_row is not None:
        message.add_features(Features(np.array([dense_row], dtype=float), "sentence", "text", "dense"))
    return message


def test_feature_matrix_is_the_same_as_rasas():
    a = _message("a", [0, 1, 0, 2])
    b = _message("b", [3, 0, 0, 0], [0.5, -1.0])
    c = _message("c", [0, 0, 1, 0], [0.25, 2.0])
    for batch in ([a], [b], [b, c]):
        ours = LinearIntentClassifier._create_X(None, batch)  # type: ignore[arg-type]
        theirs = LogisticRegressionClassifier._create_X(None, batch)  # type: ignore[arg-type]
        assert ours.shape == theirs.shape
        assert abs(ours - theirs).sum() == 0


def test_column_major_weights_predict_the_same_probabilities():
    rng = np.random.default_rng(0)
    X = sp.random(300, 2000, density=0.01, format="csr", random_state=1)
    y = rng.integers(0, 5, 300)
    pipeline = Pipeline([("tfidf", TfidfTransformer(sublinear_tf=True)), ("lr", LogisticRegression(C=30, max_iter=500))])
    pipeline.fit(X, y)
    before = pipeline.predict_proba(X[:20])
    component = LinearIntentClassifier.__new__(LinearIntentClassifier)
    component.clf = pipeline
    component._fast_layout()
    assert pipeline.steps[-1][1].coef_.flags.f_contiguous
    assert pipeline.steps[-1][1].coef_.T.flags.c_contiguous  # what scipy reads in place
    np.testing.assert_array_equal(pipeline.predict_proba(X[:20]), before)
