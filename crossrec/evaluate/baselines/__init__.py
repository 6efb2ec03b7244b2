"""Baselines of the evaluation protocol (docs/architecture.md), behind ``Recommender``."""

from crossrec.evaluate.baselines.blend import CoocPopBlend
from crossrec.evaluate.baselines.cmf import JointALS
from crossrec.evaluate.baselines.cooccurrence import CooccurrenceKNN, cross_domain_cosine
from crossrec.evaluate.baselines.emcdr import EMCDR
from crossrec.evaluate.baselines.kernel_ridge import KernelRidge
from crossrec.evaluate.baselines.popularity import Popularity
from crossrec.evaluate.baselines.rp3beta import RP3beta
from crossrec.evaluate.baselines.user_knn import UserKNN

__all__ = ["EMCDR", "CoocPopBlend", "CooccurrenceKNN", "JointALS", "KernelRidge", "Popularity",
           "RP3beta", "UserKNN", "cross_domain_cosine"]
