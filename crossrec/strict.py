"""The base of every config block."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys rejected (a typo never falls back to a default); values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
