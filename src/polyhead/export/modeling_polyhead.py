"""A polyhead sentence head on its encoder, as a `transformers` model class.

This file is copied into each exported sentence-head folder (`polyhead export --format
transformers`) and named in its config.json `auto_map`, so

    pipeline("text-classification", model=DIR, trust_remote_code=True)

runs the same computation as polyhead: the encoder's last hidden state (or the mean / concat
of its last n layers), pooled over the attention mask (mean), the first token (cls) or the
element-wise max, then the head: dropout -> linear, or dropout -> linear -> tanh -> dropout
-> linear. No standard `*ForSequenceClassification` class pools this way (BERT's reads [CLS]
through a dense + tanh pooler), hence the custom code. It imports torch and transformers only.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class PolyheadConfig(PretrainedConfig):
    """The encoder's own config as a dict, plus how the head reads it."""

    model_type = "polyhead"
    encoder_config: dict | None = None
    # The tensors the encoder was fed in training (DistilBERT-like models take no
    # token_type_ids; polyhead never passes them to RoBERTa or MPNet).
    encoder_inputs: list | None = None
    pooling: str = "mean"
    layers_last_n: int = 1
    layers_combine: str = "mean"
    head_hidden_size: int | None = None
    head_dropout: float = 0.1

    def build_encoder_config(self) -> PretrainedConfig:
        settings = dict(self.encoder_config or {})
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(B, T, H), (B, T) -> (B, H), as polyhead's Pooling.pool (before normalisation)."""
    if mode == "cls":
        return hidden[:, 0]
    mask = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    if mode == "max":
        return hidden.masked_fill(mask == 0, torch.finfo(mask.dtype).min).max(dim=1).values
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class PolyheadForSequenceClassification(PreTrainedModel):
    config_class = PolyheadConfig
    base_model_prefix = "encoder"

    def __init__(self, config: PolyheadConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.build_encoder_config())
        width = self.encoder.config.hidden_size
        width *= config.layers_last_n if config.layers_combine == "concat" else 1
        n, hidden, p = config.num_labels, config.head_hidden_size, config.head_dropout
        if hidden:
            layers = [nn.Linear(width, hidden), nn.Tanh(), nn.Dropout(p), nn.Linear(hidden, n)]
        else:
            layers = [nn.Linear(width, n)]
        # Same module order as polyhead's SentenceHead.net, so its weights load by name.
        self.head = nn.Sequential(nn.Dropout(p), *layers)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None, **inputs):
        keep = set(self.config.encoder_inputs or ())
        inputs = {k: v for k, v in inputs.items() if k in keep and v is not None}
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        n = self.config.layers_last_n
        out = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            output_hidden_states=n > 1,
            **inputs,
        )
        if n == 1:
            hidden = out.last_hidden_state  # (B, T, H)
        elif self.config.layers_combine == "concat":
            hidden = torch.cat(out.hidden_states[-n:], dim=-1)  # (B, T, n*H)
        else:
            hidden = torch.stack(out.hidden_states[-n:]).mean(0)  # (B, T, H)
        logits = self.head(pool(hidden, attention_mask, self.config.pooling))  # (B, L)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)
