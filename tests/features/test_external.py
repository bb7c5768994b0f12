"""External linear classifiers: the saved arrays reproduce scikit-learn's decisions (and
LogisticRegression's probabilities) over the task's full label space."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from polyhead.config import ClassifierConfig
from polyhead.features.external import fit_classifier, make_estimator
from polyhead.model.linear import UNSEEN_LOGIT


def _data(classes, n=120, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, size=n)
    centers = rng.normal(size=(max(classes) + 1, dim)) * 3
    X = centers[y] + rng.normal(size=(n, dim)) * (1 + np.arange(dim))  # unequal scales
    return X.astype(np.float32) + 5.0, y


def _logits(clf, X) -> np.ndarray:
    return clf({"pooled": torch.from_numpy(X)}).numpy()


@pytest.mark.parametrize("classes", [[0, 2, 3], [1, 3]], ids=["multiclass", "binary"])
@pytest.mark.parametrize("standardize", [False, True])
def test_logistic_probabilities_match_sklearn(classes, standardize):
    X, y = _data(classes)
    cfg = ClassifierConfig(C=0.5, standardize=standardize)
    clf, info = fit_classifier("sentence", X, y, n_labels=5, cfg=cfg, seed=0)
    Xs = (X - X.mean(0)) / X.std(0) if standardize else X.astype(np.float64)
    ref = LogisticRegression(C=0.5, max_iter=1000).fit(Xs, y)
    logits = _logits(clf, X)  # (n, 5)
    assert logits.shape == (len(X), 5)
    probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
    np.testing.assert_allclose(probs[:, classes], ref.predict_proba(Xs), atol=1e-4)
    unseen = [c for c in range(5) if c not in classes]
    assert (logits[:, unseen] == UNSEEN_LOGIT).all()
    assert info["n_classes"] == len(classes) and info["converged"]


@pytest.mark.parametrize("estimator", ["linear_svc", "ridge", "sgd"])
def test_other_linear_estimators_decide_like_sklearn(estimator):
    X, y = _data([0, 1, 4])
    cfg = ClassifierConfig(estimator=estimator, standardize=False)
    clf, _ = fit_classifier("sentence", X, y, n_labels=5, cfg=cfg, seed=0)
    ref = make_estimator(cfg, len(y), 0).fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(_logits(clf, X).argmax(-1), ref.predict(X))


def test_single_class_always_predicts_it():
    X, y = _data([2])
    clf, _ = fit_classifier("sentence", X, y, 4, ClassifierConfig(), 0)
    assert (_logits(clf, X).argmax(-1) == 2).all()


def test_token_classifier_reads_token_embeddings():
    X, y = _data([0, 1, 2])
    clf, _ = fit_classifier("token", X, y, 3, ClassifierConfig(), 0)
    tokens = torch.from_numpy(X[:12]).reshape(2, 6, -1)  # (B, T, F)
    out = clf({"token_embeddings": tokens})
    assert out.shape == (2, 6, 3)
    flat = torch.from_numpy(X[:12]) @ clf.weight.T + clf.bias  # the same rows, one by one
    torch.testing.assert_close(out.reshape(12, 3), flat)
