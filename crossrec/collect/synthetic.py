"""Seeded synthetic two-domain world: the embedded default data set.

Each user has a latent taste shared by both domains plus a small per-domain shift; items have
latent vectors and Zipf-like popularity. A user picks items (without replacement) with
probability proportional to ``exp(strength * taste·item / sqrt(k) + log popularity)``, so a
user's source history carries real information about their target preferences: exactly the
signal cross-domain transfer has to find.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa

from crossrec.config import SyntheticSource
from crossrec.schemas import INTERACTIONS, item_key

_USER_BLOCK = 2048  # users sampled per block: bounds memory at n_items * block floats


def _membership(rng: np.random.Generator, n_users: int, overlap: float) -> np.ndarray:
    """Per user, (active in source, active in target)."""
    u = rng.random(n_users)
    both = u < overlap
    source_only = (u >= overlap) & (u < overlap + (1 - overlap) / 2)
    return np.stack([both | source_only, both | ~source_only], axis=1)


def generate_interactions(cfg: SyntheticSource, source: str, target: str, end: date) -> pa.Table:
    """All interactions of the world, timestamps spread over ``cfg.days`` days before ``end``."""
    rng = np.random.default_rng(cfg.seed)
    k = cfg.latent_dim
    taste = rng.normal(size=(cfg.n_users, k))
    active = _membership(rng, cfg.n_users, cfg.overlap)
    end_ts = datetime(end.year, end.month, end.day, tzinfo=UTC)
    span_s = cfg.days * 86400

    users, items, domains = [], [], []
    for d_idx, domain in enumerate((source, target)):
        item_vecs = rng.normal(size=(cfg.n_items, k))
        ranks = rng.permutation(cfg.n_items) + 1
        log_pop = -cfg.zipf_exponent * np.log(ranks)
        shifted = taste + cfg.domain_shift * rng.normal(size=taste.shape)
        n_per_user = 1 + rng.poisson(cfg.mean_interactions - 1, size=cfg.n_users)
        n_per_user = np.minimum(n_per_user, cfg.n_items // 2)
        for start in range(0, cfg.n_users, _USER_BLOCK):
            block = slice(start, min(start + _USER_BLOCK, cfg.n_users))
            logits = cfg.taste_strength * shifted[block] @ item_vecs.T / np.sqrt(k) + log_pop
            # Gumbel top-k = sampling without replacement proportional to exp(logits)
            keys = logits + rng.gumbel(size=logits.shape)
            order = np.argsort(-keys, axis=1)
            for row, uid in enumerate(range(block.start, block.stop)):
                if not active[uid, d_idx]:
                    continue
                picked = order[row, : n_per_user[uid]]
                users.extend([f"u{uid:06d}"] * len(picked))
                items.extend(item_key(domain, int(j)) for j in picked)
                domains.extend([domain] * len(picked))

    n = len(users)
    offsets = rng.integers(0, span_s, size=n)
    ts_us = int(end_ts.timestamp()) * 1_000_000 - (span_s - offsets) * 1_000_000
    return pa.table(
        {
            "user_id": users,
            "item_id": items,
            "domain": domains,
            "event_ts": pa.array(ts_us, type=pa.timestamp("us", tz="UTC")),
            "rating": pa.nulls(n, type=pa.float32()),
            "source": ["synthetic"] * n,
        },
        schema=INTERACTIONS,
    )
