"""External linear classifiers (`strategy: frozen`): fitted with scikit-learn on frozen
features, kept in the artifact as plain arrays, applied as `model.external_heads`.

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
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from polyhead.model import extensions

log = logging.getLogger("polyhead")

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


def make_estimator(cfg, n_samples: int, seed: int):
    """The scikit-learn estimator named by `features.classifier.estimator`."""
    from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
    from sklearn.svm import LinearSVC

    weight = None if cfg.class_weight == "none" else cfg.class_weight
    if cfg.estimator == "logistic":
        return LogisticRegression(C=cfg.C, class_weight=weight, max_iter=cfg.max_iter)
    if cfg.estimator == "linear_svc":
        return LinearSVC(C=cfg.C, class_weight=weight, max_iter=cfg.max_iter, random_state=seed)
    if cfg.estimator == "ridge":
        return RidgeClassifier(alpha=1.0 / cfg.C, class_weight=weight)
    # SGD's alpha multiplies the mean loss; C the summed loss: alpha = 1 / (C * n).
    return SGDClassifier(
        alpha=1.0 / (cfg.C * n_samples),
        class_weight=weight,
        max_iter=cfg.max_iter,
        random_state=seed,
    )


def fit_classifier(kind: str, X: np.ndarray, y: np.ndarray, n_labels: int, cfg, seed: int):
    """(LinearClassifier, info) fitted on features X (n, F) and label ids y (n,)."""
    start = time.perf_counter()
    X = X.astype(np.float64)
    arrays: dict[str, np.ndarray] = {}
    if cfg.standardize:
        mean, scale = X.mean(0), X.std(0)
        scale[scale < 1e-12] = 1.0  # a constant feature carries nothing; avoid dividing by 0
        X = (X - mean) / scale
        arrays.update(mean=mean, scale=scale)
    classes = np.unique(y)
    info = {"estimator": cfg.estimator, "C": cfg.C, "class_weight": cfg.class_weight}
    if len(classes) == 1:  # one class seen: it is always the prediction
        arrays.update(coef=np.zeros((1, X.shape[1])), intercept=np.zeros(1))
        info["converged"] = True
    else:
        est = make_estimator(cfg, len(y), seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(X, y)
        info["converged"] = not any("converge" in str(w.message).lower() for w in caught)
        if getattr(est, "n_iter_", None) is not None:  # ridge solves in closed form
            info["iterations"] = int(np.max(est.n_iter_))
        classes = est.classes_
        arrays.update(coef=est.coef_, intercept=np.atleast_1d(est.intercept_))
    arrays["classes"] = np.asarray(classes, dtype=np.int64)
    info.update(n_train=len(y), n_classes=len(classes), seconds=time.perf_counter() - start)
    return LinearClassifier(kind, arrays, n_labels, info), info


def install(model, task: str, clf: LinearClassifier) -> None:
    """Make `clf` the task's head for predict / evaluate / serve, and save it with the model."""
    model.external_heads[task] = clf
    writers = list(getattr(model, "artifact_writers", []))
    if write_external not in writers:
        model.artifact_writers = [*writers, write_external]


def write_external(model, folder: Path, extra: dict) -> None:
    """Artifact hook: the classifiers as arrays + JSON (and how to restore them)."""
    if not model.external_heads:
        return
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
    modules = extra.setdefault("extension_modules", [])
    if __name__ not in modules:
        modules.append(__name__)


@extensions.register
def restore_external(model, path, meta) -> None:
    folder = Path(path) / DIR
    if not (folder / META).exists():
        return
    info = json.loads((folder / META).read_text())
    arrays = load_file(str(folder / WEIGHTS))
    for task, task_info in info.items():
        prefix = f"{task}."
        mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        n_labels = len(model.spec.task(task).labels)
        install(model, task, LinearClassifier(task_info["kind"], mine, n_labels, task_info))
