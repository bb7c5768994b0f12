"""Turn batched logits into word-level predictions and per-task metrics.

Shared by validation, `polyhead evaluate` and the comparison reports, so every number in a
report is computed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from polyhead import evaluate as M
from polyhead.data.align import first_subword_mask, first_subwords
from polyhead.data.labels import LabelSet
from polyhead.data.rows import batches_in_order, encode_source, sorted_by_length
from polyhead.data.schemes import seqeval_mode
from polyhead.data.sources import WINDOW_STRIDE, SourceData
from polyhead.data.windows import merge_owned, word_margins
from polyhead.embedding_metrics import label_retrieval
from polyhead.engine.embedding_eval import PairCollector
from polyhead.engine.kinds_eval import task_metrics
from polyhead.errors import PolyheadError
from polyhead.model.crf import compact
from polyhead.model.kinds import VECTOR_KINDS, output_heads
from polyhead.model.multitask import MultiTaskModel

# Label retrieval is O(N^2): on bigger eval sets it scores a fixed seeded sample of sentences.
RETRIEVAL_MAX = 5000


def word_level(pred_ids: torch.Tensor, word_ids: torch.Tensor) -> list[list[int]]:
    """(B, T) predicted ids + (B, T) word ids (-1 = none) -> per row, one id per word seen:
    the prediction at each word's first subword, mirroring the training labels."""
    return [
        [preds[t] for t, _ in first_subwords(words)]
        for preds, words in zip(pred_ids.tolist(), word_ids.tolist(), strict=False)
    ]


class PredictionCollector:
    """Accumulates predictions for the eval examples of each source, keyed by (example
    index, window): a long example is several windows; `predictions` merges them (a word
    from the window that owns it, polyhead.data.windows; sentence probabilities averaged),
    as `Predictor` does for raw text."""

    def __init__(
        self, sources, kinds: dict[str, str], label_sets: dict, split: str, crfs=None, heads=None
    ):
        self.sources, self.kinds, self.label_sets, self.split = sources, kinds, label_sets, split
        self.crfs = crfs or {}  # task -> CRF: token tasks decoded by constrained Viterbi
        # task -> multilabel / regression head: outputs through its transform, its thresholds
        self.heads = heads or {}
        # Set by training's validation: multilabel thresholds chosen on this split, kept here
        # for the module to store in the heads.
        self.thresholds: dict[str, list[float]] | None = None
        self.preds: dict[int, dict[str, dict[tuple[int, int], object]]] = {
            s.index: {t: {} for t in s.tasks} for s in sources
        }
        # sentence embeddings of the sources with sentence tasks, for label retrieval
        self.embeddings: dict[int, dict[int, np.ndarray]] = {
            s.index: {} for s in sources if any(kinds[t] == "sentence" for t in s.tasks)
        }

    def add(
        self,
        batch: dict[str, torch.Tensor],
        logits: dict[str, torch.Tensor],
        embedding: torch.Tensor | None = None,
    ) -> None:
        """One batch's logits, and its (B, H) embeddings for label retrieval if given."""
        source = int(batch["source"][0])
        index = batch["index"].tolist()
        window = batch["window"].tolist() if "window" in batch else [0] * len(index)
        keys = list(zip(index, window, strict=True))
        margins = [word_margins(words) for words in batch["word_ids"].tolist()]
        if embedding is not None and source in self.embeddings:
            # one embedding per example for label retrieval: its first window's
            rows = embedding.float().cpu().numpy()
            for (i, w), row in zip(keys, rows, strict=True):
                if w == 0:
                    self.embeddings[source][i] = row
        for task in self.preds[source]:
            if task in self.heads:  # multilabel probabilities (B, L), regression values (B, D)
                rows = [r.clone() for r in self.heads[task].outputs(logits[task]).cpu()]
            elif self.kinds[task] == "sentence":
                probs = torch.softmax(logits[task].float(), -1).cpu()  # (B, L)
                rows = [p.clone() for p in probs]  # own storage: a DDP gather pickles each
            elif task in self.crfs:
                firsts = first_subword_mask(batch["word_ids"])  # (B, T)
                decoded = self.crfs[task].decode(*compact(logits[task], firsts))
                rows = [
                    [(w, m, p) for (_, w, m), p in zip(row, ids, strict=True)]
                    for row, ids in zip(margins, decoded, strict=True)
                ]
            else:
                ids = logits[task].argmax(-1).tolist()  # (B, T)
                rows = [
                    [(w, m, best[t]) for t, w, m in row]
                    for row, best in zip(margins, ids, strict=True)
                ]
            self.preds[source][task].update(zip(keys, rows, strict=True))

    @torch.inference_mode()
    def collect(self, model, batches: Iterable[dict]) -> None:
        """Predict every batch with `model` (in eval mode, on its device) and add it."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            feats = model.features(batch)
            self.add(batch, model.head_logits(feats), feats["embedding"])
        model.train(was_training)

    def gather(self) -> None:
        """Under DDP each process predicted a shard of every eval set (Lightning's
        DistributedSampler pads a shard with repeated examples): merge all processes'
        predictions. They are keyed by example index, so a repeat lands on the same key and
        every example counts exactly once."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return
        shards: list = [None] * dist.get_world_size()
        dist.all_gather_object(shards, (self.preds, self.embeddings))
        for preds, embeddings in shards:
            for source, tasks in preds.items():
                for task, got in tasks.items():
                    self.preds[source][task].update(got)
            for source, rows in embeddings.items():
                self.embeddings[source].update(rows)

    def predictions(self, source, task: str) -> list:
        """Label strings in example order; words no window holds (truncated) are 'O'."""
        names = self.label_sets[task]
        examples = source.splits[self.split]
        by_example: dict[int, dict[int, object]] = {}
        for (i, window), pred in self.preds[source.index][task].items():
            by_example.setdefault(i, {})[window] = pred
        if len(by_example) != len(examples):  # a lost shard would silently score as all-wrong
            raise RuntimeError(
                f"{task}: predictions for {len(by_example)} of {len(examples)} "
                f"{self.split} examples"
            )
        if self.kinds[task] == "sentence":
            return [
                names.name(int(torch.stack(list(by_example[i].values())).mean(0).argmax()))
                for i in range(len(examples))
            ]
        if self.kinds[task] in VECTOR_KINDS:  # a long example's windows averaged, as sentences
            return [
                torch.stack(list(by_example[i].values())).mean(0).tolist()
                for i in range(len(examples))
            ]
        out = []
        for i, ex in enumerate(examples):
            ids = merge_owned(by_example[i], len(ex.tokens), fill=None)
            out.append(["O" if p is None else names.name(p) for p in ids])
        return out

    def metrics(
        self,
        weights: dict[str, float] | None = None,
        pairs: dict[str, dict] | None = None,
        pairs_main: dict[str, str] | None = None,
    ) -> dict:
        """{task: metrics}, plus `frame_accuracy` per joint source, `retrieval` (label
        retrieval per sentence task) and one combined `score`. `pairs`: the embedding tasks'
        metrics (polyhead.engine.embedding_eval), scored by their `pairs_main` metric."""
        result: dict = {}
        for src in self.sources:
            if not src.splits[self.split]:
                continue
            result.update(self._source_metrics(src))
            retrieval = self._retrieval(src)
            if retrieval:
                result.setdefault("retrieval", {}).update(retrieval)
        tasks = {t: m for t, m in result.items() if t in self.kinds}
        main = {t: self.kinds[t] for t in tasks}
        for task, m in (pairs or {}).items():
            result[task] = tasks[task] = m
            main[task] = (pairs_main or {})[task]
        result["score"] = M.combined_score(tasks, main, weights)
        return result

    def _retrieval(self, src) -> dict:
        """Label retrieval (MRR@10, recall@1/10) of each sentence task's gold labels by the
        embedding, when the embeddings were collected."""
        got = self.embeddings.get(src.index) or {}
        examples = src.splits[self.split]
        if len(got) != len(examples):
            return {}
        keep = np.arange(len(examples))
        if len(keep) > RETRIEVAL_MAX:
            keep = np.sort(np.random.default_rng(0).choice(keep, RETRIEVAL_MAX, replace=False))
        emb = np.stack([got[i] for i in keep])  # (N, H)
        return {
            task: label_retrieval(emb, [examples[i].label for i in keep])
            for task in src.tasks
            if self.kinds[task] == "sentence"
        }

    def _source_metrics(self, src) -> dict:
        examples = src.splits[self.split]
        out, preds = {}, {}
        for task in src.tasks:
            preds[task] = self.predictions(src, task)
            if self.kinds[task] in VECTOR_KINDS:
                sep = src.config.label_separator if src.config is not None else None
                names, head = self.label_sets[task].names, self.heads.get(task)
                out[task] = task_metrics(
                    self.kinds[task],
                    task,
                    examples,
                    preds[task],
                    names,
                    sep,
                    head,
                    self.thresholds,
                )
            elif self.kinds[task] == "sentence":
                gold = [ex.label for ex in examples]
                out[task] = M.sentence_metrics(
                    gold, preds[task], known=set(self.label_sets[task].names)
                )
            else:
                gold = [ex.tags for ex in examples]
                out[task] = M.token_metrics(gold, preds[task], strict=strict_scoring(examples))
                out[task]["n_unseen"] = sum(
                    t not in self.label_sets[task] for tags in gold for t in tags
                )
        sent = [t for t in src.tasks if self.kinds[t] == "sentence"]
        tok = [t for t in src.tasks if self.kinds[t] == "token"]
        if sent and tok:
            right = [
                all(preds[t][i] == ex.label for t in sent)
                and all(preds[t][i] == ex.tags for t in tok)
                for i, ex in enumerate(examples)
            ]
            key = "frame_accuracy" if len(self.sources) == 1 else f"frame_accuracy.{src.index}"
            out[key] = sum(right) / max(1, len(right))
        return out


def strict_scoring(examples) -> bool:
    """Entity F1 in seqeval's strict mode when the examples' file wrote BIOES or BILOU tags
    (that is how those schemes are scored); bio, iob1 and io files keep the conlleval rules.
    Tags are BIO inside polyhead, so strict means strict IOB2 (polyhead.evaluate)."""
    schemes = {ex.tag_scheme for ex in examples} - {None}
    return any(bool(seqeval_mode(scheme)) for scheme in schemes)


def score(
    model,
    batches: Iterable[dict],
    sources: list[SourceData],
    kinds: dict[str, str],
    label_sets: dict[str, LabelSet],
    split: str,
    weights: dict[str, float] | None = None,
    pairs=None,
) -> dict:
    """The scoring function: model + batches of encoded rows -> per-task metrics (and frame
    accuracy, label retrieval and the combined score). Final metrics, `evaluate`, the drift
    guard and the run reports all score through here; validation feeds the same collector
    batch by batch. `pairs`: a filled PairCollector of the embedding tasks (or None)."""
    collector = PredictionCollector(
        sources, kinds, label_sets, split, model.crf_heads(), output_heads(model)
    )
    collector.collect(model, batches)
    if pairs is None:
        return collector.metrics(weights)
    return collector.metrics(weights, pairs.metrics(), pairs.main_metrics())


def evaluate_examples(
    model, examples, batch_size: int = 64, where: str = "data", stride: int = WINDOW_STRIDE
) -> dict:
    """Metrics of a loaded model on examples: each of its tasks is scored on the rows that
    label it (its `n` says how many); a task no row labels is reported as `{"n": 0}`, never
    left out. Tasks labelled on the same rows are scored together (frame accuracy). Long
    token-task examples are windows sharing `stride` words (0: truncated at max_length)."""
    examples = list(examples)  # once: an Arrow split builds new Examples on every pass
    if not examples:
        raise PolyheadError(f"{where}: no examples to evaluate")
    kinds = {t.name: t.head_kind for t in model.spec.tasks}
    # a pair task reads the examples with a second text, every other task those without
    paired = {t.name: t.kind == "pair" for t in model.spec.tasks}
    rows_of = {
        t: [ex for ex in examples if _labels(ex, k) is not None and _paired(ex) == paired[t]]
        for t, k in kinds.items()
    }
    labelled = [t for t in kinds if rows_of[t]]
    if not labelled:
        raise PolyheadError(f"{where}: the data labels none of the model's tasks {sorted(kinds)}")
    same_rows: dict[tuple[int, ...], list[str]] = {}
    for task in labelled:
        same_rows.setdefault(tuple(map(id, rows_of[task])), []).append(task)
    sources = [
        SourceData(i, None, tasks, {"eval": rows_of[tasks[0]]})
        for i, tasks in enumerate(same_rows.values())
    ]
    label_sets = {t.name: LabelSet(t.labels) for t in model.spec.tasks}
    pad = model.tokenizer.pad_token_id or 0

    def batches():
        for src in sources:
            rows = encode_source(
                model.tokenizer,
                src,
                "eval",
                kinds,
                label_sets,
                model.spec.max_length,
                stride=stride,
            )
            yield from batches_in_order(sorted_by_length(rows), batch_size, pad)

    scored = {t: kinds[t] for t in labelled}
    metrics = score(model, batches(), sources, scored, label_sets, "eval")
    return {**{t: {"n": 0} for t in kinds if t not in scored}, **metrics}


def _paired(example) -> bool:
    return example.text_pair is not None


def _labels(example, kind: str):
    if kind in VECTOR_KINDS:  # an empty label list is a label: none of them
        own = example.labels if kind == "multilabel" else example.target
        return own if own is not None else example.label
    return example.label if kind == "sentence" else example.tags


def final_metrics(artifact: Path, cfg, data) -> dict:
    """Dev and test metrics of the best artifact, reloaded from disk (what users will load)."""
    device = "cuda" if cfg.trainer.accelerator != "cpu" and torch.cuda.is_available() else None
    best = MultiTaskModel.load(artifact, device=device)
    weights = {name: t.metric_weight for name, t in cfg.tasks.items()}
    out = {}
    for split in ("dev", "test"):
        if data.has_split(split):
            batches = (b for loader in data.eval_dataloaders(split) for b in loader)
            pairs = PairCollector(data.pair_sources, split)
            pairs.collect(best, (b for dl in data.pair_eval_dataloaders(split) for b in dl))
            out[split] = score(
                best, batches, data.sources, data.kinds, data.label_sets, split, weights, pairs
            )
    return out
