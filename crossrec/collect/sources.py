"""Config blocks of the inputs (``[[sources]]`` in the TOML), one class per kind.

A file input's ``path`` is a local path or an ``http(s)://`` URL; URLs are downloaded into the
cache first (``crossrec.collect.download``), with ``sha256`` checked where given.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from crossrec.strict import StrictModel

DOMAIN_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
_SHA256 = r"^[0-9a-f]{64}$"


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


class CollectConfig(StrictModel):
    max_bad_ratio: float = Field(0.05, ge=0.0, le=1.0)
    """A file whose quarantined share of rows exceeds this fails the run (per file)."""
    cache_dir: Path | None = None
    """Where downloads are cached; None uses ``<data_dir>/cache/downloads``."""
    download_timeout_s: float = Field(60.0, gt=0)
    """Socket timeout of one HTTP request."""
    download_retries: int = Field(3, ge=0)
    """Retries of a failed download (the Prefect task retries, with exponential back-off)."""
    retry_delay_s: float = Field(2.0, ge=0)
    """First retry delay; each further retry waits twice as long."""
    rows_per_batch: int = Field(100_000, ge=1)
    """Rows parsed before a batch is written out: bounds the readers' memory."""
    memory_limit: str = "512MB"
    """DuckDB memory limit of the de-duplication pass (it spills to disk beyond this)."""
    max_line_bytes: int = Field(8 * 2**20, ge=1024)
    """A longer input line (or CSV record) is quarantined as ``line too long`` and skipped,
    never read into memory whole."""
    max_record_lines: int = Field(20, ge=1)
    """Most physical lines one CSV record may span through quoted line breaks."""
    max_id_chars: int = Field(2048, ge=1)
    """A longer user, item or domain id is quarantined as ``id too long``."""
    max_gzip_ratio: float = Field(100.0, gt=1.0)
    """A gzip input expanding more than this many times (checked past 16 MiB) fails the run
    as a likely decompression bomb."""


class _FileSource(StrictModel):
    path: str
    """Local file path (relative to the config file) or an ``http(s)://`` URL."""
    sha256: str | None = Field(None, pattern=_SHA256)
    """Expected SHA-256 (hex) of the file; a mismatch fails the download."""
    max_bad_ratio: float | None = Field(None, ge=0.0, le=1.0)
    """Overrides ``collect.max_bad_ratio`` for this input."""


class ColumnMap(StrictModel):
    user_id: str = "user_id"
    """Column holding the user id."""
    item_id: str = "item_id"
    """Column holding the item id (made unique across domains by prefixing the domain)."""
    domain: str | None = None
    """Column holding the domain; leave out and set the source's ``domain`` instead."""
    rating: str | None = None
    """Column holding an explicit rating (optional)."""
    event_ts: str | None = None
    """Column holding the event time (optional; the ingest date's midnight UTC when absent)."""


class _GenericSource(_FileSource):
    columns: ColumnMap = ColumnMap()
    """Which file column holds which field."""
    domain: str | None = Field(None, pattern=DOMAIN_PATTERN)
    """Fixed domain of every row of the file (instead of a domain column)."""
    min_rating: float | None = None
    """Binarise explicit feedback: rows rated below this are counted and left out."""
    ts_unit: Literal["auto", "s", "ms", "us", "iso"] = "auto"
    """How ``event_ts`` is written: epoch seconds/ms/us, ISO 8601 text, or auto (numbers are
    seconds, or milliseconds when larger than 1e11; text is ISO 8601)."""

    @model_validator(mode="after")
    def _one_domain(self) -> _GenericSource:
        if (self.domain is None) == (self.columns.domain is None):
            raise ValueError("set exactly one of 'domain' (fixed) and 'columns.domain'")
        if self.min_rating is not None and self.columns.rating is None:
            raise ValueError("'min_rating' needs 'columns.rating'")
        return self


# ASCII text that must come out byte for byte the same: lines are split on b"\n" before they
# are decoded, so only an ASCII-compatible encoding can work (not utf-16/32, EBCDIC, utf-7)
_ASCII_PROBE = "azAZ09 ,;|\t\"'\\{}[]:.-+_\r\n"


def check_encoding(name: str) -> str:
    try:
        ok = codecs.lookup(name)._is_text_encoding and _ASCII_PROBE.encode(name).removeprefix(
            codecs.BOM_UTF8) == _ASCII_PROBE.encode("ascii")  # utf-8-sig: a BOM, then ASCII
    except LookupError:
        raise ValueError(f"unknown encoding {name!r}") from None
    except UnicodeError:
        ok = False
    if not ok:
        raise ValueError(f"encoding {name!r} is not ASCII-compatible; lines are split on the "
                         "newline byte before decoding, so use an encoding such as utf-8, "
                         "latin-1 or cp1252 (convert utf-16/utf-32 files to utf-8 first)")
    return name


class _TextSource(_GenericSource):
    encoding: str = "utf-8"
    """Text encoding (ASCII-compatible); a line that does not decode is quarantined."""

    @field_validator("encoding")
    @classmethod
    def _ascii_compatible(cls, v: str) -> str:
        return check_encoding(v)


class CsvSource(_TextSource):
    kind: Literal["csv"] = "csv"
    delimiter: str = Field(",", min_length=1, max_length=1)
    """Field separator."""


class JsonlSource(_TextSource):
    kind: Literal["jsonl"] = "jsonl"


class ParquetSource(_GenericSource):
    kind: Literal["parquet"] = "parquet"


class AmazonSource(_FileSource):
    kind: Literal["amazon"] = "amazon"
    domain: str | None = Field(None, pattern=DOMAIN_PATTERN)
    """Domain of the file's rows; None derives it from the file name
    (``reviews_Sports_and_Outdoors_5.json.gz`` -> ``sports_and_outdoors``)."""
    meta_path: str | None = None
    """The category's item metadata file (title, categories, price, brand), path or URL."""
    meta_sha256: str | None = Field(None, pattern=_SHA256)
    """Expected SHA-256 of the metadata file."""
    min_rating: float | None = None
    """Binarise: reviews rated below this are counted and left out."""


class DisenCDRSource(StrictModel):
    kind: Literal["disencdr"] = "disencdr"
    path: str
    """Folder (or base URL) holding ``<source>_<target>/`` and ``<target>_<source>/``."""
    max_bad_ratio: float | None = Field(None, ge=0.0, le=1.0)
    """Overrides ``collect.max_bad_ratio`` for this input."""


class SyntheticSource(StrictModel):
    kind: Literal["synthetic"] = "synthetic"
    n_users: int = Field(1500, ge=20)
    """Size knob: number of users in the synthetic world (interactions scale linearly)."""
    n_items: int = Field(400, ge=20)
    """Items per domain."""
    latent_dim: int = Field(8, ge=1)
    """Dimension of the users' shared latent taste."""
    domain_shift: float = Field(0.3, ge=0.0)
    """Std of the per-domain perturbation of a user's taste (0 = identical tastes)."""
    mean_interactions: float = Field(12.0, gt=1.0)
    """Mean interactions per user and domain."""
    taste_strength: float = Field(2.5, ge=0.0)
    """How much a user's taste (vs item popularity) decides what they pick."""
    zipf_exponent: float = Field(1.0, ge=0.0)
    """Item popularity follows rank**-exponent."""
    overlap: float = Field(0.7, ge=0.0, le=1.0)
    """Share of users active in both domains; the rest is split between source-only and
    target-only."""
    n_categories: int = Field(12, ge=1)
    """Item categories per domain (an item attribute that follows the item's latent vector)."""
    days: int = Field(30, ge=1)
    """Timestamps are spread over this many days before the ingest date."""
    seed: int = 7
    """Seed of the world; the same seed gives the same interactions."""


SourceConfig = Annotated[
    SyntheticSource | DisenCDRSource | CsvSource | JsonlSource | ParquetSource | AmazonSource,
    Field(discriminator="kind"),
]
