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

`Predictor.predict` is three steps a scheduler can also take apart (the server does, so a long
text's windows take turns with other requests): `prepare` (texts -> words and unpadded
windows, each naming its text), `run` (any windows, of any texts -> one output per window: one
forward pass) and `assemble` (window outputs -> each text's result).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from polyhead.data.align import first_subwords
from polyhead.data.rows import MODEL_INPUTS
from polyhead.data.words import split_words, trim_entity_punctuation
from polyhead.evaluate import entities_from_tags
from polyhead.model.kinds import output_heads, vector_output

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


def _tokenize_windows(tokenizer, batch_words: list[list[str]], max_length, stride, **kw):
    # An empty text still gets one window ([CLS] [SEP]) so it has a sentence prediction.
    return tokenizer(
        [w or [""] for w in batch_words],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        stride=min(stride, max_length // 4),
        return_overflowing_tokens=True,
        **kw,
    )


def encode_words_batch(tokenizer, batch_words: list[list[str]], max_length: int, stride: int):
    """Pre-split words -> (encoding with tensors, owner): row r is a window of text owner[r]."""
    enc = _tokenize_windows(
        tokenizer, batch_words, max_length, stride, padding=True, return_tensors="pt"
    )
    return enc, enc.pop("overflow_to_sample_mapping").tolist()


@dataclass
class Window:
    """One model row, unpadded: a whole text, or one stretch of a text longer than max_length."""

    owner: int  # the index of its text in the `prepare` call
    inputs: dict[str, list[int]]  # model inputs (input_ids, attention_mask, ...)
    word_ids: list[int | None]  # per token: its word in the owner's words (None: special)

    @property
    def tokens(self) -> int:
        return len(self.word_ids)


@dataclass
class Prepared:
    """Texts ready for the model: their words (`split_words`: words, offsets) and windows, every
    text's in text order."""

    texts: list[str]
    words: list[tuple[list[str], list[tuple[int, int]]]]
    windows: list[Window]

    def first_windows(self) -> list[Window]:
        """Each text's first window (the one its embedding comes from), in text order."""
        ws = self.windows
        return [w for k, w in enumerate(ws) if k == 0 or ws[k - 1].owner != w.owner]


@dataclass
class WindowOutput:
    """What one forward pass gives one window: its embedding, and per task its probabilities
    (sentence: (L,); token: (T, L) at its own tokens, raw scores for a CRF head)."""

    embedding: np.ndarray
    scores: dict[str, torch.Tensor]


def pad_windows(tokenizer, windows: list[Window]):
    """Windows -> (padded model inputs, each window's token span in its padded row), padded as
    the tokenizer pads (its pad ids and padding side), so outputs match a padded call."""
    width = max(w.tokens for w in windows)
    fill = {"input_ids": tokenizer.pad_token_id, "token_type_ids": tokenizer.pad_token_type_id}
    left = tokenizer.padding_side == "left"
    inputs = {}
    for key in windows[0].inputs:
        if key not in MODEL_INPUTS:
            continue
        pad = fill.get(key, 0)
        rows = [w.inputs[key] for w in windows]
        rows = [
            [pad] * (width - len(r)) + r if left else r + [pad] * (width - len(r)) for r in rows
        ]
        inputs[key] = torch.tensor(rows, dtype=torch.long)
    spans = [(width - w.tokens, width) if left else (0, w.tokens) for w in windows]
    return inputs, spans


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


def embedding_values(vector) -> list[float]:
    """An embedding as the Predictor's answers give it (JSON floats, 6 decimals)."""
    return [round(float(x), 6) for x in vector]


def _device(model):
    return next(model.parameters()).device


Precision = Literal["auto", "bf16", "fp32"]


def autocast(device: torch.device, precision: Precision = "auto"):
    """The inference precision: `auto` is bf16 on a CUDA device that has it (issue 17: half the
    memory traffic, tensor cores) and float32 elsewhere (bf16 matmuls on most CPUs are slower
    than float32). Outputs are cast back to float32 before softmax / thresholds / Viterbi."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32; got {precision!r}")
    if precision == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        precision = "bf16" if cuda_bf16 else "fp32"
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.inference_mode()
def encode(
    model,
    texts: list[str],
    batch_size: int = 64,
    progress: bool = False,
    precision: Precision = "auto",
) -> np.ndarray:
    """Sentence embeddings (N, H) float32, batched by length like sentence-transformers, and
    like it from a text's first max_length tokens (its first window); `precision`: `autocast`."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(texts), model.hidden_size), dtype=np.float32)
    device = _device(model)
    for idx in length_sorted_batches(texts, batch_size, progress, "embedding"):
        words = [split_words(texts[i], model.spec.words)[0] for i in idx]
        enc, owner = encode_words_batch(
            model.tokenizer, words, model.spec.max_length, DEFAULT_STRIDE
        )
        with autocast(device, precision):
            feats = model.features({k: v.to(device) for k, v in model_inputs(enc).items()})
        emb = feats["embedding"].float().cpu().numpy()
        out[idx] = emb[first_windows(owner)]
    model.train(was_training)
    return out


class Predictor:
    """Texts in, per-task predictions out; used by `polyhead predict`, the server and export."""

    def __init__(
        self,
        model,
        batch_size: int = 32,
        stride: int = DEFAULT_STRIDE,
        precision: Precision = "auto",
    ):
        self.model, self.batch_size, self.stride = model.eval(), batch_size, stride
        autocast(torch.device("cpu"), precision)  # a bad precision fails here, not at predict
        self.precision = precision  # `autocast`: bf16 on CUDA unless asked otherwise
        # The HF tokenizer changes its own settings on each call: one thread uses it at a time.
        self.tokenizer = model.tokenizer
        # What each head predicts; pair tasks answer `predict_pairs` only, the rest `predict`.
        self.kinds = {t.name: t.head_kind for t in model.spec.tasks if t.kind != "pair"}
        self.pair_kinds = {t.name: t.head_kind for t in model.spec.tasks if t.kind == "pair"}
        self.labels = {t.name: t.labels for t in model.spec.tasks}
        self.crfs = model.crf_heads()  # these token tasks keep raw scores for Viterbi
        self.outputs = output_heads(model)  # multilabel probabilities, regression values

    def predict(self, texts: list[str], embeddings: bool = False) -> list[dict]:
        results: list[dict] = [None] * len(texts)  # type: ignore[list-item]
        for idx in length_sorted_batches(texts, self.batch_size):
            prepared = self.prepare([texts[i] for i in idx])
            outputs = self.run(prepared.windows)
            for i, item in zip(idx, self.assemble(prepared, outputs, embeddings), strict=True):
                results[i] = item
        return results

    def prepare(self, texts: list[str]) -> Prepared:
        """Words and unpadded windows of `texts` (no model call)."""
        if not texts:
            return Prepared([], [], [])
        words = [split_words(t, self.model.spec.words) for t in texts]
        tok, max_len = self.tokenizer, self.model.spec.max_length
        enc = _tokenize_windows(tok, [w for w, _ in words], max_len, self.stride)
        owner = enc["overflow_to_sample_mapping"]
        keys = [k for k in enc if k in MODEL_INPUTS]
        windows = [
            Window(o, {k: enc[k][r] for k in keys}, enc.word_ids(r)) for r, o in enumerate(owner)
        ]
        return Prepared(list(texts), words, windows)

    @torch.inference_mode()
    def run(self, windows: list[Window]) -> list[WindowOutput]:
        """One forward pass over `windows` (of any texts, any `prepare` calls)."""
        if not windows:
            return []
        inputs, spans = pad_windows(self.tokenizer, windows)
        embedding, logits = self._forward(inputs)
        embedding = embedding.float().cpu().numpy()
        scores = {}
        for task, lg in logits.items():
            if task not in self.kinds:
                continue  # a pair task: it reads two texts (predict_pairs)
            if task in self.outputs:  # multilabel probabilities, regression values
                scores[task] = self.outputs[task].outputs(lg.float()).cpu()
                continue
            raw = self.kinds[task] == "token" and task in self.crfs
            scores[task] = (lg.float() if raw else torch.softmax(lg.float(), -1)).cpu()
        out = []
        for r, (lo, hi) in enumerate(spans):
            own = {t: s[r, lo:hi] if self.kinds[t] == "token" else s[r] for t, s in scores.items()}
            out.append(WindowOutput(embedding[r], own))
        return out

    def assemble(
        self, prepared: Prepared, outputs: list[WindowOutput], embeddings: bool = False
    ) -> list[dict]:
        """Each text's result from its windows' outputs (`outputs[k]`: `prepared.windows[k]`)."""
        per_text: list[list] = [[] for _ in prepared.texts]
        for window, output in zip(prepared.windows, outputs, strict=True):
            per_text[window.owner].append((window, output))
        return [
            self._format(text, words, offsets, self._merge(parts, len(words)), embeddings)
            for text, (words, offsets), parts in zip(
                prepared.texts, prepared.words, per_text, strict=True
            )
        ]

    def _merge(self, parts: list[tuple[Window, WindowOutput]], n_words: int) -> dict:
        """One text's windows -> the embedding of the first (as `encode` and
        sentence-transformers give it), mean sentence probabilities, per-word token scores."""
        item = {"embedding": parts[0][1].embedding}
        for task in parts[0][1].scores:
            if self.kinds[task] != "token":  # per text: the mean over its windows
                item[task] = torch.stack([o.scores[task] for _, o in parts]).mean(0)
            else:
                item[task] = self._word_probs(task, parts, n_words)
        return item

    def _forward(self, inputs: dict[str, torch.Tensor]):
        """One batch of windows -> (W, H) embeddings and task -> logits; the ONNX predictor
        overrides only this."""
        device = _device(self.model)
        with autocast(device, self.precision):
            feats = self.model.features({k: v.to(device) for k, v in inputs.items()})
            return feats["embedding"], self.model.head_logits(feats)

    @staticmethod
    def _word_probs(task: str, parts, n_words: int) -> torch.Tensor:
        """(n_words, L): first-subword probabilities (raw scores for a CRF head), from the
        window most central to the word (the earliest such window on a tie). Vectorised: a
        per-token Python loop held the GIL ~0.7 s for a 20,000-character text."""
        scores = [output.scores[task] for _, output in parts]  # (T_k, L) per window
        probs = torch.zeros(n_words, scores[0].shape[-1])
        rows, words, margins, base = [], [], [], 0
        for (window, _), s in zip(parts, scores, strict=True):
            if firsts := first_subwords(window.word_ids):
                t, w = np.array(firsts, dtype=np.int64).T
                rows.append(t + base)  # the token's row in all windows' scores, stacked
                words.append(w)
                margins.append(np.minimum(w - w[0], w[-1] - w))  # distance to the window's edge
            base += s.shape[0]
        if not rows:
            return probs
        t, w, m = (np.concatenate(a) for a in (rows, words, margins))
        keep = w < n_words
        t, w, m = t[keep], w[keep], m[keep]
        order = np.lexsort((np.arange(len(w)), -m, w))  # by word, widest margin, then earliest
        first = np.ones(len(order), dtype=bool)
        first[1:] = w[order][1:] != w[order][:-1]
        best = order[first]
        probs[torch.from_numpy(w[best])] = torch.cat(scores)[torch.from_numpy(t[best])]
        return probs

    def _format(self, text, words, offsets, raw, embeddings) -> dict:
        item: dict = {"text": text}
        for task, kind in self.kinds.items():
            names = self.labels[task]
            if task in self.outputs:
                item[task] = vector_output(self.outputs[task], raw[task], names)
            elif kind == "sentence":
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
            item["embedding"] = embedding_values(raw["embedding"])
        return item

    @torch.inference_mode()
    def predict_pairs(self, pairs: list[tuple[str, str]]) -> list[dict]:
        """(text, text_pair) pairs in, the pair tasks' predictions out: both texts encoded
        together, as in training (polyhead.data.pair_examples), the longer cut first."""
        if not self.pair_kinds:
            raise ValueError("this model has no pair task; predict texts with `predict`")
        results: list[dict] = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            enc = self.tokenizer(
                [a for a, _ in batch],
                [b for _, b in batch],
                truncation="longest_first",
                max_length=self.model.spec.max_length,
                padding=True,
                return_tensors="pt",
            )
            _, logits = self._forward(model_inputs(enc))
            for j, (a, b) in enumerate(batch):
                item: dict = {"text": a, "text_pair": b}
                for task in self.pair_kinds:
                    item[task] = self._pair_output(task, logits[task][j : j + 1].float())
                results.append(item)
        return results

    def _pair_output(self, task: str, logits: torch.Tensor) -> dict:
        names = self.labels[task]
        if task in self.outputs:
            return vector_output(self.outputs[task], self.outputs[task].outputs(logits)[0], names)
        score, best = torch.softmax(logits[0], -1).max(-1)
        return {"label": names[int(best)], "score": round(float(score), 6)}
