"""Batched inference shared by the CLI, the server and export checks."""

from __future__ import annotations

import numpy as np
import torch


def length_sorted_batches(texts: list[str], batch_size: int, progress: bool = False, what=""):
    """Yield index arrays of similar-length texts, longest first (less padding per batch)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if not progress or len(chunks) < 4:
        yield from chunks
        return
    from rich.progress import track

    yield from track(chunks, description=f"{what} {len(texts)} texts")


class Predictor:
    """Texts in, per-task predictions out; used by `polyhead predict`, the server and export.

    Long inputs are split into overlapping windows by the fast tokenizer itself
    (`return_overflowing_tokens` + `stride`), so every word gets a prediction: a word takes the
    prediction of the window where it sits furthest from an edge; sentence logits and the
    embedding are averaged over a text's windows.
    """

    def __init__(self, model, batch_size: int = 32, stride: int = 32):
        self.model, self.batch_size, self.stride = model.eval(), batch_size, stride
        self.kinds = {t.name: t.kind for t in model.spec.tasks}
        self.labels = {t.name: t.labels for t in model.spec.tasks}
        self.crfs = model.crf_heads()  # these token tasks keep raw scores for Viterbi

    def predict(self, texts: list[str], embeddings: bool = False) -> list[dict]:
        from polyhead.data.example import split_words

        words = [split_words(t) for t in texts]
        results: list[dict] = [None] * len(texts)  # type: ignore[list-item]
        for idx in length_sorted_batches(texts, self.batch_size):
            raw = self._run([words[i][0] for i in idx])
            for j, i in enumerate(idx):
                results[i] = self._format(texts[i], *words[i], raw[j], embeddings)
        return results

    def _encode(self, batch_words: list[list[str]]):
        tok, max_len = self.model.tokenizer, self.model.spec.max_length
        # An empty text still gets one window ([CLS] [SEP]) so it has a sentence prediction.
        enc = tok(
            [w or [""] for w in batch_words],
            is_split_into_words=True,
            truncation=True,
            max_length=max_len,
            stride=min(self.stride, max_len // 4),
            return_overflowing_tokens=True,
            padding=True,
            return_tensors="pt",
        )
        return enc, enc.pop("overflow_to_sample_mapping").tolist()

    @torch.inference_mode()
    def _run(self, batch_words: list[list[str]]) -> list[dict]:
        enc, owner = self._encode(batch_words)
        keep = ("input_ids", "attention_mask", "token_type_ids")
        embedding, logits = self._forward({k: v for k, v in enc.items() if k in keep})
        out = []
        for i, words in enumerate(batch_words):
            rows = [r for r, o in enumerate(owner) if o == i]
            item = {"embedding": embedding[rows].float().mean(0).cpu().numpy()}
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
        device = next(self.model.parameters()).device
        feats = self.model.features({k: v.to(device) for k, v in inputs.items()})
        return feats["embedding"], self.model.head_logits(feats)

    @staticmethod
    def _word_probs(logits, enc, rows, n_words, raw: bool = False) -> torch.Tensor:
        """(n_words, L): first-subword probabilities (raw scores for a CRF head), from the
        window most central to the word."""
        probs = torch.zeros(n_words, logits.shape[-1])
        best_margin = torch.full((n_words,), -1)
        for r in rows:
            word_ids = enc.word_ids(r)
            firsts = [
                (t, w)
                for t, w in enumerate(word_ids)
                if w is not None and (t == 0 or word_ids[t - 1] != w)
            ]
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
        from polyhead.evaluate import entities_from_tags

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
                item[task] = entities_from_tags(words, tags, offsets, text=text)
        if embeddings:
            item["embedding"] = [round(float(x), 6) for x in raw["embedding"]]
        return item
