"""Inference: texts in, per-task predictions or sentence embeddings out. The one tokenization
path for inference (`encode_words_batch`) serves `Predictor`, `encode`, the server and the
ONNX export, so they all see the same windows and truncation.

Long inputs are split into overlapping windows by the fast tokenizer itself
(`return_overflowing_tokens` + `stride`), so every word gets a prediction: a word takes the
prediction of the window where it sits furthest from an edge; sentence probabilities are
averaged over a text's windows. The embedding is the first window's, as sentence-transformers
truncates.

Raw text becomes words by the model's own words mode (`spec.words`, decided at training from
its training words; polyhead.data.words), so "Paris," is "Paris" "," for a model trained on
CoNLL-style words, and Chinese is one word per character. No entity ends in punctuation the
training words split off (`spec.split_off`). Entity offsets index the original text.
"""

from __future__ import annotations

import numpy as np
import torch

from polyhead.data.align import first_subwords
from polyhead.data.rows import MODEL_INPUTS
from polyhead.data.words import split_words, trim_entity_punctuation
from polyhead.evaluate import entities_from_tags

DEFAULT_STRIDE = 32  # tokens shared by neighbouring windows of a long text


def length_sorted_batches(texts: list[str], batch_size: int, progress: bool = False, what=""):
    """Yield index arrays of similar-length texts, longest first (less padding per batch)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if not progress or len(chunks) < 4:
        yield from chunks
        return
    from rich.progress import track  # only when a bar is shown

    yield from track(chunks, description=f"{what} {len(texts)} texts")


def encode_words_batch(tokenizer, batch_words: list[list[str]], max_length: int, stride: int):
    """Pre-split words -> (encoding with tensors, owner): row r is a window of text owner[r].

    An empty text still gets one window ([CLS] [SEP]) so it has a sentence prediction."""
    enc = tokenizer(
        [w or [""] for w in batch_words],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=min(stride, max_length // 4),
        return_overflowing_tokens=True,
        padding=True,
        return_tensors="pt",
    )
    return enc, enc.pop("overflow_to_sample_mapping").tolist()


def first_windows(owner: list[int]) -> list[int]:
    """The row of each text's first window (rows of one text are consecutive)."""
    return [r for r, o in enumerate(owner) if r == 0 or owner[r - 1] != o]


def model_inputs(enc) -> dict[str, torch.Tensor]:
    return {k: v for k, v in enc.items() if k in MODEL_INPUTS}


def tokenize(model, texts: list[str], stride: int = DEFAULT_STRIDE) -> dict[str, torch.Tensor]:
    """Model inputs for `texts` (one row per window; one per text unless a text is longer
    than max_length), e.g. to call `model(batch)` or trace an export."""
    words = [split_words(t, model.spec.words)[0] for t in texts]
    enc, _ = encode_words_batch(model.tokenizer, words, model.spec.max_length, stride)
    return model_inputs(enc)


def _device(model):
    return next(model.parameters()).device


@torch.inference_mode()
def encode(model, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Sentence embeddings (N, H) float32, batched by length like sentence-transformers, and
    like it from a text's first max_length tokens (its first window)."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(texts), model.hidden_size), dtype=np.float32)
    for idx in length_sorted_batches(texts, batch_size, progress, "embedding"):
        words = [split_words(texts[i], model.spec.words)[0] for i in idx]
        enc, owner = encode_words_batch(
            model.tokenizer, words, model.spec.max_length, DEFAULT_STRIDE
        )
        feats = model.features({k: v.to(_device(model)) for k, v in model_inputs(enc).items()})
        emb = feats["embedding"].float().cpu().numpy()
        out[idx] = emb[first_windows(owner)]
    model.train(was_training)
    return out


class Predictor:
    """Texts in, per-task predictions out; used by `polyhead predict`, the server and export."""

    def __init__(self, model, batch_size: int = 32, stride: int = DEFAULT_STRIDE):
        self.model, self.batch_size, self.stride = model.eval(), batch_size, stride
        self.kinds = {t.name: t.kind for t in model.spec.tasks}
        self.labels = {t.name: t.labels for t in model.spec.tasks}
        self.crfs = model.crf_heads()  # these token tasks keep raw scores for Viterbi

    def predict(self, texts: list[str], embeddings: bool = False) -> list[dict]:
        words = [split_words(t, self.model.spec.words) for t in texts]
        results: list[dict] = [None] * len(texts)  # type: ignore[list-item]
        for idx in length_sorted_batches(texts, self.batch_size):
            raw = self._run([words[i][0] for i in idx])
            for j, i in enumerate(idx):
                results[i] = self._format(texts[i], *words[i], raw[j], embeddings)
        return results

    @torch.inference_mode()
    def _run(self, batch_words: list[list[str]]) -> list[dict]:
        tok, max_len = self.model.tokenizer, self.model.spec.max_length
        enc, owner = encode_words_batch(tok, batch_words, max_len, self.stride)
        embedding, logits = self._forward(model_inputs(enc))
        out = []
        for i, words in enumerate(batch_words):
            rows = [r for r, o in enumerate(owner) if o == i]
            # the embedding of the first window, as `encode` and sentence-transformers give it
            item = {"embedding": embedding[rows[0]].float().cpu().numpy()}
            for task, lg in logits.items():
                if self.kinds[task] == "sentence":
                    item[task] = torch.softmax(lg[rows].float(), -1).mean(0).cpu()
                else:
                    raw = task in self.crfs
                    item[task] = self._word_probs(lg, enc, rows, len(words), raw)
            out.append(item)
        return out

    def _forward(self, inputs: dict[str, torch.Tensor]):
        """One batch of windows -> (W, H) embeddings and task -> logits; the ONNX predictor
        overrides only this."""
        device = _device(self.model)
        feats = self.model.features({k: v.to(device) for k, v in inputs.items()})
        return feats["embedding"], self.model.head_logits(feats)

    @staticmethod
    def _word_probs(logits, enc, rows, n_words, raw: bool = False) -> torch.Tensor:
        """(n_words, L): first-subword probabilities (raw scores for a CRF head), from the
        window most central to the word."""
        probs = torch.zeros(n_words, logits.shape[-1])
        best_margin = torch.full((n_words,), -1)
        for r in rows:
            firsts = first_subwords(enc.word_ids(r))
            if not firsts:
                continue
            lo, hi = firsts[0][1], firsts[-1][1]
            scores = logits[r].float()
            p = (scores if raw else torch.softmax(scores, -1)).cpu()  # (T, L)
            for t, w in firsts:
                margin = min(w - lo, hi - w)
                if w < n_words and margin > best_margin[w]:
                    best_margin[w], probs[w] = margin, p[t]
        return probs

    def _format(self, text, words, offsets, raw, embeddings) -> dict:
        item: dict = {"text": text}
        for task, kind in self.kinds.items():
            names = self.labels[task]
            if kind == "sentence":
                score, best = raw[task].max(-1)
                item[task] = {"label": names[int(best)], "score": round(float(score), 6)}
            else:
                ids = (
                    self.crfs[task].decode_words(raw[task])
                    if task in self.crfs
                    else raw[task].argmax(-1).tolist()
                )
                tags = [names[int(i)] for i in ids] if words else []
                tags = trim_entity_punctuation(words, tags, self.model.spec.split_off)
                item[task] = entities_from_tags(words, tags, offsets, text=text)
        if embeddings:
            item["embedding"] = [round(float(x), 6) for x in raw["embedding"]]
        return item
