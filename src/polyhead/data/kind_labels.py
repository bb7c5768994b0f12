"""Labels of the vector task kinds: `multilabel` (a set of label names per text) and
`regression` (one or more numbers per text).

Readers keep what a file holds: a JSON list of strings -> `Example.labels`, a JSON number or
list of numbers -> `Example.target` (and a number's text in `label`), a CSV cell -> `label`.
A task reads its kind's view here: a CSV cell splits on `data.label_separator` (multilabel
`"a|b"`, vector targets `"0.2|0.7"`). Rows carry these labels as tuples of floats (one per
label name or target dimension), NaN throughout where a row does not label the task.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from polyhead.data.example import Example
from polyhead.errors import DataError

VECTOR_KINDS = ("multilabel", "regression")


def record_label(ex: Example, value, where: tuple) -> None:
    """Put a JSON label value on `ex`: a string or integer -> `label` (integers are also a
    `target`), a float -> `target` (and `label`), a list of strings -> `labels`, a list of
    numbers -> `target`."""
    if value is None:
        return
    if isinstance(value, bool):
        raise DataError(*where, f"label {value!r}; expected a string, a number or a list")
    if isinstance(value, str):
        ex.label = value
    elif isinstance(value, int | float):
        _finite([value], where)
        ex.label, ex.target = str(value), [float(value)]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        ex.labels = list(value)
    elif isinstance(value, list) and all(is_number(v) for v in value) and value:
        _finite(value, where)
        ex.target = [float(v) for v in value]
    else:
        raise DataError(
            *where, f"label {value!r}; expected a string, a number, or a list of them (one type)"
        )


def is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _finite(values, where) -> None:
    if not all(math.isfinite(v) for v in values):
        raise DataError(*where, f"label {values!r}; expected finite numbers")


def label_list(ex: Example, sep: str | None) -> list[str] | None:
    """A multilabel example's label names (None when unlabelled; [] labels none)."""
    if ex.labels is not None:
        return ex.labels
    if ex.label is None:
        return None
    if sep is None:
        return [ex.label]
    return [p.strip() for p in ex.label.split(sep) if p.strip()]


def targets(ex: Example, sep: str | None) -> list[float] | None:
    """A regression example's numbers (None when unlabelled); a text label must parse."""
    if ex.target is not None:
        return ex.target
    if ex.label is None:
        return None
    parts = ex.label.split(sep) if sep else [ex.label]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise _error(ex, f"label {ex.label!r}; a regression task expects numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise _error(ex, f"label {ex.label!r}; expected finite numbers")
    return values


def _error(ex: Example, message: str) -> DataError:
    path, _, line = (ex.source or "").rpartition(":")
    if path and line.isdigit():
        return DataError(path, int(line), message)
    return DataError(ex.source or "<data>", None, message)


def label_names(kind: str, examples: list[Example], sep: str | None, field: str) -> list[str]:
    """Multilabel: the sorted label names seen. Regression: one name per target dimension
    (`field` for a scalar, `field_0`, `field_1`, ... for a vector); every example agrees."""
    if kind == "multilabel":
        return sorted({name for ex in examples for name in label_list(ex, sep) or []})
    dims = {len(t) for t in (targets(ex, sep) for ex in examples) if t is not None}
    if len(dims) > 1:
        raise DataError(
            examples[0].source or "<data>", None, f"targets of sizes {sorted(dims)}; expected one"
        )
    n = dims.pop() if dims else 1
    return [field] if n == 1 else [f"{field}_{i}" for i in range(n)]


def labelled(kind: str, ex: Example, sep: str | None) -> bool:
    value = label_list(ex, sep) if kind == "multilabel" else targets(ex, sep)
    return value is not None


def label_row(kind: str, ex: Example | None, names: list[str], sep: str | None) -> tuple:
    """The row label: multi-hot (multilabel, unknown names dropped) or the targets; NaN
    throughout when `ex` does not label the task."""
    missing = tuple([math.nan] * len(names))
    if ex is None:
        return missing
    if kind == "multilabel":
        chosen = label_list(ex, sep)
        if chosen is None:
            return missing
        return tuple(1.0 if n in chosen else 0.0 for n in names)
    values = targets(ex, sep)
    if values is None:
        return missing
    if len(values) != len(names):
        raise _error(ex, f"{len(values)} target(s); the task has {len(names)} ({names})")
    return tuple(values)


def target_stats(rows: Iterable[tuple]) -> tuple[list[float], list[float]]:
    """Per-dimension mean and standard deviation of the labelled rows' targets (std 1 where
    a dimension does not vary), for standardising regression targets."""
    values = np.array([r for r in rows if not math.isnan(r[0])], dtype=np.float64)
    if values.size == 0:
        return [0.0], [1.0]
    std = values.std(axis=0)
    std[std < 1e-8] = 1.0
    return values.mean(axis=0).tolist(), std.tolist()
