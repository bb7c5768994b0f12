"""External linear classifiers as model parts: a task's head fitted outside torch (scikit-learn,
`strategy: frozen`; see polyhead.features.external), kept as plain arrays and applied as
`model.external_heads[task]`.

    external/classifiers.json          per task: kind, estimator and its settings, class names
    external/classifiers.safetensors   per task: <task>.coef (C, F), <task>.intercept (C,),
                                       <task>.classes (C,) label ids, and, when features were
                                       standardised, <task>.mean / <task>.scale (F,)

Applying one is x -> ((x - mean) / scale) @ coef.T + intercept, spread over the task's label
ids; labels absent from the training data get a logit of -1e4 and are never predicted. A
binary classifier's single row scores the second class against a zero logit for the first,
which gives LogisticRegression's probabilities exactly. Nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

DIR, META, WEIGHTS = "external", "classifiers.json", "classifiers.safetensors"
UNSEEN_LOGIT = -1e4


class LinearClassifier:
    """A task's external head: features dict -> logits over all of the task's labels."""

    def __init__(self, kind: str, arrays: dict[str, np.ndarray], n_labels: int, info: dict):
        self.kind, self.arrays, self.n_labels, self.info = kind, arrays, n_labels, info
        weight, bias = _full_label_weights(arrays, n_labels)
        self.weight = torch.from_numpy(weight)  # (L, F)
        self.bias = torch.from_numpy(bias)  # (L,)

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        x = features["pooled" if self.kind == "sentence" else "token_embeddings"]
        w, b = self.weight.to(x.device), self.bias.to(x.device)
        return x.float() @ w.T + b  # sentence (B, L); token (B, T, L)


def _full_label_weights(arrays, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold standardisation into the weights and spread the classes over all label ids."""
    coef = arrays["coef"].astype(np.float64)  # (C', F)
    intercept = arrays["intercept"].astype(np.float64)  # (C',)
    if "scale" in arrays:
        coef = coef / arrays["scale"]
        intercept = intercept - coef @ arrays["mean"]
    classes = arrays["classes"].astype(np.int64)
    if len(classes) == 2 and coef.shape[0] == 1:  # binary: one decision row for classes[1]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    weight = np.zeros((n_labels, coef.shape[1]), dtype=np.float32)
    bias = np.full(n_labels, UNSEEN_LOGIT, dtype=np.float32)
    weight[classes], bias[classes] = coef, intercept
    return weight, bias


class ExternalPart:
    """The fitted external classifiers of a model, under `external/`."""

    kind = "external"

    @staticmethod
    def present(model) -> bool:
        return bool(model.external_heads)

    @staticmethod
    def save(model, folder: Path) -> None:
        out = Path(folder) / DIR
        out.mkdir(exist_ok=True)
        meta, tensors = {}, {}
        for task, clf in model.external_heads.items():
            names = model.spec.task(task).labels
            classes = clf.arrays["classes"]
            meta[task] = {**clf.info, "kind": clf.kind, "classes": [names[i] for i in classes]}
            for key, value in clf.arrays.items():
                tensors[f"{task}.{key}"] = np.ascontiguousarray(value)
        save_file(tensors, str(out / WEIGHTS))
        (out / META).write_text(json.dumps(meta, indent=2))

    @staticmethod
    def load(model, folder: Path) -> None:
        folder = Path(folder) / DIR
        if not (folder / META).exists():
            return
        info = json.loads((folder / META).read_text())
        arrays = load_file(str(folder / WEIGHTS))
        for task, task_info in info.items():
            prefix = f"{task}."
            mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            n_labels = len(model.spec.task(task).labels)
            model.external_heads[task] = LinearClassifier(
                task_info["kind"], mine, n_labels, task_info
            )
