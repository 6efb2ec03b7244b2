"""crossrec.collect.download against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crossrec.collect.download import DownloadError, cache_path, fetch

DATA = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk once a part is resumed
NEW = b"version two\n" * 1000


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class State:
    files: dict[str, bytes] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)
    body_bytes: Counter = field(default_factory=Counter)
    headers: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    flaky: set[str] = field(default_factory=set)  # next response: half the body, then close
    stall: set[str] = field(default_factory=set)  # half the body, then hang until released
    ignore_range: set[str] = field(default_factory=set)
    no_validators: set[str] = field(default_factory=set)
    status: dict[str, int] = field(default_factory=dict)  # forced error status per path
    release: threading.Event = field(default_factory=threading.Event)


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state, path = self.server.state, self.path
        state.requests[path] += 1
        state.headers.setdefault(path, []).append(dict(self.headers))
        body = state.files.get(path)
        if path in state.status or body is None:
            self.send_error(state.status.get(path, 404))
            return
        etag = f'"{digest(body)[:16]}"'
        if path not in state.no_validators and self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        start = 0
        wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if wanted and path not in state.ignore_range and if_range in (None, etag):
            start = int(wanted[1])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        if path not in state.no_validators:
            self.send_header("ETag", etag)
        self.end_headers()
        cut = path in state.flaky or path in state.stall
        if cut:
            state.flaky.discard(path)
            chunk = chunk[: len(chunk) // 2]
        state.body_bytes[path] += len(chunk)  # count before writing: the client may finish first
        self.wfile.write(chunk)
        if path in state.stall:
            state.release.wait(5)
        if cut:
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    state: State


@pytest.fixture
def server():
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.state = State()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def serve(server: Server, path: str, data: bytes) -> str:
    server.state.files[path] = data
    return server.url + path


def files_in(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


def test_download_checks_sha256_and_records_meta(server, tmp_path):
    url = serve(server, "/data/ratings.csv", DATA)
    got = fetch(url, tmp_path, sha256=digest(DATA).upper())
    assert got == cache_path(url, tmp_path) and got.name == "ratings.csv"
    assert got.read_bytes() == DATA
    meta = json.loads(got.with_name("ratings.csv.meta.json").read_text())
    assert meta["url"] == url and meta["size"] == len(DATA) and meta["sha256"] == digest(DATA)
    assert meta["etag"] == f'"{digest(DATA)[:16]}"' and meta["fetched_at"]
    assert files_in(tmp_path) == [got, got.with_name("ratings.csv.meta.json")]


def test_second_fetch_with_sha256_makes_no_request(server, tmp_path):
    url = serve(server, "/a.csv", DATA)
    first = fetch(url, tmp_path, sha256=digest(DATA))
    assert fetch(url, tmp_path, sha256=digest(DATA)) == first
    assert server.state.requests["/a.csv"] == 1


def test_second_fetch_without_sha256_revalidates_with_304(server, tmp_path):
    url = serve(server, "/a.csv", DATA)
    first = fetch(url, tmp_path)
    mtime = first.stat().st_mtime_ns
    assert fetch(url, tmp_path) == first
    assert server.state.requests["/a.csv"] == 2
    assert server.state.body_bytes["/a.csv"] == len(DATA)  # the 304 carried no body
    assert server.state.headers["/a.csv"][-1]["If-None-Match"] == f'"{digest(DATA)[:16]}"'
    assert first.read_bytes() == DATA and first.stat().st_mtime_ns == mtime


def test_changed_content_is_downloaded_again(server, tmp_path):
    url = serve(server, "/a.csv", DATA)
    fetch(url, tmp_path)
    serve(server, "/a.csv", NEW)
    got = fetch(url, tmp_path)
    assert got.read_bytes() == NEW
    meta = json.loads(got.with_name("a.csv.meta.json").read_text())
    assert meta["sha256"] == digest(NEW) and meta["etag"] == f'"{digest(NEW)[:16]}"'
    assert server.state.body_bytes["/a.csv"] == len(DATA) + len(NEW)


def test_dropped_connection_keeps_part_and_resumes(server, tmp_path):
    url = serve(server, "/big.bin", DATA)
    server.state.flaky.add("/big.bin")
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path, sha256=digest(DATA))
    assert err.value.permanent is False
    part = cache_path(url, tmp_path).with_name("big.bin.part")
    half = len(DATA) // 2
    assert part.read_bytes() == DATA[:half]
    assert not cache_path(url, tmp_path).exists()

    got = fetch(url, tmp_path, sha256=digest(DATA))  # sha256 proves the digest spans both halves
    last = server.state.headers["/big.bin"][-1]
    assert last["Range"] == f"bytes={half}-" and last["If-Range"] == f'"{digest(DATA)[:16]}"'
    assert got.read_bytes() == DATA and not part.exists()
    assert server.state.body_bytes["/big.bin"] == len(DATA)  # nothing was sent twice


def test_content_changed_before_resume_restarts(server, tmp_path):
    url = serve(server, "/big.bin", DATA)
    server.state.flaky.add("/big.bin")
    with pytest.raises(DownloadError):
        fetch(url, tmp_path)
    serve(server, "/big.bin", NEW)  # the ETag no longer matches the part: If-Range gives a 200
    got = fetch(url, tmp_path)
    assert "Range" in server.state.headers["/big.bin"][-1]
    assert got.read_bytes() == NEW


def test_404_is_permanent_and_leaves_nothing(server, tmp_path):
    url = server.url + "/missing.csv"
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path)
    assert err.value.permanent is True
    assert url in str(err.value) and "404" in str(err.value)
    assert files_in(tmp_path) == []


def test_5xx_is_not_permanent(server, tmp_path):
    url = serve(server, "/a.csv", DATA)
    server.state.status["/a.csv"] = 503
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path)
    assert err.value.permanent is False and "503" in str(err.value)


def test_checksum_mismatch_is_permanent_and_leaves_nothing(server, tmp_path):
    url = serve(server, "/a.csv", DATA)
    wrong = digest(b"something else")
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path, sha256=wrong)
    assert err.value.permanent is True
    assert wrong in str(err.value) and digest(DATA) in str(err.value) and url in str(err.value)
    assert files_in(tmp_path) == []


def test_server_ignoring_range_still_gives_the_right_file(server, tmp_path):
    url = serve(server, "/big.bin", DATA)
    server.state.flaky.add("/big.bin")
    server.state.ignore_range.add("/big.bin")
    with pytest.raises(DownloadError):
        fetch(url, tmp_path)
    got = fetch(url, tmp_path, sha256=digest(DATA))
    assert "Range" in server.state.headers["/big.bin"][-1]
    assert got.read_bytes() == DATA
    assert server.state.body_bytes["/big.bin"] == len(DATA) // 2 + len(DATA)


@pytest.mark.parametrize("part_ok", [True, False])
def test_416_verifies_a_complete_part(server, tmp_path, part_ok):
    url = serve(server, "/a.csv", DATA)
    final = cache_path(url, tmp_path)
    final.parent.mkdir(parents=True)
    part = final.with_name("a.csv.part")
    part.write_bytes(DATA if part_ok else DATA[::-1])  # same length: the size alone can't tell
    if part_ok:
        assert fetch(url, tmp_path, sha256=digest(DATA)).read_bytes() == DATA
    else:
        with pytest.raises(DownloadError) as err:
            fetch(url, tmp_path, sha256=digest(DATA))
        assert err.value.permanent is False and not part.exists() and not final.exists()
    assert server.state.body_bytes["/a.csv"] == 0


def test_timeout_mid_body_is_not_permanent(server, tmp_path):
    url = serve(server, "/slow.bin", DATA)
    server.state.stall.add("/slow.bin")
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path, timeout=0.2)
    assert err.value.permanent is False
    part = cache_path(url, tmp_path).with_name("slow.bin.part")
    assert part.read_bytes() == DATA[: len(DATA) // 2]  # what arrived before the stall is kept


def test_without_validators_the_cached_file_is_trusted(server, tmp_path):
    url = serve(server, "/a.csv", DATA)
    server.state.no_validators.add("/a.csv")
    first = fetch(url, tmp_path, progress=True)
    assert fetch(url, tmp_path) == first and first.read_bytes() == DATA
    assert server.state.requests["/a.csv"] == 1


def test_only_http_urls(tmp_path):
    for url in ("ftp://example.org/a.csv", "file:///etc/passwd", "/local/a.csv"):
        with pytest.raises(ValueError):
            fetch(url, tmp_path)


def test_cache_path_is_deterministic_and_safe(tmp_path):
    url = "https://example.org/x/Reviews%20Sports%2F..%2Fetc.json.gz?sig=1"
    path = cache_path(url, tmp_path)
    assert path == cache_path(url, tmp_path)
    assert path.parent.parent == tmp_path and path.parent.name == digest(url.encode())[:16]
    assert path.name == "Reviews_Sports_.._etc.json.gz"
    assert cache_path("https://example.org/", tmp_path).name == "download"
    assert cache_path("https://example.org/..", tmp_path).name == "download"
    assert cache_path("https://example.org/a", tmp_path) != cache_path("https://example.org/b",
                                                                       tmp_path)
