"""Token classification with polyhead's words, as a `transformers` pipeline.

This file is copied into each exported token-head folder (`polyhead export --format
transformers`) and named in its config.json `custom_pipelines`, so

    pipeline("polyhead-token-classification", model=DIR, trust_remote_code=True)

gives polyhead's entities. It differs from the standard token-classification pipeline in one
rule: a word is a whitespace-separated piece of text, as in polyhead (with a `##`-style
tokenizer the standard pipeline also splits words at punctuation, so `o'clock` would be three
words, each tagged from its own first piece). Each word takes its first piece's tag
(`aggregation_strategy="first"`, the default here). It imports transformers only.
"""

from __future__ import annotations

from transformers import TokenClassificationPipeline
from transformers.pipelines.token_classification import AggregationStrategy


class PolyheadTokenClassificationPipeline(TokenClassificationPipeline):
    def postprocess(self, all_outputs, aggregation_strategy=AggregationStrategy.FIRST, **kwargs):
        return super().postprocess(all_outputs, aggregation_strategy=aggregation_strategy, **kwargs)

    def gather_pre_entities(self, sentence, input_ids, scores, offset_mapping, *args, **kwargs):
        entities = super().gather_pre_entities(
            sentence, input_ids, scores, offset_mapping, *args, **kwargs
        )
        for entity in entities:
            start = entity["start"]
            if start is not None:
                # A piece continues the word unless whitespace (or the text's start) precedes it.
                entity["is_subword"] = start > 0 and not sentence[start - 1].isspace()
        return entities
