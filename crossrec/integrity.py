"""Checksums of a folder written once and read many times (model versions): a manifest of
every file's sha256, written last, and verified before anything in the folder is used.

A version whose bytes changed after it was written (a torn copy, a bad disk, a hand edit) is
refused with the file that differs, so a damaged model is never loaded or published. The
manifest alone is not believed: a version's name is its run date and a hash of its content
(``YYYYMMDD-<12 hex>``, see :func:`crossrec.train.checkpoint.save_model`), so a file changed
together with a rewritten manifest, or a folder renamed, is refused as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from crossrec.errors import CorruptModelError

MANIFEST = "checksums.json"
_CHUNK = 1 << 20
VERSION_NAME = re.compile(r"\d{8}-([0-9a-f]{12})")
CONTENT = ("model.safetensors", "config.json")
"""Files whose bytes, in this order, a version's name hashes."""
NAMED = ("bundle.json", "graph.safetensors", "fusion.json", "reranker.safetensors")
"""More files of a version (a bundle's config and other parts), hashed after ``CONTENT`` in
this order, each as its name and then its bytes (those present), so bytes moved from one file
to the next change the hash."""
LEGACY = ("model.safetensors", "config.json", "graph.safetensors", "fusion.json",
          "reranker.safetensors", "reranker.json")
"""What a version saved before ``bundle.json`` existed hashed: these files' bytes, in order."""


def content_digest(folder: Path) -> str:
    """The sha256 a version's name carries the first 12 hex digits of (the one definition:
    :func:`crossrec.train.checkpoint.save_model` names a version with it)."""
    h = hashlib.sha256()
    legacy = not (folder / NAMED[0]).is_file()  # so older champions still verify
    for name in LEGACY if legacy else CONTENT + NAMED:
        path = folder / name
        if not path.is_file():
            continue
        if not legacy and name in NAMED:
            h.update(name.encode())
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    return h.hexdigest()


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
    whose bytes differ from the manifest, or when the content no longer hashes to the
    version's name."""
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
    named = VERSION_NAME.fullmatch(folder.name)
    if named is None:
        raise CorruptModelError(f"{folder}: not a model version name (YYYYMMDD- and 12 hex "
                                "digits of its content); refusing it")
    if (digest := content_digest(folder)[:12]) != named.group(1):
        raise CorruptModelError(f"{folder}: content hashes to {digest}, not to its name; its "
                                f"files (and {MANIFEST}) changed after it was written, or it "
                                "was renamed; refusing to load this model version")
