"""A dialogue policy that makes crisis replies win over everything else, forms included.

When the latest user message was classified as a crisis (`crisis_*` intent, set by
`components.crisis.CrisisDetector`) and the bot has not answered it yet, this policy predicts
`action_crisis_response` with confidence 1.0, flagged as a no-user prediction so that it competes
with (and, by its higher priority, beats) RulePolicy's forced active-loop prediction.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

CRISIS_ACTION = "action_crisis_response"
CRISIS_PREFIX = "crisis_"
SOS_INTENT = "sos"


def should_answer_crisis(tracker: DialogueStateTracker) -> bool:
    """True right after a user message that is a crisis (or `/sos`)."""
    if tracker.latest_action_name != ACTION_LISTEN_NAME:
        return False
    intent = (tracker.latest_message.intent or {}).get("name") if tracker.latest_message else None
    return bool(intent) and (str(intent).startswith(CRISIS_PREFIX) or intent == SOS_INTENT)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class CrisisFirstPolicy(Policy):
    """See module docstring."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    def train(
        self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        # Nothing to learn: the decision is made by the NLU crisis detector.
        with self._model_storage.write_to(self._resource):
            pass
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        if should_answer_crisis(tracker) and CRISIS_ACTION in domain.action_names_or_texts:
            probabilities[domain.index_for_action(CRISIS_ACTION)] = 1.0
            return self._prediction(probabilities, is_no_user_prediction=True)
        return self._prediction(probabilities)
