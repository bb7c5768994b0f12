"""The run configuration: typed sections (`sections`, `plan`) and reading them from YAML with dotted
overrides (`loading`). Import names from here."""

from polyhead.config.loading import (
    load_config,
    parse_overrides,
    read_raw_config,
    set_dotted,
    validate_config,
)
from polyhead.config.plan import STRATEGIES, LoraSettings, PlanConfig, StrategyName
from polyhead.config.sections import (
    TRACKER_PACKAGES,
    CacheConfig,
    ClassifierConfig,
    CompareConfig,
    FeaturesConfig,
    LoggerName,
    ModelConfig,
    ParamRange,
    RunConfig,
    TaskConfig,
    TrainerConfig,
    TuneConfig,
)

__all__ = [
    "STRATEGIES",
    "TRACKER_PACKAGES",
    "CacheConfig",
    "ClassifierConfig",
    "CompareConfig",
    "FeaturesConfig",
    "LoggerName",
    "LoraSettings",
    "ModelConfig",
    "ParamRange",
    "PlanConfig",
    "RunConfig",
    "StrategyName",
    "TaskConfig",
    "TrainerConfig",
    "TuneConfig",
    "load_config",
    "parse_overrides",
    "read_raw_config",
    "set_dotted",
    "validate_config",
]
