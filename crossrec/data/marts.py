"""The marts a feature build exports, as the paths the trainers, evaluators and scorers read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crossrec.data.domain import DomainData, load_domain_data, load_weak_negatives


@dataclass(frozen=True)
class MartPaths:
    interactions: Path
    eval_split: Path
    item_features: Path | None = None
    """``mart_item_features``: item attributes for the attribute encoders, when present."""
    weak_negatives: Path | None = None
    """``mart_weak_negatives``: impressions without a click, for fine-tuning, when present."""

    @classmethod
    def from_exports(cls, exports: dict[str, Path]) -> MartPaths:
        """The marts a feature build exported (``FeatureBuild.exports``)."""
        return cls(exports["mart_interactions"], exports["mart_eval_split"],
                   exports.get("mart_item_features"), exports.get("mart_weak_negatives"))

    @classmethod
    def from_dir(cls, folder: Path) -> MartPaths:
        """The marts exported into ``folder`` (``marts/run_date=D/``)."""
        optional = [folder / f"{m}.parquet" for m in ("mart_item_features", "mart_weak_negatives")]
        return cls(folder / "mart_interactions.parquet", folder / "mart_eval_split.parquet",
                   *[p if p.is_file() else None for p in optional])

    def load(self, source: str, target: str, every_row: bool = False) -> DomainData:
        """The marts as :class:`DomainData` of the (source, target) pair, with the weak
        negatives of click feedback where there are any; ``every_row``: with no held-out
        rows (see :func:`load_domain_data`)."""
        data = load_domain_data(self.interactions, self.eval_split, source, target, every_row)
        if self.weak_negatives is not None and self.weak_negatives.is_file():
            data.weak_negatives = load_weak_negatives(self.weak_negatives, data)
        return data
