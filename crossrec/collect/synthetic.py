"""Seeded synthetic two-domain world: the embedded default data set, and its ground truth.

Each user has a latent taste shared by both domains plus a small per-domain shift; items have
latent vectors drawn around a few category centres and Zipf-like popularity. A user picks
items (without replacement) with probability proportional to
``exp(strength * taste·item / sqrt(k) + log popularity)``, so a user's source history carries
real information about their target preferences: exactly the signal cross-domain transfer has
to find.

``SyntheticWorld`` builds only the latent truth (cheap, from RNG streams of its own), so any
later process, e.g. the click simulator, rebuilds the same truth from the config alone.
Interactions are streamed block by block of users, each block sampled from an RNG seeded by
(seed, domain, block): memory stays bounded and the output does not depend on the batch size.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from crossrec.collect.sources import SyntheticSource
from crossrec.schemas import ITEMS, STAGED

# Independent RNG streams: what one consumer draws never shifts what another sees.
_STREAM_USERS, _STREAM_DOMAIN, _STREAM_ATTRS, _STREAM_SAMPLE = range(4)
_BLOCK_CELLS = 2**22  # users x items per sampling block: bounds the block's float arrays
_MAX_BLOCK_USERS = 4096
_CHUNK = 64  # items per chunk of the two-level sampler
_PAD_LOGIT = -1e30  # logit of the padding items that round n_items up to whole chunks
_CDF_ROUNDS = 3  # inverse-CDF rounds before the rare still-short user falls back to Gumbel
_CATEGORY_WEIGHT = 0.8  # item = 0.8 centre + 0.6 noise: unit variance, category informative
_N_BRANDS = 24
_PAIRS_PER_CHUNK = 65536  # (user, item) pairs scored at a time by preference()
_SOURCE = "synthetic"
_US = 1_000_000

IdsLike = Sequence[str] | np.ndarray | pa.Array | pa.ChunkedArray


@dataclass(frozen=True)
class _Domain:
    """Latent truth of one domain."""

    name: str
    item_vecs: np.ndarray  # (n_items, k)
    log_pop: np.ndarray  # (n_items,), <= 0
    category: np.ndarray  # (n_items,) int
    shifted: np.ndarray  # (n_users, k): the users' taste in this domain
    n_per_user: np.ndarray  # (n_users,) distinct items to pick; 0 = not active here
    logit_matrix: np.ndarray  # (n_padded, k + 1) float32: rows [strength * item, log_pop]


def _rng(cfg: SyntheticSource, *stream: int) -> np.random.Generator:
    # SeedSequence wants non-negative entropy; the modulo keeps every int seed usable.
    return np.random.default_rng([cfg.seed % 2**64, *stream])


def _membership(rng: np.random.Generator, n_users: int, overlap: float) -> np.ndarray:
    """Per user, (active in source, active in target)."""
    u = rng.random(n_users)
    both = u < overlap
    source_only = (u >= overlap) & (u < overlap + (1 - overlap) / 2)
    return np.stack([both | source_only, both | ~source_only], axis=1)


def _numbered(prefix: str, numbers: np.ndarray, width: int = 0) -> pa.Array:
    """``prefix`` + the number, zero padded to ``width`` digits (vectorised)."""
    text = pc.cast(pa.array(numbers, type=pa.int64()), pa.string())
    if width:
        text = pc.utf8_lpad(text, width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _as_string_array(ids: IdsLike) -> pa.Array:
    """Any sequence of ids as one pyarrow string array."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if not isinstance(ids, pa.Array):
        ids = pa.array(np.asarray(ids, dtype=object), type=pa.string())
    return ids.cast(pa.string())


def _lookup(ids: IdsLike, parse: Callable[[pa.Array], np.ndarray]) -> np.ndarray:
    """``parse`` applied to the distinct ids only: id columns repeat a lot (recs, logs)."""
    encoded = pc.dictionary_encode(_as_string_array(ids))
    parsed = parse(encoded.dictionary)
    if not len(parsed):
        return np.full(len(encoded), -1, dtype=np.int64)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.where(codes >= 0, parsed[codes], -1)


def _parse_numbered(ids: pa.Array, prefix: str, canonical: pa.Array) -> np.ndarray:
    """Index of each id in ``canonical`` (ids are ``prefix<number>``); -1 where unknown."""
    pattern = f"^{re.escape(prefix)}[0-9]{{1,18}}$"
    ok = pc.fill_null(pc.match_substring_regex(ids, pattern), False)
    digits = pc.if_else(ok, pc.utf8_slice_codeunits(ids, len(prefix)), "0")
    idx = pc.cast(digits, pa.int64()).to_numpy(zero_copy_only=False).copy()
    ok = ok.to_numpy(zero_copy_only=False) & (idx < len(canonical))
    idx[~ok] = -1
    # Only the canonical spelling counts ("u12" is not "u000012"): round-trip the text.
    hit = np.flatnonzero(ok)
    same = pc.equal(canonical.take(pa.array(idx[hit])), ids.take(pa.array(hit)))
    idx[hit[~same.to_numpy(zero_copy_only=False)]] = -1
    return idx


class SyntheticWorld:
    """The latent truth of a seeded two-domain world, and its interactions and items."""

    def __init__(self, cfg: SyntheticSource, source: str, target: str) -> None:
        self.cfg = cfg
        users = _rng(cfg, _STREAM_USERS)
        taste = users.normal(size=(cfg.n_users, cfg.latent_dim))
        # (n_users, 2) bool: is the user active in (source, target)
        self.active = _membership(users, cfg.n_users, cfg.overlap)
        self._domains = tuple(self._build_domain(d, name, taste) for d, name in
                              enumerate((source, target)))
        width = max(6, len(str(cfg.n_users - 1)))
        self._user_ids = _numbered("u", np.arange(cfg.n_users), width)
        self._item_ids = tuple(_numbered(f"{name}:", np.arange(cfg.n_items))
                               for name in self.domains)

    def _build_domain(self, d: int, name: str, taste: np.ndarray) -> _Domain:
        cfg = self.cfg
        rng = _rng(cfg, _STREAM_DOMAIN, d)
        k = cfg.latent_dim
        centres = rng.normal(size=(cfg.n_categories, k))
        category = rng.integers(0, cfg.n_categories, size=cfg.n_items)
        noise_w = np.sqrt(1 - _CATEGORY_WEIGHT**2)
        item_vecs = _CATEGORY_WEIGHT * centres[category] + noise_w * rng.normal(
            size=(cfg.n_items, k))
        ranks = rng.permutation(cfg.n_items) + 1
        shifted = taste + cfg.domain_shift * rng.normal(size=taste.shape)
        n_per_user = 1 + rng.poisson(cfg.mean_interactions - 1, size=cfg.n_users)
        n_per_user = np.minimum(n_per_user, cfg.n_items // 2)
        n_per_user[~self.active[:, d]] = 0
        log_pop = -cfg.zipf_exponent * np.log(ranks)
        n_pad = -(-cfg.n_items // _CHUNK) * _CHUNK
        matrix = np.zeros((n_pad, k + 1), dtype=np.float32)
        matrix[: cfg.n_items, :k] = self._strength * item_vecs
        matrix[:, k] = _PAD_LOGIT
        matrix[: cfg.n_items, k] = log_pop
        return _Domain(name, item_vecs, log_pop, category, shifted, n_per_user, matrix)

    # ---- ids and ground truth -------------------------------------------------------------

    @property
    def domains(self) -> tuple[str, str]:
        return self._domains[0].name, self._domains[1].name

    @property
    def n_users(self) -> int:
        return self.cfg.n_users

    @property
    def n_items(self) -> int:
        """Items per domain."""
        return self.cfg.n_items

    def user_ids(self) -> pa.Array:
        """All user ids; position = user index."""
        return self._user_ids

    def item_ids(self, domain: str) -> pa.Array:
        """All item ids of ``domain``; position = local item index."""
        return self._item_ids[self.domains.index(domain)]

    def item_category(self, domain: str) -> np.ndarray:
        """Category (0 .. n_categories-1) of each item of ``domain``."""
        return self._domains[self.domains.index(domain)].category

    def user_index(self, user_ids: IdsLike) -> np.ndarray:
        """Index of each user id (int64); -1 for ids not in this world."""
        return _lookup(user_ids, lambda ids: _parse_numbered(ids, "u", self._user_ids))

    def item_index(self, item_ids: IdsLike) -> tuple[np.ndarray, np.ndarray]:
        """(domain index, local item index) of each item id; both -1 where unknown."""
        # One code per item across both domains: d * n_items + local.
        code = _lookup(item_ids, self._item_codes)
        hit = code >= 0
        return np.where(hit, code // self.n_items, -1), np.where(hit, code % self.n_items, -1)

    def _item_codes(self, ids: pa.Array) -> np.ndarray:
        code = np.full(len(ids), -1, dtype=np.int64)
        for d, name in enumerate(self.domains):
            idx = _parse_numbered(ids, f"{name}:", self._item_ids[d])
            code[idx >= 0] = d * self.n_items + idx[idx >= 0]
        return code

    def preference(self, user_ids: IdsLike, item_ids: IdsLike) -> np.ndarray:
        """The generating logit of each aligned (user, item) pair; NaN for unknown ids.

        Includes the popularity term, so it is what makes a user pick (or click) an item.
        """
        u = self.user_index(user_ids)
        d, j = self.item_index(item_ids)
        if len(u) != len(j):
            raise ValueError(f"{len(u)} user ids but {len(j)} item ids")
        out = np.full(len(u), np.nan)
        for di, dom in enumerate(self._domains):
            hit = np.flatnonzero((u >= 0) & (d == di))
            for part in np.array_split(hit, max(1, len(hit) // _PAIRS_PER_CHUNK)):
                # Chunks keep the gathered (pairs x k) vectors small and in cache.
                dots = (dom.shifted[u[part]] * dom.item_vecs[j[part]]).sum(axis=1)
                out[part] = self._strength * dots + dom.log_pop[j[part]]
        return out

    @property
    def _strength(self) -> float:
        return self.cfg.taste_strength / np.sqrt(self.cfg.latent_dim)

    def _logits_t(self, dom: _Domain, users: np.ndarray) -> np.ndarray:
        """(n_padded, len(users)) float32 logits, items by users; padding items get -1e30.

        Items-major because the sampler's per-chunk cumsum then runs over contiguous rows; the
        popularity term rides along in the matmul as an extra latent dimension fixed to 1.
        """
        taste = np.ones((self.cfg.latent_dim + 1, len(users)), dtype=np.float32)
        taste[:-1] = dom.shifted[users].T
        return dom.logit_matrix @ taste

    def _logit_rows(self, dom: _Domain, users: np.ndarray) -> np.ndarray:
        """(len(users), n_items) float64 logits, for the few rows of the slow path."""
        return self._strength * dom.shifted[users] @ dom.item_vecs.T + dom.log_pop

    # ---- interactions ---------------------------------------------------------------------

    @property
    def block_users(self) -> int:
        """Users per sampling block: a function of the config only, so output is stable."""
        return int(np.clip(_BLOCK_CELLS // self.cfg.n_items, 1, _MAX_BLOCK_USERS))

    def interactions(self, end: date, rows_per_batch: int = 100_000) -> Iterator[pa.RecordBatch]:
        """All interactions (schema STAGED), timestamps over ``cfg.days`` days before ``end``.

        Batches hold exactly ``rows_per_batch`` rows (the last one fewer); the rows themselves
        do not depend on ``rows_per_batch``.
        """
        if rows_per_batch < 1:
            raise ValueError("rows_per_batch must be >= 1")
        return _rebatch(self._block_batches(end), rows_per_batch)

    def _block_batches(self, end: date) -> Iterator[pa.RecordBatch]:
        end_us = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp()) * _US
        span_s = self.cfg.days * 86400
        file = f"{_SOURCE}:seed={self.cfg.seed}"
        line = 1
        for d, dom in enumerate(self._domains):
            for b, start in enumerate(range(0, self.n_users, self.block_users)):
                rng = _rng(self.cfg, _STREAM_SAMPLE, d, b)
                users = start + np.flatnonzero(dom.n_per_user[start:start + self.block_users])
                if not len(users):
                    continue
                rows, items = self._sample_block(dom, users, rng)
                # Spread over [end - days, end): whole seconds, strictly before the end date.
                ts = end_us - (span_s - rng.integers(0, span_s, size=len(rows))) * _US
                yield self._batch(d, users[rows], items, ts, file, line)
                line += len(rows)

    def _sample_block(self, dom: _Domain, users: np.ndarray,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Items picked (without replacement) by each user: (row into users, item), in order."""
        sampler = _ChunkedSampler(self._logits_t(dom, users), self.n_items)
        need = dom.n_per_user[users]
        rows = np.empty(0, dtype=np.int64)
        items = np.empty(0, dtype=np.int64)
        for round_ in range(_CDF_ROUNDS):
            short = need - np.bincount(rows, minlength=len(users))
            if not short.any():
                return rows, items
            # Drawing with replacement and keeping first occurrences is exactly sequential
            # sampling without replacement. Oversample (1.5x, then 6x, 24x for the users
            # whose taste is so peaked that duplicates pile up).
            draws = np.where(short > 0, (short * 3 << 2 * round_) // 2 + 2, 0)
            r = np.repeat(np.arange(len(users)), draws)
            rows, items = _first_distinct(np.concatenate([rows, r]),
                                          np.concatenate([items, sampler.draw(r, rng)]),
                                          need, self.n_items)
        return self._gumbel_fill(dom, users, need, rows, items, rng)

    def _gumbel_fill(self, dom: _Domain, users: np.ndarray, need: np.ndarray, rows: np.ndarray,
                     items: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Finish users still short after the CDF rounds (very peaked tastes) by Gumbel top-k.

        Sampling without replacement is memoryless given the picks so far, so continuing with
        a top-k over the remaining items keeps the distribution exact.
        """
        short = need - np.bincount(rows, minlength=len(users))
        todo = np.flatnonzero(short > 0)
        if not len(todo):
            return rows, items
        keys = self._logit_rows(dom, users[todo])
        keys += rng.gumbel(size=keys.shape)
        pos = np.full(len(users), -1)
        pos[todo] = np.arange(len(todo))
        picked = pos[rows] >= 0
        keys[pos[rows[picked]], items[picked]] = -np.inf
        k = short[todo].max()
        part = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(part, np.argsort(-np.take_along_axis(keys, part, axis=1),
                                                  axis=1, kind="stable"), axis=1)
        take = np.arange(top.shape[1]) < short[todo][:, None]
        more_rows = np.broadcast_to(todo[:, None], top.shape)[take]
        rows, items = np.concatenate([rows, more_rows]), np.concatenate([items, top[take]])
        order = np.argsort(rows, kind="stable")
        return rows[order], items[order]

    def _batch(self, d: int, users: np.ndarray, items: np.ndarray, ts_us: np.ndarray,
               file: str, first_line: int) -> pa.RecordBatch:
        n = len(users)
        columns = {
            "user_id": self._user_ids.take(pa.array(users)),
            "item_id": self._item_ids[d].take(pa.array(items)),
            "domain": pa.repeat(self.domains[d], n),
            "event_ts": pa.array(ts_us, type=pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "rating": pa.nulls(n, type=pa.float32()),
            "source": pa.repeat(_SOURCE, n),
            "file": pa.repeat(file, n),
            "line": pa.array(np.arange(first_line, first_line + n), type=pa.int64()),
        }
        return pa.RecordBatch.from_arrays(list(columns.values()), schema=STAGED)

    # ---- items ----------------------------------------------------------------------------

    def items(self) -> pa.Table:
        """Item attributes of both domains (schema ITEMS); categories follow the latent truth."""
        return pa.concat_tables([self._domain_items(d) for d in range(2)])

    def _domain_items(self, d: int) -> pa.Table:
        dom, n = self._domains[d], self.n_items
        rng = _rng(self.cfg, _STREAM_ATTRS, d)
        # Price: log-normal around a per-category level, higher for "premium" latent items.
        level = np.log(30.0) + 0.5 * rng.normal(size=self.cfg.n_categories)
        log_price = level[dom.category] + 0.25 * dom.item_vecs[:, 0] + 0.2 * rng.normal(size=n)
        # Brands specialise: each category draws from a few neighbouring brands of the pool.
        brand = (dom.category * 3 + rng.integers(0, 4, size=n)) % _N_BRANDS
        cat_names = _numbered(f"{dom.name} category ", np.arange(self.cfg.n_categories))
        path = pa.concat_arrays([pa.array([dom.name]), cat_names])
        # [domain, "<domain> category c"] per item: interleave then cut into pairs.
        flat = np.stack([np.zeros(n, dtype=np.int64), 1 + dom.category], axis=1).ravel()
        categories = pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2), pa.int32()),
                                              path.take(pa.array(flat)))
        columns = {
            "item_id": self._item_ids[d],
            "domain": pa.repeat(dom.name, n),
            "title": _numbered(f"{dom.name} item ", np.arange(n)),
            "categories": categories,
            "price": pa.array(np.round(np.exp(log_price), 2), type=pa.float32()),
            "brand": _numbered("brand ", brand, 2),
            "source": pa.repeat(_SOURCE, n),
        }
        return pa.Table.from_arrays(list(columns.values()), schema=ITEMS)


class _ChunkedSampler:
    """Draws items with replacement, proportional to softmax(logits), in two levels.

    Chunk ``c`` holds the items ``j`` with ``j % n_chunks == c``, so with items-major logits
    of shape (_CHUNK, n_chunks, users) a running sum over the first axis is a loop of
    contiguous vector adds; its last slice holds the chunk totals. A draw picks a chunk from
    the totals, then an item within it by binary search: exact, as
    P(item) = P(chunk) * P(item | chunk), and no (items x users) float64 array is built.
    """

    def __init__(self, logits_t: np.ndarray, n_items: int) -> None:
        n_pad, n_users = logits_t.shape
        logits_t -= logits_t.max(axis=0)  # in place: the array is ours to overwrite
        np.exp(logits_t, out=logits_t)
        self.n_items, self.n_users, self.n_chunks = n_items, n_users, n_pad // _CHUNK
        self.cum = logits_t.reshape(_CHUNK, self.n_chunks, n_users)
        for i in range(1, _CHUNK):
            np.add(self.cum[i - 1], self.cum[i], out=self.cum[i])
        # All users' chunk totals in one flat cumsum: user r covers [ends[r-1], ends[r]], so
        # one searchsorted serves every user.
        self.cdf = np.cumsum(self.cum[-1].T.ravel(), dtype=np.float64)
        self.ends = self.cdf[self.n_chunks - 1::self.n_chunks]
        self.starts = np.concatenate([[0.0], self.ends[:-1]])

    def draw(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of ``users`` (column index into the logits)."""
        v = self.starts[users] + rng.random(len(users)) * (self.ends[users] - self.starts[users])
        chunk = np.clip(np.searchsorted(self.cdf, v, side="right") - users * self.n_chunks,
                        0, self.n_chunks - 1)
        flat = self.cum.reshape(-1)
        base = chunk * self.n_users + users  # flat index of within-chunk position 0
        stride = self.n_chunks * self.n_users
        v = rng.random(len(users)) * flat[base + (_CHUNK - 1) * stride].astype(np.float64)
        # First position whose running sum exceeds v (side="right": zero-weight items, such
        # as the padding, are never picked); float64 v < total, so it always exists.
        lo = np.zeros(len(users), dtype=np.int64)
        hi = np.full(len(users), _CHUNK - 1, dtype=np.int64)
        while (lo < hi).any():
            mid = (lo + hi) >> 1
            right = flat[base + mid * stride] <= v
            lo = np.where(right, mid + 1, lo)
            hi = np.where(right, hi, mid)
        return np.minimum(lo * self.n_chunks + chunk, self.n_items - 1)


def _first_distinct(rows: np.ndarray, items: np.ndarray, need: np.ndarray,
                    n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first ``need[row]`` distinct items in draw order (input in draw order)."""
    order = np.argsort(rows, kind="stable")  # stable: keeps each row's draw order
    rows, items = rows[order], items[order]
    _, first = np.unique(rows * n_items + items, return_index=True)
    first.sort()
    rows, items = rows[first], items[first]
    counts = np.bincount(rows, minlength=len(need))
    rank = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    keep = rank < need[rows]
    return rows[keep], items[keep]


def _rebatch(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of batches into batches of exactly ``size`` rows (last one fewer)."""
    pending: list[pa.RecordBatch] = []
    n_pending = 0
    for batch in batches:
        pending.append(batch)
        n_pending += batch.num_rows
        if n_pending < size:
            continue
        table = pa.Table.from_batches(pending)
        cut = n_pending - n_pending % size
        for start in range(0, cut, size):
            yield table.slice(start, size).combine_chunks().to_batches()[0]
        rest = table.slice(cut).combine_chunks()
        pending = rest.to_batches() if rest.num_rows else []
        n_pending = rest.num_rows
    if n_pending:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
