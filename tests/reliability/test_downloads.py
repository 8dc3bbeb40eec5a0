import hashlib
import io
import os
import tarfile
import zipfile

import pytest

from dpiqa.data.download import (
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download,
    extract,
    staged_directory,
)

PAYLOAD = os.urandom(300_000)


@pytest.fixture
def served_file(file_server):
    server, folder, url = file_server
    (folder / "archive.bin").write_bytes(PAYLOAD)
    return server, f"{url}/archive.bin"


def test_download_writes_the_whole_file(served_file, tmp_path):
    _, url = served_file
    dest = download(url, tmp_path / "out" / "archive.bin", size=len(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "out" / "archive.bin.part").exists()


def test_download_resumes_after_the_connection_is_cut(served_file, tmp_path):
    server, url = served_file
    server.drop_after_bytes, server.drops_left = 100_000, 2
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    dest = download(url, tmp_path / "archive.bin", sha256=sha, retries=3)
    assert dest.read_bytes() == PAYLOAD
    ranges = [r["range"] for r in server.requests_seen]
    assert len(ranges) == 3 and ranges[0] is None
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 100_000


def test_download_restarts_when_the_server_ignores_ranges(served_file, tmp_path):
    server, url = served_file
    server.honour_range = False
    partial = tmp_path / "archive.bin.part"
    partial.write_bytes(PAYLOAD[:1000])
    assert download(url, tmp_path / "archive.bin").read_bytes() == PAYLOAD


def test_download_gives_up_but_keeps_the_partial_file(served_file, tmp_path):
    server, url = served_file
    server.drop_after_bytes, server.drops_left = 100_000, 10
    with pytest.raises(DownloadError, match="gave up after 2 attempts"):
        download(url, tmp_path / "archive.bin", retries=1)
    kept = (tmp_path / "archive.bin.part").read_bytes()
    assert 0 < len(kept) < len(PAYLOAD) and kept == PAYLOAD[: len(kept)]


def test_a_checksum_mismatch_deletes_the_file_and_says_so(served_file, tmp_path):
    _, url = served_file
    with pytest.raises(ChecksumError, match="does not match.*deleted"):
        download(url, tmp_path / "archive.bin", sha256="0" * 64)
    assert not (tmp_path / "archive.bin").exists()


def test_a_size_mismatch_deletes_the_file(served_file, tmp_path):
    _, url = served_file
    with pytest.raises(ChecksumError, match=f"expected 5 bytes, got {len(PAYLOAD)}"):
        download(url, tmp_path / "archive.bin", size=5)
    assert not (tmp_path / "archive.bin").exists()


def test_a_missing_url_fails_clearly(file_server, tmp_path):
    _, _, url = file_server
    with pytest.raises(DownloadError, match="404"):
        download(f"{url}/nope.zip", tmp_path / "nope.zip")


def test_a_verified_file_is_not_downloaded_again(served_file, tmp_path):
    server, url = served_file
    download(url, tmp_path / "archive.bin")
    download(url, tmp_path / "archive.bin", size=len(PAYLOAD))
    assert len(server.requests_seen) == 1


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


@pytest.mark.parametrize("evil", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_zip_members_escaping_the_target_are_refused(tmp_path, evil):
    archive = _zip(tmp_path / "evil.zip", {"ok.txt": "fine", evil: "bad"})
    with pytest.raises(UnsafeArchiveError, match="outside"):
        extract(archive, tmp_path / "target")
    assert not (tmp_path / "escape.txt").exists()


def test_tar_links_are_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as bundle:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        bundle.addfile(link)
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract(archive, tmp_path / "target")


def test_tar_and_zip_extract(tmp_path):
    _zip(tmp_path / "a.zip", {"dir/one.txt": "1"})
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz") as bundle:
        info = tarfile.TarInfo("dir/two.txt")
        info.size = 1
        bundle.addfile(info, io.BytesIO(b"2"))
    extract(tmp_path / "a.zip", tmp_path / "t")
    extract(tmp_path / "b.tar.gz", tmp_path / "t")
    assert (tmp_path / "t/dir/one.txt").read_text() == "1"
    assert (tmp_path / "t/dir/two.txt").read_text() == "2"


def test_a_failed_staging_leaves_the_previous_folder_untouched(tmp_path):
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "good.txt").write_text("good")
    with pytest.raises(RuntimeError), staged_directory(target) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]
    assert [p.name for p in target.iterdir()] == ["good.txt"]


def test_a_successful_staging_replaces_the_folder(tmp_path):
    target = tmp_path / "dataset"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with staged_directory(target) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
