"""The tone classifier's shape: BERT with a three-label head over the [CLS] pooler or the mean of token states.

all-MiniLM-L6-v2 was trained for mean-pooled sentence embeddings; `BertForSequenceClassification` reads the
[CLS] pooler instead. A version records its pooling in `config.json` (`tone_pooling`), and every reader of a
version (scorer, ONNX export, continued fine-tune, SetFit) loads it through `load_tone_classifier` so the head
reads what it was trained on.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from .base_model import ID2LABEL, LABEL2ID, quiet_transformers
from ..domain.tone_labels import LABELS

POOLINGS = ("cls", "mean")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token states that are not padding ([batch, tokens, hidden] -> [batch, hidden])."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1e-9)


class MeanPoolBertForSequenceClassification(BertForSequenceClassification):
    """`BertForSequenceClassification` whose head reads the mean of the token states instead of the [CLS] pooler."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **_ignored):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(mean_pool(hidden, attention_mask)))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def pooling_of(model: torch.nn.Module) -> str:
    """Which pooling a loaded classifier's head reads."""
    return "mean" if isinstance(model, MeanPoolBertForSequenceClassification) else "cls"


def pooled_features(model: torch.nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """What the head reads, from the last layer's token states: the [CLS] pooler or the masked mean."""
    if pooling_of(model) == "mean":
        return mean_pool(hidden, attention_mask)
    return model.base_model.pooler(hidden)


def sentence_features(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the head reads for a tokenised batch (keeps gradients)."""
    outputs = model.base_model(**batch)
    if pooling_of(model) == "mean":
        return mean_pool(outputs.last_hidden_state, batch["attention_mask"])
    return outputs.pooler_output


def _model_class(pooling: str):
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
    return MeanPoolBertForSequenceClassification if pooling == "mean" else AutoModelForSequenceClassification


def new_tone_classifier(base_path: Path, pooling: str = "cls") -> tuple[torch.nn.Module, object]:
    """The base encoder with a fresh three-label head of the given pooling, and its tokenizer (local files only)."""
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(base_path, local_files_only=True)
        model = _model_class(pooling).from_pretrained(
            base_path, num_labels=len(LABELS), id2label=ID2LABEL, label2id=LABEL2ID, local_files_only=True
        )
    model.config.tone_pooling = pooling
    return model, tokenizer


def load_tone_classifier(path: Path) -> tuple[torch.nn.Module, object]:
    """A trained version's classifier (with the pooling its config records) and tokenizer, from local files."""
    with quiet_transformers():
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = _model_class(getattr(config, "tone_pooling", "cls")).from_pretrained(
            path, num_labels=len(LABELS), id2label=ID2LABEL, label2id=LABEL2ID, local_files_only=True
        )
    return model, tokenizer
