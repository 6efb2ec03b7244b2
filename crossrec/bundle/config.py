"""The bundle's persisted config: every number the shipped model was built with.

Saved as ``bundle.json`` in the version (part of its content hash). Scoring, evaluation and the
gate rebuild the bundle from it alone, so a champion scores with its own ``max_history``, not
tonight's setting. ``config.json`` beside it rebuilds the two-tower module.
"""

from __future__ import annotations

from typing import Literal

import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crossrec.data.domain import DomainData
from crossrec.data.sparse import SOURCE, TARGET, domain_matrix
from crossrec.models.item_graph import ItemGraph, cosine_weights, walk_weights
from crossrec.models.reranker import RerankerConfig

FORMAT = 1
"""Bump when a field's meaning changes; :meth:`Bundle.load` refuses formats it does not know."""


class GraphPart(BaseModel):
    """The item graph and how its scores are fused with the two-tower model's."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["walk", "cosine"] = "walk"
    """``walk``: the RP3beta random walk (``alpha``, ``beta``); ``cosine``: item cosine kNN
    (``neighbours``, ``shrink``). Versions saved before the choice are walks."""
    alpha: float | None = Field(None, gt=0)
    """Walk: exponent on the transition probabilities."""
    beta: float | None = None
    """Walk: popularity exponent of the target items (negative favours popular ones)."""
    neighbours: int | None = Field(None, ge=1)
    """Cosine: most similar target items kept per item."""
    shrink: float | None = Field(None, ge=0.0)
    """Cosine: added to the norm product (damps pairs few users support)."""
    weight: float = Field(ge=0.0, le=1.0)
    """Share of the graph's z-scored score in the fused score."""
    popularity: float = Field(0.0, ge=0.0)
    """Weight, relative to the graph's z-score, of the popularity prior (z-scored log counts
    of the target items) in the fused score of users without target rows; 0: none (versions
    saved before the prior have none)."""

    @model_validator(mode="after")
    def _settings_of_its_kind(self) -> GraphPart:
        walk = (self.alpha, self.beta)
        if self.kind == "walk" and (None in walk or self.neighbours or self.shrink is not None):
            raise ValueError("a walk graph takes alpha and beta (and no neighbours or shrink)")
        if self.kind == "cosine" and (walk != (None, None) or self.shrink is None):
            raise ValueError("a cosine graph takes neighbours and shrink (and no alpha or beta)")
        return self

    def label(self) -> str:
        """The graph's settings in a few words, e.g. ``cosine neighbours=5 shrink=2.0``."""
        if self.kind == "walk":
            return f"walk alpha={self.alpha} beta={self.beta}"
        return f"cosine neighbours={self.neighbours} shrink={self.shrink}"

    def weights(self, xs: sp.csr_matrix, xt: sp.csr_matrix
                ) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """(source -> target, target -> target) weights of binary rows ``xs``, ``xt``."""
        if self.kind == "walk":
            return walk_weights(xs, xt, self.alpha, self.beta)
        return cosine_weights(xs, xt, self.neighbours, self.shrink)

    def build(self, data: DomainData) -> ItemGraph:
        """This graph over ``data``'s training rows."""
        return ItemGraph(*self.weights(domain_matrix(data, SOURCE), domain_matrix(data, TARGET)))


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
