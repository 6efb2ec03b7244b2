"""Pipeline settings: one validated, frozen pydantic tree loaded from a TOML file.

Unknown keys are errors (``extra="forbid"``) so a typo never silently falls back to a default.
Run options (device, seed, threads) live apart from model and training hyper-parameters.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from crossrec.collect.sources import (
    DOMAIN_PATTERN,
    CollectConfig,
    SourceConfig,
    SyntheticSource,
    is_url,
)
from crossrec.errors import ConfigError
from crossrec.strict import StrictModel


class DomainsConfig(StrictModel):
    source: str = Field("sport", pattern=DOMAIN_PATTERN)
    """Domain users already bought in; its history drives cold-start recommendations."""
    target: str = Field("cloth", pattern=DOMAIN_PATTERN)
    """Domain we recommend into."""

    @model_validator(mode="after")
    def _distinct(self) -> DomainsConfig:
        if self.source == self.target:
            raise ValueError("source and target must differ")
        return self


class SplitConfig(StrictModel):
    seed: int = 42
    """Seed of the user split; the same seed gives the same split."""
    cold_test_frac: float = Field(0.2, gt=0.0, lt=1.0)
    """Share of overlapping users whose target rows are all withheld for the final test."""
    cold_val_frac: float = Field(0.1, gt=0.0, lt=1.0)
    """Share of overlapping users withheld for early stopping and model selection."""


class FeaturesConfig(StrictModel):
    memory_limit: str = "2GB"
    """DuckDB memory limit of the feature build; beyond it DuckDB spills to ``temp_directory``."""
    temp_directory: Path | None = None
    """Where DuckDB spills; None uses ``<data_dir>/tmp/duckdb``."""
    threads: int | None = Field(None, ge=1)
    """DuckDB threads; None uses ``run.threads``, else DuckDB's default (all cores)."""
    full_refresh: bool = False
    """Rebuild incremental models from every landing partition instead of only the new or
    re-collected ones (``crossrec run --full-refresh``)."""


class ValidationConfig(StrictModel):
    min_rows: int = Field(100, ge=1)
    """A landing batch with fewer interactions than this fails the gate."""
    min_cold_val_users: int = Field(5, ge=1)
    """Fewer cold validation users than this makes early stopping meaningless: fail."""
    max_row_change: float = Field(0.5, gt=0.0)
    """Largest allowed relative change of the run date's landing row count vs the previous
    run's (0.5: between half and one and a half times); beyond it the gate fails."""
    max_quarantined_share: float = Field(0.05, ge=0.0, le=1.0)
    """Largest share of the collected rows (``collect.json``: quarantined / read) that may be
    quarantined before the gate fails."""


class ModelConfig(StrictModel):
    dim: int = Field(64, ge=4)
    """Embedding and user-vector dimension."""
    max_history: int = Field(50, ge=1)
    """Most recent items per domain fed to the user tower."""
    pooling: Literal["attention", "mean", "gru"] = "attention"
    """How the user tower pools its history: attention weights, a plain mean, or a GRU read
    in time order (source history, then target history)."""
    discriminator_hidden: int = Field(64, ge=4)
    """Hidden width of the domain discriminator."""
    attributes: bool = True
    """Encode item attributes (leaf category, brand, price bucket) where the data has them;
    False trains on item ids alone (an ablation)."""
    init: Literal["random", "als"] = "random"
    """How a new two-tower model starts: random vectors, or ``als``: the item factors of an
    implicit ALS over both domains' training rows (``dim`` factors), the history side
    whitened so that the untrained tower ranks like the ALS fold-in of a user's history,
    both tables scaled to the softmax temperature that fits the training rows
    (crossrec/models/factor_init.py)."""
    init_whitening: float = Field(1.0, gt=0)
    """``als`` init: the ridge λ of the fold-in ``Y (YᵀY + λI)⁻¹`` held by the history table."""


class AssemblyConfig(StrictModel):
    """``[bundle]``: how the shipped model is assembled from the fine-tuned two-tower model: the
    item graph and the popularity prior chosen by cross-validation over the users in both
    domains, the rest on the cold validation users. What was chosen is saved with the version
    (``bundle.json``); this is the search, not the result."""

    graph: bool = True
    """Fuse the two-tower score with the item-to-item random-walk graph (the final model is a
    hybrid); False ships the two-tower model alone (an ablation)."""
    graph_alphas: list[float] = Field([0.25, 0.5], min_length=1)
    """Exponents on the random-walk graph's transition probabilities (1 = plain random walk),
    candidates of the cross-validation that chooses the item graph (crossrec/bundle/
    crossval.py); one value fixes it."""
    graph_betas: list[float] = Field([0.0, 0.3, -0.2], min_length=1)
    """Popularity exponents of the random-walk graph's target items, candidates of the same
    cross-validation; one value fixes it. Positive values discount popular targets, 0 leaves
    the walk as it is, and negative values favour them. On a tie the earlier candidate is
    kept (walks before cosine graphs)."""
    graph_neighbours: list[Annotated[int, Field(ge=1)]] = [5, 20, 100]
    """Neighbours kept per item of the cosine kNN graphs among the same candidates; [] leaves
    the random walk as the only kind."""
    graph_shrink: float = Field(2.0, ge=0.0)
    """Shrink of the cosine graphs: added to the norm product, it damps pairs few users
    support."""
    graph_folds: int = Field(5, ge=2)
    """Folds of that cross-validation over the users in both domains (each fold's graphs and
    popularity counts built without its users' target rows). With fewer than two users per
    fold the graph is chosen on the cold validation users instead, without a prior."""
    fusion_weights: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0], min_length=1)
    """Fusion weights of the item graph tried on the cold validation users: denser near 0,
    where the sparse graph scores (large z-scores on the few items they reach) start to
    dominate the ranking. On a tie the earlier weight is kept."""
    popularity_weights: list[Annotated[float, Field(ge=0.0)]] = Field(
        [0.0, 0.3, 1.0, 3.0, 10.0], min_length=1)
    """Weights of the popularity prior beside the graph score of users without target rows,
    chosen together with the graph by the same cross-validation, not on the cold validation
    users (too few to tell them apart where few users are in both domains). On a tie the
    earlier weight is kept; [0.0] turns the prior off."""
    rerank: bool = True
    """Train a reranker of cold users' top items on pseudo-cold users (see
    crossrec/train/rerank.py) and ship it where it beats the hybrid on the cold validation
    users; False never trains one (an ablation)."""
    rerank_candidates: int = Field(100, ge=1)
    """Target items per cold user the reranker reorders."""
    rerank_neighbours: int = Field(400, ge=1)
    """Most similar users whose target rows the reranker's user-kNN signal sums."""
    rerank_folds: int = Field(5, ge=2)
    """Folds of pseudo-cold users the reranker is trained on (each fold's statistics are
    fitted without it)."""
    rerank_base_weights: list[Annotated[float, Field(ge=0.0)]] = Field(
        [0.0, 0.25, 0.5, 1.0], min_length=1)
    """Weights of the base model's score (two-tower fused with the graph) in the reranked
    candidates' order, tried on the cold validation users; 0 lets the reranker alone order
    them (without it the learned model has no say in a cold user's top items). On a tie the
    earlier weight is kept."""
    rerank_margin: float = Field(1.0, ge=0.0)
    """Standard errors of the user-by-user NDCG@10 difference by which the reranker must beat
    the fused model (with and without its popularity prior) on the cold validation users to
    ship: a few dozen users' chance win ships nothing. 0: any win ships it."""
    rerank_epochs: int = Field(30, ge=1)
    """Passes over the reranker's training table."""


class TrainConfig(StrictModel):
    pretrain_epochs: int = Field(4, ge=0)
    """Epochs of source-domain pretraining (0 skips the stage: an ablation)."""
    adapt_epochs: int = Field(6, ge=0)
    """Epochs of joint recommendation + domain-adversarial training."""
    finetune_epochs: int = Field(6, ge=0)
    """Epochs of target-domain fine-tuning."""
    batch_size: int = Field(256, ge=1)
    lr: float = Field(3e-3, gt=0)
    """Adam learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    adversarial_weight: float = Field(0.1, ge=0)
    """Scale of the reversed domain-loss gradient that reaches the user tower; 0 turns
    adaptation into plain joint training (the discriminator still learns, so its accuracy
    shows how separable the unadapted encodings are)."""
    discriminator_lr_scale: float = Field(10.0, gt=0)
    """The domain discriminator's learning rate as a multiple of ``lr``."""
    freeze: Literal["frozen_user_tower", "partial", "full"] = "partial"
    """What fine-tuning may update: item tower only, tower head + items, or everything."""
    cold_dropout: float = Field(0.5, ge=0.0, le=1.0)
    """During fine-tuning, the share of examples whose target history is hidden so the model
    learns to recommend from source history alone (the cold-start case)."""
    weak_negative_weight: float = Field(0.5, ge=0.0)
    """Fine-tuning: weight of a pairwise (BPR) term that ranks each positive above up to
    ``WEAK_PER_EXAMPLE`` of the user's weak negatives (shown, not clicked); 0 turns it off.
    No effect until click logs are ingested."""
    negatives: int = Field(2048, ge=0)
    """Sampled softmax: catalogues larger than this train against this many uniformly drawn
    negatives per batch instead of every item (0 = always the full softmax)."""
    patience: int = Field(3, ge=1)
    """Epochs without cold-validation NDCG@10 improvement before stopping."""
    keep_start: bool = False
    """Adapt and finetune also score their starting point on the cold validation users and
    keep it (best epoch 0) when no epoch beats it: for a start worth keeping, such as
    ``[model] init = "als"``, which training on the recommendation loss can pull away from."""
    refit: bool = True
    """After selection, train every stage again on every row (the held-out users' target rows
    and the warm users' last items too) for the epochs selection kept, rebuild the bundle's
    graph and reranker with the selected settings on every row, and publish that version.
    The held-out version it was selected on stays beside it: evaluation and the gate use it.
    False publishes the held-out version itself (half the training time, less data)."""


class ScoreConfig(StrictModel):
    top_n: int = Field(20, ge=1, le=1000)
    """Recommendations published per user."""
    memory_mb: float = Field(256, gt=0)
    """Working memory of the top-N kernel per scoring task (score blocks and item tiles),
    whatever the number of users or items."""
    shard_users: int = Field(250_000, ge=1)
    """Users per scoring task; each shard is one Prefect task and one Parquet part, mapped
    over the flow's task runner."""
    explain: int = Field(3, ge=0, le=20)
    """Source items listed in each row's ``explanation`` (those that contributed most to
    the recommendation); 0 leaves the column null and skips the work."""


class GateConfig(StrictModel):
    enabled: bool = True
    """Compare each night's model (the challenger) with the champion before publishing;
    false still reports the comparison but always publishes the challenger."""
    metric: Literal["ndcg@10", "recall@20", "hr@10", "mrr"] = "ndcg@10"
    """The cold-validation metric the gate compares."""
    tolerance: float = Field(0.02, ge=0, lt=1)
    """Relative drop below the champion's metric that is still accepted (0.02: 2% worse)."""
    min_lift_over_popularity: float | None = Field(0.0, ge=-1)
    """The challenger must reach popularity's metric times ``1 + this`` (0: at least equal);
    None: no popularity floor."""
    min_score: float = Field(0.0, ge=0)
    """Absolute floor on the challenger's metric."""
    min_ratio_to_best_baseline: float | None = Field(None, ge=0)
    """The challenger must reach the best baseline's metric (every evaluated baseline, tuned
    ones included; not the champion) times this (1.0: at least equal, 1.1: 10% better);
    None: no such floor."""
    noise_margin: float = Field(2.0, ge=0)
    """How many standard errors of the user-by-user difference (challenger minus the floor's
    method, on the same validation users) the challenger may fall below the popularity and
    best-baseline floors before they reject it: on a few dozen validation users the two
    differ by chance by more than the whole gap; 0: any shortfall rejects."""
    on_reject: Literal["keep", "champion"] = "keep"
    """When the challenger is rejected: ``keep`` yesterday's published recommendations (no
    partition for today), or ``champion``: score today's users with the champion instead."""


class ClicksConfig(StrictModel):
    drop_dir: Path | None = None
    """Where click-log files arrive, one ``event_date=YYYY-MM-DD/`` folder per day of
    ``*.jsonl[.gz]`` / ``*.parquet`` files; None: ``<data_dir>/drop/clicks``."""
    urls: list[str] = Field(default_factory=list)
    """Click logs to download as well; ``{event_date}`` in a URL becomes the day."""
    future_tolerance_s: int = Field(300, ge=0)
    """Clock skew allowed before an event timestamp counts as in the future."""
    ingest_yesterday: bool = True
    """The nightly run ingests the click logs of the day before its run date first."""


class RunOptions(StrictModel):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train and score; auto picks CUDA when present."""
    seed: int = 0
    """Seed for model initialisation and sampling."""
    threads: int | None = Field(None, ge=1)
    """CPU threads for torch; None keeps torch's default."""
    progress: bool = True
    """Show progress bars on long work."""
    task_runner: Literal["threads", "dask"] = "threads"
    """How the flow runs mapped tasks (the scoring shards): a thread pool in the flow's
    process, or a local Dask cluster of worker processes (``pip install 'crossrec[dask]'``)."""
    lock_timeout_s: float = Field(3600, ge=0)
    """How long a run waits for another run on the same data folder to finish (one writer at
    a time) before it fails."""
    workers: int | None = Field(None, ge=1)
    """Threads of the pool, or Dask worker processes (default: Prefect's pool size; 2)."""


class Settings(StrictModel):
    data_dir: Path = Path("data")
    """Root of the product's state: landing, warehouse, models, lake, reports."""
    sql_dir: Path | None = None
    """Folder of the SQL models; None uses the repository's ``sql/``."""
    domains: DomainsConfig = DomainsConfig()
    sources: list[SourceConfig] = Field(default_factory=lambda: [SyntheticSource()])
    """Inputs collected into the landing zone, one block per input."""
    collect: CollectConfig = CollectConfig()
    split: SplitConfig = SplitConfig()
    features: FeaturesConfig = FeaturesConfig()
    validation: ValidationConfig = ValidationConfig()
    model: ModelConfig = ModelConfig()
    bundle: AssemblyConfig = AssemblyConfig()
    train: TrainConfig = TrainConfig()
    score: ScoreConfig = ScoreConfig()
    clicks: ClicksConfig = ClicksConfig()
    gate: GateConfig = GateConfig()
    run: RunOptions = RunOptions()

    @field_validator("sources")
    @classmethod
    def _at_least_one(cls, v: list) -> list:
        if not v:
            raise ValueError("at least one [[sources]] block is required")
        return v



MOVED = {f"{section}.{key}": f"bundle.{key}" for section, keys in (
    ("model", ("graph", "graph_alphas", "graph_betas", "fusion_weights", "rerank",
               "rerank_candidates", "rerank_neighbours")),
    ("train", ("rerank_folds", "rerank_epochs"))) for key in keys} | {
    "bundle.popularity_folds": "bundle.graph_folds"}
"""Keys that moved to (or within) ``[bundle]`` (the assembly of the shipped model), old ->
new."""


def _describe(err: ValidationError, origin: str) -> str:
    """One line naming the offending key for the first problem (and how many more)."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "<root>"
    if first["type"] == "extra_forbidden" and key in MOVED:
        section, name = MOVED[key].split(".")
        what = f"'{key}' moved to [{section}] {name}"
    elif first["type"] == "extra_forbidden":
        what = f"unknown key '{key}'"
    else:
        what = f"invalid value for '{key}': {' '.join(first['msg'].split())}"
    more = len(err.errors()) - 1
    return f"{origin}: {what}" + (f" (and {more} more problem(s))" if more else "")


def load_settings(path: Path | None = None, **overrides) -> Settings:
    """Settings from a TOML file (or defaults), with top-level overrides applied on top.

    Relative paths inside the file are resolved against the file's folder. Types are strict
    (pydantic's strict mode on the file's JSON form): ``true`` is not a number and ``"30"``
    not an integer; any problem is one ConfigError line naming the file and the key.
    """
    raw: dict = {}
    origin = "settings"
    if path is not None:
        origin = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            raw = tomllib.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start}: {exc.reason})"
                              ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        base = path.parent
        if isinstance(raw.get("data_dir"), str):  # anything else is the validator's to refuse
            raw["data_dir"] = str(base / raw["data_dir"])
        sources = raw.get("sources")
        for src in sources if isinstance(sources, list) else []:
            for key in ("path", "meta_path"):
                if isinstance(src, dict) and isinstance(src.get(key), str) and not is_url(src[key]):
                    src[key] = str(base / src[key])
        for block, key in (("collect", "cache_dir"), ("features", "temp_directory"),
                           ("clicks", "drop_dir")):
            section = raw.get(block)
            if isinstance(section, dict) and isinstance(section.get(key), str):
                section[key] = str(base / section[key])
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:  # TOML dates and override Paths become text, as in the file
        return Settings.model_validate_json(json.dumps(raw, default=str), strict=True)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
