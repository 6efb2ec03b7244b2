"""Baselines of the evaluation protocol (docs/architecture.md), behind ``Recommender``."""

from crossrec.evaluate.baselines.cmf import JointALS
from crossrec.evaluate.baselines.cooccurrence import CooccurrenceKNN, cross_domain_cosine
from crossrec.evaluate.baselines.emcdr import EMCDR
from crossrec.evaluate.baselines.popularity import Popularity

__all__ = ["EMCDR", "CooccurrenceKNN", "JointALS", "Popularity", "cross_domain_cosine"]
