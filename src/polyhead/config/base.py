"""The base of the config sections: an unknown field is an error (a typo must not be
ignored), and an assignment is validated like construction."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
