"""The item vocabulary: one index space over both domains' catalogues, index 0 padding."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from crossrec.schemas import local_ids

PAD = 0  # item index 0 is padding in every history


@dataclass
class Vocabulary:
    item_ids: np.ndarray
    """Item id of each index; position 0 is padding."""
    domains: list[str]
    domain_ranges: list[tuple[int, int]]
    index: dict[str, int]

    @classmethod
    def from_items(cls, items: pl.DataFrame, domain_order: list[str]) -> Vocabulary:
        """Items grouped by domain (in ``domain_order``), sorted by id within a domain."""
        ids: list[str] = [""]
        ranges = []
        for d in domain_order:
            chunk = sorted(items.filter(pl.col("domain") == d)["item_id"].to_list())
            ranges.append((len(ids), len(ids) + len(chunk)))
            ids.extend(chunk)
        arr = np.array(ids, dtype=object)
        return cls(arr, list(domain_order), ranges, {i: n for n, i in enumerate(ids) if n})

    def to_frame(self) -> pl.DataFrame:
        dom = [""] * len(self.item_ids)
        for d, (a, b) in zip(self.domains, self.domain_ranges, strict=True):
            dom[a:b] = [d] * (b - a)
        return pl.DataFrame({"index": range(1, len(self.item_ids)),
                             "item_id": list(self.item_ids[1:]), "domain": dom[1:]})

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, domain_order: list[str]) -> Vocabulary:
        return cls.from_items(frame.select("item_id", "domain"), domain_order)

    @cached_property
    def local_ids(self) -> np.ndarray:
        """The user's own id of each index (``item_ids`` without the domain): what goes out
        in published lists, explanations and reports; position 0 stays ``""``."""
        return np.array([""] + local_ids(list(self.item_ids[1:])), dtype=object)

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1
