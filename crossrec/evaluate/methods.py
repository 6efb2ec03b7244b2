"""The methods every evaluation compares: the baselines with their defaults, and the
settings overrides behind our model's ablations."""

from __future__ import annotations

from collections.abc import Callable

from crossrec.config import Settings
from crossrec.data.domain import DomainData
from crossrec.evaluate.baselines import (
    EMCDR,
    CooccurrenceKNN,
    CoocPopBlend,
    JointALS,
    KernelRidge,
    Popularity,
    RP3beta,
    UserKNN,
)
from crossrec.ranking.recommender import Recommender

Factory = Callable[[DomainData], Recommender]

OURS, CHAMPION, POPULARITY = "crossrec", "champion", "popularity"
"""Method names of tonight's bundle, the published one it is judged against, and the
popularity floor."""
GATE_ROLE = "cold_val"
"""The users the gate judges on (only validation users: the test users stay untouched)."""


def baseline_factories(settings: Settings) -> dict[str, Factory]:
    """Each baseline of the evaluation protocol (docs/architecture.md) with its defaults,
    seeded and threaded like the run. The last four tune their hyper-parameters on the cold
    validation users while they are built (``rec.chosen``)."""
    threads, seed = settings.run.threads or 0, settings.run.seed
    return {
        "popularity": Popularity,
        "cooccurrence_knn": CooccurrenceKNN,
        "cmf_als": lambda data: JointALS(data, threads=threads, seed=seed),
        "emcdr": lambda data: EMCDR(data, threads=threads, seed=seed),
        "cooc_pop_blend": CoocPopBlend,
        "rp3beta": RP3beta,
        "kernel_ridge": KernelRidge,
        "user_knn": UserKNN,
    }


TUNED_ARGS: dict[str, dict[str, str]] = {
    "cooc_pop_blend": {"weight": "weights"},
    "rp3beta": {"alpha": "alphas", "beta": "betas"},
    "kernel_ridge": {"lam": "lambdas"},
    "user_knn": {"k": "ks"},
}
"""Per tuned baseline: each hyper-parameter in ``chosen`` -> the constructor's grid argument."""


def refit_factory(settings: Settings, name: str, chosen: dict | None) -> Factory:
    """Baseline ``name`` with the hyper-parameters it chose on held-out users (``chosen``)
    fixed (a one-point grid is not evaluated): how a tuned baseline is refitted on every row, as our
    model is. Untuned baselines (``chosen`` None) are built as usual."""
    make = baseline_factories(settings)[name]
    if name not in TUNED_ARGS:
        return make
    if not chosen:
        raise ValueError(f"{name} is tuned: refitting it needs what it chose")
    fixed = {arg: (chosen[key],) for key, arg in TUNED_ARGS[name].items()}
    return lambda data: make(data, **fixed)


ABLATIONS: dict[str, dict[str, dict]] = {
    "no_adaptation": {"train": {"adversarial_weight": 0.0}},
    "no_pretraining": {"train": {"pretrain_epochs": 0}},
    "no_finetuning": {"train": {"finetune_epochs": 0}},
}
"""Settings overrides of our model's ablations that need their own training run."""


def with_overrides(settings: Settings, override: dict[str, dict]) -> Settings:
    raw = settings.model_dump()
    for key, value in override.items():
        raw[key] = {**raw[key], **value}
    return Settings.model_validate(raw)
