"""Fitting external linear classifiers (`strategy: frozen`) with scikit-learn on frozen
features; the fitted classifier is a model part (polyhead.model.linear) saved as arrays."""

from __future__ import annotations

import time
import warnings

import numpy as np

from polyhead.model.linear import LinearClassifier


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
