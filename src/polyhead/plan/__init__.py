"""The training plan: named parameter groups, freezing strategies, optimizer groups and the
LR schedule, built in one place and printed before training (see `polyhead.plan.plan`)."""

from polyhead.plan.build import build_plan
from polyhead.plan.optim import param_groups, scheduler
from polyhead.plan.plan import Phase, PlannedGroup, TrainingPlan
from polyhead.plan.render import plan_json, plan_table, plan_text
from polyhead.plan.strategies import STRATEGY_FUNCTIONS

__all__ = [
    "STRATEGY_FUNCTIONS",
    "Phase",
    "PlannedGroup",
    "TrainingPlan",
    "build_plan",
    "param_groups",
    "plan_json",
    "plan_table",
    "plan_text",
    "scheduler",
]
