"""HTTP(S) downloads that resume, retry with backoff and check a sha256 (standard library only).

The bytes go to a `.part` file in the target directory. A transfer cut mid-way leaves it there;
the next attempt (or the next run) asks for the rest with `Range: bytes=N-`. A server that
answers 200 instead of 206 sends the whole file again, so the `.part` file starts over.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import sys
import time
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

from ferflow import __version__
from ferflow.errors import FerflowError
from ferflow.progress import Progress

CHUNK_BYTES = 1 << 16
MAX_WAIT_S = 60.0


class _Retryable(Exception):
    """A failure that another attempt may not see: connection trouble, HTTP 5xx, a cut transfer.

    `unreachable` marks failures before any HTTP answer (refused, DNS, connect timeout).
    """

    def __init__(self, reason: str, unreachable: bool = False):
        super().__init__(reason)
        self.unreachable = unreachable


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_url(url: str) -> None:
    """Raise FerflowError unless `url` is a well-formed http(s) address (checked before any
    request, so a typo is not retried as if the network were down)."""
    problem = ""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parsing the port raises ValueError when it is bad)
    except ValueError as exc:
        parts, problem = None, f" ({exc})"
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or any(c.isspace() or not c.isprintable() for c in url)):
        shown = url.split("?")[0]  # a query may hold a token
        raise FerflowError(f"data.url.url is {shown!r}: not a valid http(s) address{problem}. Set "
                           "it to an http:// or https:// link (spaces written as %20), or use "
                           "data.source: file for a local path.")


def display_url(url: str) -> str:
    """`url` without user info and query: signed links carry secrets there, and this text ends
    up in logs and in the git-tracked source.json."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def part_path(url: str, directory: Path) -> Path:
    """Where the bytes of `url` collect; the URL's hash keeps another URL from resuming them."""
    name = PurePosixPath(urlsplit(url).path).name or "download"
    return directory / f"{name}.{hashlib.sha256(url.encode()).hexdigest()[:8]}.part"


def download(url: str, directory: Path, *, sha256: str = "", retries: int = 3,
             timeout_s: float = 30.0, backoff_s: float = 1.0) -> Path:
    """Download `url` into `directory` and return the complete file (named `*.part`).

    Connection errors, HTTP 5xx and cut transfers are retried `retries` times, waiting
    `backoff_s`, then twice as long each time. With `sha256` set, a download that does not match
    is deleted and reported. The caller removes the returned file once it has used it.
    """
    check_url(url)
    shown = display_url(url)
    directory.mkdir(parents=True, exist_ok=True)
    part = part_path(url, directory)
    failure = _Retryable("no attempt made")
    for attempt in range(retries + 1):
        if attempt:
            wait = min(backoff_s * 2 ** (attempt - 1), MAX_WAIT_S)
            print(f"{shown}: attempt {attempt} of {retries + 1} failed ({failure}); "
                  f"retrying in {wait:g} s", file=sys.stderr, flush=True)
            time.sleep(wait)
        try:
            _transfer(url, part, timeout_s)
            break
        except _Retryable as exc:
            failure = exc
    else:
        raise FerflowError(_gave_up(shown, part, retries + 1, failure))
    if sha256:
        got = sha256_file(part)
        if got != sha256.lower():
            part.unlink()
            raise FerflowError(
                f"{shown}: checksum mismatch: expected sha256 {sha256.lower()} "
                f"(data.url.sha256), got {got}. The download was deleted. Either the file on the "
                "server is not the one expected (fix data.url.url or data.url.sha256) or it was "
                "corrupted on the way (run again).")
    return part


def _gave_up(shown: str, part: Path, attempts: int, failure: _Retryable) -> str:
    tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
    if failure.unreachable:
        return (f"{shown}: cannot reach the server ({failure}; {tries}). Check the host name and "
                "port in data.url.url and the network connection, then run again.")
    kept = ""
    if part.exists() and part.stat().st_size:
        kept = (f" The {part.stat().st_size} bytes received so far are kept in {part}; the next "
                "run resumes from there.")
    return (f"{shown}: download failed after {tries}; last error: {failure}.{kept} Try again "
            "later, or raise data.url.retries / data.url.timeout_s.")


def _client_error(shown: str, code: int, reason: str) -> FerflowError:
    if code == 404:
        fix = "nothing is at this address: check data.url.url (a typo, or the file moved)"
    elif code in (401, 403):
        fix = ("access denied: the link needs a login or has expired; use a public or freshly "
               "signed link, or download the file yourself and set data.source: file")
    else:
        fix = "the server refused the request: check data.url.url"
    return FerflowError(f"{shown}: HTTP {code} {reason}: {fix}.")


def _connection_reason(reason: object, timeout_s: float) -> str:
    if isinstance(reason, socket.gaierror):
        return f"host name not found ({reason})"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    return str(reason)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from `bytes 100-199/1000` or `bytes */1000`; None where unknown."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = span.split("-")[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def _transfer(url: str, part: Path, timeout_s: float) -> None:
    """One attempt: fetch what `part` lacks. Raises _Retryable for transient failures."""
    offset = part.stat().st_size if part.exists() else 0
    request = Request(url, headers={"User-Agent": f"ferflow/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    shown = display_url(url)
    try:
        response = urlopen(request, timeout=timeout_s)
    except HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            # Asked for bytes past the end: a whole file from an earlier run is complete.
            if _content_range(err.headers.get("Content-Range"))[1] == offset:
                return
            part.unlink()
            raise _Retryable("the partial download is larger than the file; "
                             "starting over") from None
        if err.code >= 500:
            raise _Retryable(f"HTTP {err.code} {err.reason}") from None
        raise _client_error(shown, err.code, err.reason) from None
    except URLError as err:
        if isinstance(err.reason, ssl.SSLCertVerificationError):
            raise FerflowError(f"{shown}: the server's TLS certificate failed verification "
                               f"({err.reason.verify_message}); check data.url.url.") from None
        raise _Retryable(_connection_reason(err.reason, timeout_s), unreachable=True) from None
    except (OSError, http.client.HTTPException) as err:
        raise _Retryable(f"{type(err).__name__}: {err}") from None

    with response:
        if response.status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != offset:
                part.unlink()
                raise _Retryable("the server sent another byte range than asked; starting over")
            mode = "ab"
        else:  # 200: the server ignored Range (or there was none) and sends the whole file
            length = response.headers.get("Content-Length")
            offset, total, mode = 0, int(length) if length and length.isdigit() else None, "wb"
        received = offset
        name = PurePosixPath(urlsplit(url).path).name or shown
        with part.open(mode) as out, Progress(total, f"download {name}", unit="B") as progress:
            progress.update(offset)
            try:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    received += len(chunk)
                    progress.update(len(chunk))
            except (OSError, http.client.HTTPException) as err:
                raise _Retryable(f"transfer cut after {received} bytes ({err})") from None
    # http.client returns a short body without an error when the peer closes early.
    if total is not None and received < total:
        raise _Retryable(f"transfer cut after {received} of {total} bytes")
