"""Two-tower recommender: a user tower shared across domains and an item tower.

score(user, item) = <user_tower(history), item_vector(item)> + item_bias(item)

The user tower reads a padded history of item indices from *any* domain, so a cold-start user
(source history only) is encoded exactly like everyone else. Item indices are global and each
domain occupies a contiguous range, so a domain's catalogue is a slice of the item table.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from crossrec.data.vocab import PAD


class TwoTowerConfig(BaseModel):
    """Everything needed to rebuild the module; saved as the checkpoint's config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    n_items: int = Field(ge=1)
    """Items in the vocabulary (indices 1..n_items; 0 is padding)."""
    domains: list[str]
    """Domain names in vocabulary order."""
    domain_ranges: list[tuple[int, int]]
    """Per domain, the [start, stop) range of its item indices."""
    dim: int = 64
    """Embedding and user-vector dimension."""
    pooling: Literal["attention", "mean", "gru"] = "attention"
    """How the user tower pools its history."""
    attributes: dict[str, int] = {}
    """Item attribute fields (in code-column order) and their number of codes (0 = unknown);
    empty when items have no attributes. The codes themselves are a buffer in the weights."""


class UserTower(nn.Module):
    """History of item indices -> user vector (attention, mean or GRU pooling + residual MLP).

    Padding may sit anywhere in a row (histories are right-aligned per domain and the
    training positive is blanked out); every pooling ignores it. The GRU reads a row's items
    in order (source history, then target history, oldest first) and ends on the newest.
    """

    def __init__(self, n_items: int, dim: int, pooling: str):
        super().__init__()
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=PAD)
        self.pooling = pooling
        self.attn_key = nn.Linear(dim, dim)
        self.attn_query = nn.Parameter(torch.zeros(dim))
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(),
                                  nn.Linear(dim, dim))
        nn.init.normal_(self.item_embedding.weight, std=0.05)
        if pooling == "gru":  # only then: attention/mean checkpoints keep their exact weights
            self.gru = nn.GRU(dim, dim, batch_first=True)

    def forward(self, history: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """``extra``: per-position vectors added to the item embeddings (attributes)."""
        mask = history != PAD
        h = self.item_embedding(history)
        if extra is not None:
            h = h + extra
        if self.pooling == "gru":
            pooled = self._gru(h, mask)
            return pooled + self.head(pooled)
        if self.pooling == "attention":
            logits = torch.tanh(self.attn_key(h)) @ self.attn_query
            logits = logits.masked_fill(~mask, -1e9)
            weights = torch.softmax(logits, dim=-1) * mask
        else:
            weights = mask.to(h.dtype)
        # an empty history (all padding) pools to zero instead of NaN
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-9)
        pooled = (weights.unsqueeze(-1) * h).sum(dim=1)
        return pooled + self.head(pooled)

    def _gru(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # move padding behind the items (stable: item order kept), then run only real steps
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
        h = h.gather(1, order.unsqueeze(-1).expand_as(h))
        lengths = mask.sum(dim=1)
        packed = pack_padded_sequence(h, lengths.clamp_min(1).cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, last = self.gru(packed)
        return last[-1] * (lengths > 0).unsqueeze(-1).to(last.dtype)  # empty history -> 0


class AttributeEncoder(nn.Module):
    """Sum of one embedding per attribute field, looked up by item index. Shared by both
    towers and both domains, so a brand or category learnt in one domain carries over."""

    def __init__(self, codes: torch.Tensor, cardinality: dict[str, int], dim: int):
        super().__init__()
        self.register_buffer("codes", codes.long())
        self.fields = nn.ModuleList(nn.Embedding(n, dim, padding_idx=0)
                                    for n in cardinality.values())
        for emb in self.fields:
            nn.init.normal_(emb.weight, std=0.05)
            with torch.no_grad():
                emb.weight[0].zero_()

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        codes = self.codes[items]
        return sum(emb(codes[..., f]) for f, emb in enumerate(self.fields))


class ItemTower(nn.Module):
    """Per-item id embedding and bias (the bias carries popularity, which cold users need)."""

    def __init__(self, n_items: int, dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_items + 1, dim, padding_idx=PAD)
        self.bias = nn.Embedding(n_items + 1, 1, padding_idx=PAD)
        nn.init.normal_(self.embedding.weight, std=0.05)
        nn.init.zeros_(self.bias.weight)

    def catalogue(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors and biases of the items with indices in [start, stop)."""
        return self.embedding.weight[start:stop], self.bias.weight[start:stop, 0]


class TwoTower(nn.Module):
    def __init__(self, config: TwoTowerConfig, attribute_codes: torch.Tensor | None = None):
        """``attribute_codes``: (n_items + 1, n_fields) codes when ``config.attributes`` is
        set; when rebuilding from a checkpoint they may be omitted (the weights hold them)."""
        super().__init__()
        self.config = config
        self.user_tower = UserTower(config.n_items, config.dim, config.pooling)
        self.item_tower = ItemTower(config.n_items, config.dim)
        self.attributes = None
        if config.attributes:
            if attribute_codes is None:
                attribute_codes = torch.zeros((config.n_items + 1, len(config.attributes)))
            if tuple(attribute_codes.shape) != (config.n_items + 1, len(config.attributes)):
                raise ValueError(f"attribute codes of shape {tuple(attribute_codes.shape)} do "
                                 f"not fit {config.n_items} items x {len(config.attributes)} "
                                 "fields")
            self.attributes = AttributeEncoder(attribute_codes, config.attributes, config.dim)

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:
        """Item-tower vectors (id embedding + attributes) of global item indices."""
        vecs = self.item_tower.embedding(items)
        return vecs if self.attributes is None else vecs + self.attributes(items)

    def catalogue(self, domain: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors and biases of every item of ``domain``, in index order."""
        start, stop = self.domain_range(domain)
        vecs, bias = self.item_tower.catalogue(start, stop)
        if self.attributes is not None:
            vecs = vecs + self.attributes(torch.arange(start, stop, device=vecs.device))
        return vecs, bias

    def domain_range(self, domain: str) -> tuple[int, int]:
        return tuple(self.config.domain_ranges[self.config.domains.index(domain)])

    def encode_users(self, history: torch.Tensor) -> torch.Tensor:
        extra = None if self.attributes is None else self.attributes(history)
        return self.user_tower(history, extra)

    def logits(self, user_vectors: torch.Tensor, domain: str) -> torch.Tensor:
        """Scores of every item of ``domain`` (columns in index order within the domain)."""
        vecs, bias = self.catalogue(domain)
        return user_vectors @ vecs.T + bias

    def item_logits(self, user_vectors: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of the given global item indices: ``items`` is (k,) shared by every user
        (-> (n, k)) or (n, k) per user (-> (n, k))."""
        vecs = self.item_vectors(items)
        bias = self.item_tower.bias(items).squeeze(-1)
        if items.dim() == 1:
            return user_vectors @ vecs.T + bias
        return (vecs @ user_vectors.unsqueeze(-1)).squeeze(-1) + bias

    def forward(self, history: torch.Tensor, domain: str) -> torch.Tensor:
        return self.logits(self.encode_users(history), domain)
