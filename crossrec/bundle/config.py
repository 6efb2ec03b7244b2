"""The bundle's persisted config: every number the shipped model was built with.

Saved as ``bundle.json`` in the version (part of its content hash). Scoring, evaluation and the
gate rebuild the bundle from it alone, so a champion scores with its own ``max_history``, not
tonight's setting. ``config.json`` beside it rebuilds the two-tower module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crossrec.models.reranker import RerankerConfig

FORMAT = 1
"""Bump when a field's meaning changes; :meth:`Bundle.load` refuses formats it does not know."""


class GraphPart(BaseModel):
    """The item graph and how its scores are fused with the two-tower model's."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    alpha: float = Field(gt=0)
    """Exponent on the walk's transition probabilities."""
    beta: float
    """Popularity exponent of the walk's target items (negative favours popular ones)."""
    weight: float = Field(ge=0.0, le=1.0)
    """Share of the graph's z-scored score in the fused score."""
    popularity: float = Field(0.0, ge=0.0)
    """Weight, relative to the graph's z-score, of the popularity prior (z-scored log counts
    of the target items) in the fused score of users without target rows; 0: none (versions
    saved before the prior have none)."""


class BundleConfig(BaseModel):
    """What the bundle is made of, and with which numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal[1] = FORMAT
    """Version of this layout."""
    max_history: int = Field(ge=1)
    """Most recent items per domain the user tower reads."""
    graph: GraphPart | None = None
    """The item graph fused with the two-tower model; None: the two-tower model alone."""
    reranker: RerankerConfig | None = None
    """The cold-user reranker and the statistics it reads; None: no reranker shipped."""
