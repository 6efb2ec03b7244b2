"""Checksums of a folder written once and read many times (model versions): a manifest of
every file's sha256, written last, and verified before anything in the folder is used.

A version whose bytes changed after it was written (a torn copy, a bad disk, a hand edit) is
refused with the file that differs, so a damaged model is never loaded or published.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from crossrec.errors import CorruptModelError

MANIFEST = "checksums.json"
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: Path) -> dict[str, str]:
    """Record the sha256 of every file directly in ``folder`` (the manifest excluded), then
    flush the folder to disk, so the rename that publishes it never exposes unwritten bytes."""
    sums = {p.name: file_sha256(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps(sums, indent=2, sort_keys=True))
    for p in folder.iterdir():
        _fsync(p)
    _fsync(folder)
    return sums


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(folder: Path) -> None:
    """Raise :class:`CorruptModelError` naming the first file that is missing, unlisted or
    whose bytes differ from the manifest."""
    manifest = folder / MANIFEST
    try:
        sums = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise CorruptModelError(f"{folder}: no {MANIFEST}; the version was not written "
                                "completely (or predates checksums), refusing to load it") from None
    except ValueError as exc:
        raise CorruptModelError(f"{manifest}: unreadable ({exc})") from None
    present = {p.name for p in folder.iterdir() if p.is_file() and p.name != MANIFEST}
    if extra := sorted(present - set(sums)):
        raise CorruptModelError(f"{folder / extra[0]}: not listed in {MANIFEST}")
    for name, expected in sorted(sums.items()):
        path = folder / name
        if not path.is_file():
            raise CorruptModelError(f"{path}: missing (listed in {MANIFEST})")
        if file_sha256(path) != expected:
            raise CorruptModelError(f"{path}: checksum mismatch, the file changed after it "
                                    "was written; refusing to load this model version")
