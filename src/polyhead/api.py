"""The Python face: `load` a model (a folder or a Hub id), `train` one from a YAML file, a dict
or a RunConfig, with data from files, Python lists, pandas DataFrames or `datasets`.

    import polyhead
    run = polyhead.train("run.yaml", data=dataset_dict, out="runs/first")
    model = polyhead.load(run.model_dir)          # or polyhead.load("org/name")
    model.predict(["wake me up at seven"])

The CLI commands are thin wrappers over these functions.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from polyhead.compare.report import Report, write_report
from polyhead.compare.runner import RunOutcome, run_comparison
from polyhead.config import RunConfig, read_raw_config, set_dotted, validate_config
from polyhead.data.readers import read_examples
from polyhead.data.sources import DataSource, data_section, group_sources, write_jsonl
from polyhead.engine.evaluation import evaluate_examples
from polyhead.engine.rundir import prepare_run_dir
from polyhead.engine.train import prepare
from polyhead.engine.train import train as train_run
from polyhead.errors import ConfigError, PolyheadError
from polyhead.hub import push, resolve_model
from polyhead.model.artifact import is_artifact
from polyhead.model.loading import load_any
from polyhead.model.multitask import MultiTaskModel
from polyhead.model.spec import ModelSpec
from polyhead.plan import TrainingPlan
from polyhead.predict import Predictor, encode

ConfigLike = str | Path | Mapping | RunConfig


class Model:
    """A trained polyhead model (or a plain encoder: embeddings only).

    `module` is the torch model (polyhead.model.MultiTaskModel); `path` the folder it was
    loaded from, if any."""

    def __init__(self, module: MultiTaskModel, path: str | Path | None = None):
        self.module = module
        self.path = Path(path) if path is not None else None

    def __repr__(self) -> str:
        tasks = ", ".join(f"{n} ({k})" for n, k in self.tasks.items()) or "no tasks: embeddings"
        return f"Model({self.spec.backbone}; {tasks})"

    @property
    def spec(self) -> ModelSpec:
        """Backbone, pooling, max length and the tasks with their labels."""
        return self.module.spec

    @property
    def tasks(self) -> dict[str, str]:
        """Task name -> kind ('sentence', 'token', 'multilabel', 'regression' or 'pair')."""
        return {t.name: t.kind for t in self.spec.tasks}

    @property
    def labels(self) -> dict[str, list[str]]:
        """Task name -> its label names in id order (BIO tags for token tasks)."""
        return {t.name: list(t.labels) for t in self.spec.tasks}

    def predict(
        self, texts: str | list[str], batch_size: int = 32, embeddings: bool = False
    ) -> dict | list[dict]:
        """Per text: each sentence task's {label, score}, each token task's entities (with
        character offsets), each multilabel task's {labels, scores}, each regression task's
        {value} ({values} for several targets); `embeddings` adds the sentence vector. One
        text in, one dict out. Pair tasks answer `predict_pairs`."""
        single = isinstance(texts, str)
        out = Predictor(self.module, batch_size=batch_size).predict(
            [texts] if single else list(texts), embeddings=embeddings
        )
        return out[0] if single else out

    def predict_pairs(
        self, pairs: tuple[str, str] | list[tuple[str, str]], batch_size: int = 32
    ) -> dict | list[dict]:
        """Per (text, text_pair): each pair task's prediction, both texts encoded together
        (a cross-encoder). One pair in, one dict out."""
        single = isinstance(pairs, tuple)
        items = [pairs] if single else [tuple(p) for p in pairs]
        out = Predictor(self.module, batch_size=batch_size).predict_pairs(items)
        return out[0] if single else out

    def encode(self, texts: str | list[str], batch_size: int = 64) -> np.ndarray:
        """Sentence embeddings, (N, H) float32 ((H,) for one text)."""
        single = isinstance(texts, str)
        vectors = encode(self.module, [texts] if single else list(texts), batch_size=batch_size)
        return vectors[0] if single else vectors

    def evaluate(self, data, columns: Mapping | None = None, split: str | None = None) -> dict:
        """Metrics per task on labelled data: a data file, or what `polyhead.train` takes as
        data (a list, DataFrame, Dataset, DatasetDict, dict of splits). From several splits,
        `split` (default: test, else dev, else train) is scored."""
        if isinstance(data, str | Path):
            # a JSONL `text` is split into words as this model splits them
            examples = read_examples(data, words_mode=self.module.spec.words)
            return evaluate_examples(self.module, examples, where=str(data))
        source = data_section(data, {"columns": dict(columns or {})})
        if not isinstance(source, DataSource):  # source fields, e.g. {"hf": "banking77"}
            try:
                source = DataSource.model_validate(source)
            except ValidationError as e:
                raise ConfigError("data", e.errors()[0]["msg"]) from None
        table = source.table()
        if table is None:
            raise PolyheadError("evaluate: give a data file, in-memory data or {'hf': ...}")
        split = split or next((s for s in ("test", "dev", "train") if table.splits[s]), "train")
        if split not in table.splits:
            raise PolyheadError(f"evaluate: split {split!r}; expected train, dev or test")
        return evaluate_examples(self.module, table.splits[split], where=f"data[{split!r}]")

    def save(self, path: str | Path) -> Path:
        """Write the model as an artifact folder (what `polyhead.load` reads back)."""
        out = self.module.save(path, extra=self.module.artifact_meta.get("extra"))
        card = self.path / "README.md" if self.path is not None else None
        if card is not None and card.exists() and Path(out).resolve() != self.path.resolve():
            shutil.copyfile(card, Path(out) / "README.md")  # the model card travels along
        return Path(out)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str | None = None,
    ) -> str:
        """Upload to the Hub repo `repo_id` (created if missing); returns the commit URL. A
        model loaded from an artifact folder uploads that folder, others are saved first."""
        options = dict(revision=revision, private=private, token=token)
        if self.path is not None and is_artifact(self.path):
            return push(self.path, repo_id, commit_message=commit_message, **options)
        with tempfile.TemporaryDirectory(prefix="polyhead-push-") as tmp:
            folder = self.save(Path(tmp) / "model")
            return push(folder, repo_id, commit_message=commit_message, **options)


def load(path_or_hub_id: str | Path, revision: str | None = None, device: str | None = None):
    """A saved model: an artifact folder (RUN/model), a Hub id (`org/name`, at `revision`; from
    the HF cache when offline), or a plain encoder ('minilm', a HF folder or id: embeddings).
    `device`: e.g. 'cuda' (default: CPU)."""
    folder = resolve_model(str(path_or_hub_id), revision)
    module = load_any(folder, device=device)
    return Model(module, folder if is_artifact(folder) else None)


@dataclass
class Run:
    """A finished training run: its folder, final metrics and plan; `model` loads the best
    model saved in `model_dir`."""

    run_dir: Path
    metrics: dict
    plan: TrainingPlan
    best_epoch: int | None
    train_seconds: float

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "model"

    @property
    def paths(self) -> dict[str, Path]:
        """What the run wrote (polyhead.engine.rundir lists them)."""
        names = ["config.yaml", "plan.txt", "metrics.json", "history.jsonl", "report.md", "logs"]
        return {"model": self.model_dir, **{n: self.run_dir / n for n in names}}

    @cached_property
    def model(self) -> Model:
        return load(self.model_dir)


def build_config(
    config: ConfigLike,
    data=None,
    columns: Mapping | None = None,
    overrides: Mapping | None = None,
) -> RunConfig:
    """A validated RunConfig from a YAML path, a dict or a RunConfig, with data given in
    Python and overrides applied. Override keys are dotted (`"trainer.epochs"`) or use `__`
    (`trainer__epochs=2`); a dict value merges into its section."""
    if isinstance(config, RunConfig) and data is None and not columns and not overrides:
        # a copy of the section a run changes (`epochs: auto` -> a number): the caller's
        # config stays as given, to reuse on other data
        return config.model_copy(update={"trainer": config.trainer.model_copy()})
    raw = _raw(config)
    for key, value in (overrides or {}).items():
        _merge(raw, key.replace("__", "."), value)
    if columns is not None:
        _merge(raw, "data.columns", dict(columns))
    if data is not None:
        _attach(raw, data)
    return validate_config(raw)


def _raw(config: ConfigLike) -> dict:
    if isinstance(config, RunConfig):
        return config.model_dump()  # in-memory sources are found again by fingerprint
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config))
    if isinstance(config, str | Path):
        return read_raw_config(config)
    raise PolyheadError(
        f"config: a {type(config).__name__}; expected a YAML path, dict or RunConfig"
    )


def _merge(raw: dict, dotted: str, value) -> None:
    """set_dotted, except that a dict value merges into an existing section."""
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    existing = node.get(last) if isinstance(node, dict) else None
    if isinstance(value, Mapping) and isinstance(existing, dict):
        for key, sub in value.items():
            _merge(existing, str(key), sub)
        return
    set_dotted(raw, dotted, value)


def _attach(raw: dict, data) -> None:
    """`data` for every task (the top-level `data:`), or {task name: its data}."""
    tasks = raw.get("tasks") if isinstance(raw.get("tasks"), dict) else {}
    if isinstance(data, Mapping) and data and all(k in tasks for k in data):
        for name, value in data.items():
            task = tasks[name] if isinstance(tasks[name], dict) else {}
            settings = {**_dict(raw.get("data")), **_dict(task.get("data"))}
            task["data"] = data_section(value, settings, where=f"data[{name!r}]")
            tasks[name] = task
        return
    raw["data"] = data_section(data, _dict(raw.get("data")), where="data")


def _dict(section) -> dict:
    return dict(section) if isinstance(section, Mapping) else {}


def check_data(cfg: RunConfig) -> None:
    """hf and in-memory sources read now, and each task's column found: a missing one is one
    line naming it and the data's columns, before any model loads."""
    kinds = cfg.kinds()
    for group in group_sources(cfg.task_sources()):
        table = group.config.table() if group.config is not None else None
        for task in group.tasks if table is not None else []:
            table.require("tags" if kinds[task] == "token" else "label", task)
            if task in cfg.pair_tasks():  # a cross-encoder reads two texts per row
                table.require("text_pair", task)


def training_plan(config: ConfigLike, data=None, *, columns=None, **overrides) -> TrainingPlan:
    """What would train when, at which learning rate (`polyhead plan`); nothing trains."""
    cfg = build_config(config, data, columns, overrides)
    check_data(cfg)
    return prepare(cfg)[2]


def train(
    config: ConfigLike,
    data=None,
    out: str | Path | None = None,
    *,
    columns: Mapping | None = None,
    resume: bool = False,
    show_plan: bool = True,
    **overrides,
) -> Run:
    """Train a multi-task model (`polyhead train`); returns the finished Run.

    config: a YAML path, a dict, or a RunConfig. data: replaces the config's data: a path, a
    list of dicts ({"text", "label", "tags"} or {"tokens", "tags"}), a pandas DataFrame, a
    datasets Dataset / DatasetDict (ClassLabel names used), a dict of splits, or {task: data}.
    columns: which column holds text / tokens / label / tags. out: the run folder (default
    runs/<config>-<time>). overrides: `trainer__epochs=2` or `**{"trainer.epochs": 2}`.
    """
    cfg = build_config(config, data, columns, overrides)
    check_data(cfg)
    if out is None:
        stem = Path(config).stem if isinstance(config, str | Path) else "run"
        out = Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = prepare_run_dir(Path(out), resume=resume)
    console = None
    if show_plan:
        from rich.console import Console

        console = Console()
    result = train_run(cfg, run_dir, resume=resume, show_plan=console)
    return Run(result.run_dir, result.metrics, result.plan, result.best_epoch, result.train_seconds)


def compare_strategies(
    config: ConfigLike,
    data=None,
    out: str | Path | None = None,
    *,
    strategies: list[str] | None = None,
    seeds: int | None = None,
    isolate: bool = True,
    columns: Mapping | None = None,
    header: str = "",
    on_event: Callable[[RunOutcome], None] | None = None,
    **overrides,
) -> tuple[list[RunOutcome], Report]:
    """Train each strategy for each seed and write the report (`polyhead compare`); a rerun
    resumes. Data given in Python is written once to OUT/data/ (JSONL) so that each run's
    own process (`isolate`) reads the same examples."""
    if strategies:
        overrides = {**overrides, "compare.strategies": list(strategies)}
    cfg = build_config(config, data, columns, overrides)
    check_data(cfg)
    if out is None:
        stem = Path(config).stem if isinstance(config, str | Path) else "run"
        out = Path("runs") / f"compare-{stem}"
    out = Path(out)
    if isolate:
        cfg = _files_for_memory(cfg, out / "data")
    outcomes = run_comparison(cfg, out, None, seeds, isolate=isolate, on_event=on_event)
    return outcomes, write_report(out, outcomes, header=header)


def _files_for_memory(cfg: RunConfig, folder: Path) -> RunConfig:
    raw = cfg.model_dump()
    if cfg.data is not None and cfg.data.memory:
        raw["data"] = write_jsonl(cfg.data, folder)
    for name, task in cfg.tasks.items():
        if task.data is not None and task.data.memory:
            raw["tasks"][name]["data"] = write_jsonl(task.data, folder)
    return validate_config(raw)


def push_to_hub(model_dir: str | Path, repo_id: str, **options) -> str:
    """Upload a saved model folder (RUN/model) to the Hub (`polyhead push`); see hub.push."""
    return push(model_dir, repo_id, **options)
