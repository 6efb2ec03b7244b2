"""Download ``http(s)://`` inputs into a local cache (stdlib only: urllib + hashlib).

Layout, per URL: ``<cache_dir>/<sha256(url)[:16]>/<name>`` plus ``<name>.meta.json`` (url, size,
sha256, the server's ETag / Last-Modified, fetch time). While downloading, the bytes go to
``<name>.part`` (and the validators of that body to ``<name>.part.json``), so an interrupted
download resumes with ``Range`` on the next call instead of starting over.

A cached file is reused without any request when ``sha256`` is given and matches. Without
``sha256`` it is revalidated with a conditional GET (``If-None-Match`` / ``If-Modified-Since``);
if the server sent neither ETag nor Last-Modified, the cached file is trusted as is: pin the input
with ``sha256`` (or use a server that sends validators) to notice when it changes.

Errors are ``DownloadError``; ``permanent`` tells the retrying caller whether another attempt can
help (404, checksum mismatch: no; dropped connection, timeout, 5xx: yes).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from crossrec.errors import InputDataError

CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)")
# HTTPError is a URLError, so it must be caught before these
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                   TimeoutError, ssl.SSLError)
_TRANSIENT_4XX = {408, 429}  # request timeout / rate limited: waiting does help


class DownloadError(InputDataError):
    """A download failed; ``permanent`` is True when retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def cache_path(url: str, cache_dir: Path) -> Path:
    """``cache_dir/<16 hex of sha256(url)>/<sanitised basename>``; same URL, same path."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    # keep the tail (the extension tells readers the format) and stay far below NAME_MAX
    name = _UNSAFE.sub("_", unquote(PurePosixPath(urlsplit(url).path).name))[-128:].lstrip(".")
    return Path(cache_dir) / key / (name or "download")


def fetch(url: str, cache_dir: Path, sha256: str | None = None, timeout: float = 60.0,
          progress: bool = False) -> Path:
    """Download ``url`` into the cache (or reuse the cached copy) and return its local path.

    ``sha256`` (hex) pins the content: a cached match skips the network entirely, a mismatch
    after download is a permanent error. Without it the cached copy is revalidated with the
    server's ETag / Last-Modified; with neither recorded it is reused without a request.
    ``timeout`` is the socket timeout of the request.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"only http:// and https:// URLs can be downloaded, got {url!r}")
    final = cache_path(url, cache_dir)
    part, meta_file, part_meta = (_sibling(final, s) for s in (".part", ".meta.json", ".part.json"))
    expected = sha256.lower() if sha256 else None
    meta = _read_json(meta_file)
    headers = {"User-Agent": "crossrec"}
    if final.exists():
        if expected:
            if _cached_digest(final, meta) == expected:
                return final
            final.unlink()  # the pinned digest moved on: this copy is stale
            meta_file.unlink(missing_ok=True)
        elif not (meta.get("etag") or meta.get("last_modified")):
            return final  # nothing to revalidate with (see the module docstring)
        else:
            headers |= _conditional(meta)
    offset = part.stat().st_size if part.exists() else 0
    if offset:
        headers["Range"] = f"bytes={offset}-"
        # resume only if the server still has the body the part came from, else it sends a 200
        if validator := _if_range(_read_json(part_meta)):
            headers["If-Range"] = validator
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            size, digest, validators = _receive(resp, url, part, part_meta, offset, progress)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 304 and final.exists():
            return final
        if err.code == 416 and offset:
            return _finish_416(url, final, part, part_meta, expected, err.headers)
        permanent = 400 <= err.code < 500 and err.code not in _TRANSIENT_4XX
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}", permanent=permanent) from err
    except _NETWORK_ERRORS as err:
        raise DownloadError(f"{url}: download failed ({err or type(err).__name__}); a retry "
                            "resumes from the bytes received so far", permanent=False) from err
    if expected and digest != expected:
        part.unlink()
        part_meta.unlink(missing_ok=True)
        raise DownloadError(f"{url}: SHA-256 mismatch: expected {expected}, got {digest}",
                            permanent=True)
    return _install(url, final, part, part_meta, size, digest, validators)


def _receive(resp: http.client.HTTPResponse, url: str, part: Path, part_meta: Path,
             offset: int, progress: bool) -> tuple[int, str, dict[str, str]]:
    """Stream the body into ``part`` (appending on 206); return size, sha256 and validators."""
    validators = _validators(resp.headers)
    if resp.status == 206:
        match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
        if not match or int(match[1]) != offset:
            part.unlink()  # a body we cannot line up with the part: start over next time
            part_meta.unlink(missing_ok=True)
            raise DownloadError(f"{url}: server resumed at {resp.headers.get('Content-Range')!r}"
                                f", not at byte {offset}", permanent=False)
        hasher, mode = _hash_file(part), "ab"  # the digest must cover the whole file
    else:  # 200: a whole body (no Range sent, or the server ignored / refused it)
        offset, hasher, mode = 0, hashlib.sha256(), "wb"
        part.parent.mkdir(parents=True, exist_ok=True)
        _write_json(part_meta, validators)
    length = resp.headers.get("Content-Length")
    total = offset + int(length) if length is not None else None
    size = offset
    with open(part, mode) as out, _progress(progress, part.stem, total, offset) as advance:
        # read1: what has arrived, so a timeout mid-chunk loses nothing already received
        while chunk := resp.read1(CHUNK):
            out.write(chunk)
            hasher.update(chunk)
            size += len(chunk)
            advance(len(chunk))
    # http.client returns b"" (no IncompleteRead) when a Content-Length body is cut short
    if total is not None and size != total:
        raise DownloadError(f"{url}: connection closed after {size} of {total} bytes; the "
                            "partial file is kept and the next attempt resumes", permanent=False)
    return size, hasher.hexdigest(), validators


def _finish_416(url: str, final: Path, part: Path, part_meta: Path, expected: str | None,
                headers: http.client.HTTPMessage) -> Path:
    """Range not satisfiable: the part should already be the whole file; check before using it."""
    size, digest = part.stat().st_size, _hash_file(part).hexdigest()
    total = re.fullmatch(r"bytes \*/(\d+)", (headers.get("Content-Range") or "").strip())
    if (total and int(total[1]) != size) or (expected and digest != expected):
        part.unlink()
        part_meta.unlink(missing_ok=True)
        raise DownloadError(f"{url}: the partial download does not match the server's file; "
                            "it was deleted and the next attempt starts afresh", permanent=False)
    return _install(url, final, part, part_meta, size, digest, _read_json(part_meta))


def _install(url: str, final: Path, part: Path, part_meta: Path, size: int, digest: str,
             validators: dict[str, str]) -> Path:
    # rename first: a crash before the new meta leaves old validators, which only force a refetch
    os.replace(part, final)
    fetched_at = datetime.now(UTC).isoformat(timespec="seconds")
    _write_json(_sibling(final, ".meta.json"), {"url": url, "size": size, "sha256": digest,
                                                **validators, "fetched_at": fetched_at})
    part_meta.unlink(missing_ok=True)
    return final


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _validators(headers: http.client.HTTPMessage) -> dict[str, str]:
    found = {"etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")}
    return {key: value for key, value in found.items() if value}


def _conditional(meta: dict) -> dict[str, str]:
    names = {"etag": "If-None-Match", "last_modified": "If-Modified-Since"}
    return {header: meta[key] for key, header in names.items() if meta.get(key)}


def _if_range(validators: dict) -> str | None:
    etag = validators.get("etag")
    # If-Range needs a strong validator; a weak ETag cannot vouch for byte-identical content
    return etag if etag and not etag.startswith("W/") else validators.get("last_modified")


def _cached_digest(path: Path, meta: dict) -> str:
    """The recorded digest when the size still agrees (cheap), else hash the file."""
    if meta.get("sha256") and meta.get("size") == path.stat().st_size:
        return meta["sha256"]
    return _hash_file(path).hexdigest()


def _hash_file(path: Path) -> hashlib._Hash:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            hasher.update(chunk)
    return hasher


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # missing or torn sidecar: behave as if nothing was recorded
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    tmp = _sibling(path, ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


@contextmanager
def _progress(enabled: bool, label: str, total: int | None,
              done: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=total, completed=done)
        yield lambda n: bar.advance(task, n)
