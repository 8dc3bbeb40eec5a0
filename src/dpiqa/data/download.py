"""Fetching and unpacking dataset archives: resumable, verified, safe and atomic.

- A download goes to `<file>.part` and resumes from there (HTTP Range) when cut off or re-run;
  only a complete, verified file is renamed to its final name.
- A size or SHA-256 mismatch deletes the file and says so.
- Extraction rejects members that would land outside the target folder (absolute paths, `..`,
  links). Datasets are assembled in a hidden staging folder renamed into place at the end, so a
  half-extracted folder is never taken for a good one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import requests
import tenacity
from tqdm.auto import tqdm

from dpiqa.errors import DPIQAError

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16  # small, so a cut-off connection loses little of what arrived
CONNECT_TIMEOUT_S = 30
READ_TIMEOUT_S = 120
RETRY_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30


class DownloadError(DPIQAError):
    """A download that failed after its retries; the message names the URL."""


class ChecksumError(DownloadError):
    pass


class UnsafeArchiveError(DPIQAError):
    """An archive member that would land outside the extraction folder."""


def sha256sum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, size: int | None, sha256: str | None) -> None:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        path.unlink()
        raise ChecksumError(
            f"{path.name}: expected {size} bytes, got {actual_size}; the file was deleted, "
            "run the stage again to download it afresh"
        )
    if sha256:
        actual = sha256sum(path)
        if actual != sha256.lower():
            path.unlink()
            raise ChecksumError(
                f"{path.name}: SHA-256 {actual} does not match the expected {sha256}; "
                "the file was deleted, run the stage again to download it afresh"
            )


def _fetch_once(url: str, partial: Path) -> int | None:
    """Append the rest of `url` to `partial`; return the total size when the server tells it."""
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with requests.get(
        url, headers=headers, stream=True, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    ) as response:
        if response.status_code == 416:  # nothing left to fetch: the partial file is complete
            return offset
        response.raise_for_status()
        if offset and response.status_code != 206:
            log.info("%s: server ignored the resume request; restarting from zero", url)
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        mode = "ab" if offset else "wb"
        with (
            open(partial, mode) as handle,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=partial.name.removesuffix(".part"),
            ) as progress,
        ):
            for block in response.iter_content(CHUNK_BYTES):
                handle.write(block)
                progress.update(len(block))
    return total


class _StreamEndedEarly(Exception):
    """The server closed the stream before the announced length: resumable like a lost connection."""


RESUMABLE = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError, _StreamEndedEarly)


def _fetch_whole(url: str, partial: Path) -> None:
    total = _fetch_once(url, partial)
    received = partial.stat().st_size
    if total is not None and received < total:
        raise _StreamEndedEarly(f"stream ended at {received} of {total} bytes")


def download(
    url: str,
    dest: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    retries: int = 5,
) -> Path:
    """Download `url` to `dest` unless a verified copy is already there."""
    if dest.exists():
        _verify(dest, size, sha256)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(RESUMABLE),
        stop=tenacity.stop_after_attempt(retries + 1),
        wait=tenacity.wait_exponential(multiplier=RETRY_BACKOFF_S, max=MAX_BACKOFF_S),
        before_sleep=lambda state: log.warning("%s: %s; resuming, attempt %d", url, state.outcome.exception(),
                                               state.attempt_number + 1),
        reraise=True,
    )
    try:
        retrying(_fetch_whole, url, partial)
    except RESUMABLE as error:
        raise DownloadError(f"{url}: gave up after {retries + 1} attempts ({error}); the partial file "
                            f"{partial} is kept and the next run resumes it") from error
    except requests.HTTPError as error:
        raise DownloadError(f"{url}: {error}") from error
    os.replace(partial, dest)
    _verify(dest, size, sha256)
    return dest


def _check_member(name: str, target: Path) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    inside = (target / path).resolve().is_relative_to(target.resolve())
    if path.is_absolute() or ".." in path.parts or not inside:
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {target}")


def _extract_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            _check_member(member.filename, target)
            is_symlink = (member.external_attr >> 16) & 0o170000 == 0o120000
            if is_symlink:
                raise UnsafeArchiveError(f"archive member {member.filename!r} is a link")
        bundle.extractall(target)


def _extract_tar(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as bundle:
        for member in bundle.getmembers():
            _check_member(member.name, target)
            if member.issym() or member.islnk():
                raise UnsafeArchiveError(f"archive member {member.name!r} is a link")
        bundle.extractall(target, filter="data")


def is_archive(path: Path) -> bool:
    return path.is_file() and (zipfile.is_zipfile(path) or tarfile.is_tarfile(path))


def extract(archive: Path, target: Path) -> None:
    """Unpack `archive` into the folder `target`, refusing any member that would escape it."""
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, target)
    elif tarfile.is_tarfile(archive):
        _extract_tar(archive, target)
    else:
        raise UnsafeArchiveError(f"{archive} is neither a zip nor a tar archive")


@contextmanager
def staged_directory(target: Path) -> Iterator[Path]:
    """Yield a hidden sibling folder to fill; it replaces `target` only if the block succeeds."""
    staging = target.with_name(f".{target.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
