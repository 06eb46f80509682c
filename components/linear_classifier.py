"""TF-IDF + logistic-regression intent classifier.

Rasa's LogisticRegressionClassifier fits raw n-gram counts with C=1.0. Re-weighting the same sparse
word and character n-gram features with sublinear TF-IDF and a weaker regularisation classified
clearly better on the development held-out set (accuracy 0.914 -> 0.950 in an offline replica of
the pipeline, docs/nlu.md). It trains in about a minute on two cores, where DIET took minutes per
epoch here. The fitted pipeline is our own training output, stored with joblib beside the model.
"""

from __future__ import annotations

from typing import Any, Dict, Text

import joblib
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.pipeline import Pipeline


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(LogisticRegressionClassifier):
    """Sublinear TF-IDF on the sentence features, then multinomial logistic regression."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 30.0, "max_iter": 2000}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        regression = self.clf
        regression.set_params(C=float(self.config.get("C", 30.0)), max_iter=int(self.config.get("max_iter", 2000)))
        self.clf = Pipeline([("tfidf", TfidfTransformer(sublinear_tf=True)), ("lr", regression)])

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            joblib.dump(self.clf, model_dir / f"{self._resource.name}.joblib")

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LinearIntentClassifier":
        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                component.clf = joblib.load(model_dir / f"{resource.name}.joblib")  # noqa: S301 (our own model file)
        except (ValueError, FileNotFoundError):
            pass  # untrained: Rasa skips a classifier without data
        return component
