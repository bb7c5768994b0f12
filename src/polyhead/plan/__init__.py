"""The training plan: named parameter groups, freezing strategies, optimizer groups and the
LR schedule, built in one place and printed before training (see `polyhead.plan.plan`)."""

from polyhead.plan.build import build_plan
from polyhead.plan.plan import Phase, PlannedGroup, TrainingPlan
from polyhead.plan.strategies import STRATEGIES

__all__ = ["STRATEGIES", "Phase", "PlannedGroup", "TrainingPlan", "build_plan"]
