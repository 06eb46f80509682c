"""A whitespace tokenizer whose tokens are normalised (see `components.textnorm`).

Token offsets still point into the original text (entity extraction keeps working), but the token
text that featurizers see is lower-case, accent-free, with repeated letters squeezed and SMS/slang
expanded: "chui tro seul", "Chuis trop seul" and "je suis trop seul" share most features.
"""

from __future__ import annotations

from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from components import textnorm


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class NormalizingTokenizer(WhitespaceTokenizer):
    """Whitespace tokenizer + text normalisation of every token of the user's text."""

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        if attribute != TEXT:
            return tokens
        out: List[Token] = []
        for token in tokens:
            words = textnorm.tokens(token.text) or [textnorm.basic_normalize(token.text) or token.text]
            for word in words:
                out.append(Token(word, token.start, token.end))
        return out or tokens
