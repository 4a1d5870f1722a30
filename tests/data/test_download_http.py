"""source: url against a real HTTP server on 127.0.0.1 that can fail in the ways servers do."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fer_tables import random_table

from ferflow.config import DataParams
from ferflow.data.download import part_path
from ferflow.data.fer_csv import HEADER, format_rows
from ferflow.data.sources import fetch_raw_csv
from ferflow.errors import FerflowError


@dataclass
class Behaviour:
    """What the server does; `cut_once` etc. hold paths and are emptied as they trigger."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_once: set[str] = field(default_factory=set)  # send half the body, then hang up
    fail_once: set[str] = field(default_factory=set)  # answer 500 once
    always_fail: set[str] = field(default_factory=set)  # answer 500 every time
    ignore_range: set[str] = field(default_factory=set)  # answer 200 with the whole file
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trigger(self, which: set[str], path: str) -> bool:
        with self.lock:
            hit = path in which
            which.discard(path)
            return hit


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state = self.server.behaviour
        path, wanted = self.path.split("?")[0], self.headers.get("Range")
        with state.lock:
            state.requests.append((path, wanted))
        if path not in state.files:
            self.send_error(404)
            return
        if path in state.always_fail or state.trigger(state.fail_once, path):
            self.send_error(500)
            return
        data = state.files[path]
        start = 0
        if wanted and path not in state.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if state.trigger(state.cut_once, path):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    behaviour: Behaviour


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.behaviour = Behaviour()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.behaviour
    httpd.shutdown()
    httpd.server_close()


def url_params(url: str, **settings: object) -> DataParams:
    return DataParams.model_validate(
        {"source": "url", "url": {"url": url, "backoff_s": 0.01, **settings}})


def csv_bytes(rows: int, seed: int = 0) -> bytes:
    return ("\n".join([HEADER, *format_rows(random_table(rows, seed))]) + "\n").encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_download_with_checksum(server, tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(30)
    state.files["/fer2013.csv"] = data
    raw = tmp_path / "raw"
    info = fetch_raw_csv(url_params(f"{base}/fer2013.csv?token=secret", sha256=sha(data)), raw)
    assert (raw / "fer2013.csv").read_bytes() == data
    assert info == {"source": "url", "origin": f"{base}/fer2013.csv", "sha256": sha(data),
                    "rows": 30}
    assert json.loads((raw / "source.json").read_text()) == info
    assert sorted(p.name for p in raw.iterdir()) == ["fer2013.csv", "source.json"]


def test_downloaded_tar_gz_and_csv_gz_are_unpacked(server, tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(12, seed=1)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("fer2013/fer2013.csv")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    state.files["/fer2013.tar.gz"] = archive.getvalue()
    state.files["/get"] = gzip.compress(data)  # the name says nothing: the content decides
    for name in ("fer2013.tar.gz", "get"):
        raw = tmp_path / name
        assert fetch_raw_csv(url_params(f"{base}/{name}"), raw)["rows"] == 12
        assert (raw / "fer2013.csv").read_bytes() == data
        assert sorted(p.name for p in raw.iterdir()) == ["fer2013.csv", "source.json"]


def write_previous(raw: Path) -> dict[str, bytes]:
    raw.mkdir(parents=True)
    (raw / "fer2013.csv").write_bytes(csv_bytes(3, seed=9))
    (raw / "source.json").write_text('{"source": "before"}\n')
    return {p.name: p.read_bytes() for p in raw.iterdir()}


def test_checksum_mismatch_deletes_the_download_and_keeps_the_old_output(server,
                                                                        tmp_path: Path) -> None:
    base, state = server
    state.files["/fer2013.csv"] = csv_bytes(10)
    raw = tmp_path / "raw"
    before = write_previous(raw)
    expected = "ab" * 32
    with pytest.raises(FerflowError, match="checksum mismatch") as err:
        fetch_raw_csv(url_params(f"{base}/fer2013.csv", sha256=expected), raw)
    message = str(err.value)
    assert expected in message and sha(state.files["/fer2013.csv"]) in message
    assert f"{base}/fer2013.csv" in message
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before  # .part deleted too


def test_404_is_reported_at_once_and_keeps_the_old_output(server, tmp_path: Path) -> None:
    base, state = server
    raw = tmp_path / "raw"
    before = write_previous(raw)
    with pytest.raises(FerflowError, match="HTTP 404.*check data.url.url") as err:
        fetch_raw_csv(url_params(f"{base}/missing.csv", retries=3), raw)
    assert f"{base}/missing.csv" in str(err.value)
    assert len(state.requests) == 1  # a client error is not retried
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before


def test_unreachable_host_is_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/fer2013.csv"
    with pytest.raises(FerflowError, match="cannot reach the server.*connection refused") as err:
        fetch_raw_csv(url_params(url, retries=1), tmp_path / "raw")
    assert url in str(err.value) and "2 attempts" in str(err.value)


@pytest.mark.parametrize("url", ["ftp://example.org/fer2013.csv", "https://",
                                 "http://127.0.0.1:99999/fer2013.csv", "http://[::1/fer2013.csv",
                                 "http://example.org/my fer2013.csv"])
def test_malformed_or_non_http_url_is_rejected_before_any_request(tmp_path: Path,
                                                                  url: str) -> None:
    with pytest.raises(FerflowError, match="not a valid http\\(s\\) address") as err:
        fetch_raw_csv(url_params(url, retries=3), tmp_path / "raw")
    assert "attempt" not in str(err.value)  # a typo is not retried as a network failure


def test_cut_transfer_is_resumed_with_a_range_request(server, tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(40, seed=2)
    state.files["/fer2013.csv"] = data
    state.cut_once.add("/fer2013.csv")
    raw = tmp_path / "raw"
    info = fetch_raw_csv(url_params(f"{base}/fer2013.csv", sha256=sha(data), retries=1), raw)
    assert state.requests == [("/fer2013.csv", None),
                              ("/fer2013.csv", f"bytes={len(data) // 2}-")]
    assert (raw / "fer2013.csv").read_bytes() == data
    assert info["sha256"] == sha(data)


def test_server_answering_200_to_a_range_request_restarts_the_file(server,
                                                                  tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(40, seed=3)
    state.files["/fer2013.csv"] = data
    state.cut_once.add("/fer2013.csv")
    state.ignore_range.add("/fer2013.csv")
    raw = tmp_path / "raw"
    fetch_raw_csv(url_params(f"{base}/fer2013.csv", sha256=sha(data), retries=1), raw)
    assert [r for _, r in state.requests] == [None, f"bytes={len(data) // 2}-"]
    assert (raw / "fer2013.csv").read_bytes() == data


def test_interrupted_run_leaves_a_part_file_that_the_next_run_resumes(server,
                                                                       tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(40, seed=4)
    url = f"{base}/fer2013.csv"
    state.files["/fer2013.csv"] = data
    state.cut_once.add("/fer2013.csv")
    raw = tmp_path / "raw"
    with pytest.raises(FerflowError, match="download failed after 1 attempt.*resumes") as err:
        fetch_raw_csv(url_params(url, retries=0), raw)
    part = part_path(url, raw)
    assert part.read_bytes() == data[: len(data) // 2]
    assert str(part) in str(err.value)
    fetch_raw_csv(url_params(url, retries=0), raw)
    assert state.requests[-1] == ("/fer2013.csv", f"bytes={len(data) // 2}-")
    assert (raw / "fer2013.csv").read_bytes() == data
    assert not part.exists()


def test_complete_part_file_from_an_earlier_run_is_used(server, tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(8, seed=5)
    url = f"{base}/fer2013.csv"
    state.files["/fer2013.csv"] = data
    raw = tmp_path / "raw"
    raw.mkdir()
    part_path(url, raw).write_bytes(data)  # the earlier run died after the last byte
    assert fetch_raw_csv(url_params(url, sha256=sha(data)), raw)["rows"] == 8
    assert state.requests == [("/fer2013.csv", f"bytes={len(data)}-")]  # answered 416


def test_server_error_is_retried(server, tmp_path: Path) -> None:
    base, state = server
    data = csv_bytes(5)
    state.files["/fer2013.csv"] = data
    state.fail_once.add("/fer2013.csv")
    fetch_raw_csv(url_params(f"{base}/fer2013.csv", retries=1), tmp_path / "raw")
    assert len(state.requests) == 2
    assert (tmp_path / "raw" / "fer2013.csv").read_bytes() == data


def test_too_many_server_errors_give_up_with_a_clear_message(server, tmp_path: Path) -> None:
    base, state = server
    state.files["/fer2013.csv"] = csv_bytes(5)
    state.always_fail.add("/fer2013.csv")
    raw = tmp_path / "raw"
    before = write_previous(raw)
    with pytest.raises(FerflowError, match="failed after 3 attempts; last error: HTTP 500"):
        fetch_raw_csv(url_params(f"{base}/fer2013.csv", retries=2), raw)
    assert len(state.requests) == 3
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == before


def test_downloaded_file_that_is_not_fer2013_is_rejected_and_deleted(server,
                                                                     tmp_path: Path) -> None:
    base, state = server
    state.files["/page"] = b"<html><body>Sign in</body></html>\n"
    raw = tmp_path / "raw"
    with pytest.raises(FerflowError, match="header is '<html><body>Sign in</body></html>'"):
        fetch_raw_csv(url_params(f"{base}/page"), raw)
    assert list(raw.iterdir()) == []
