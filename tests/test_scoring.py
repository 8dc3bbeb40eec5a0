import base64

import pytest
from PIL import Image

from dpiqa.scoring import find_images, score_images

from .data.conftest import write_image


@pytest.fixture
def folder(tmp_path):
    write_image(tmp_path / "a.png", seed=1)
    write_image(tmp_path / "sub" / "b.jpg", seed=2)
    (tmp_path / "sub" / "notes.txt").write_text("not an image")
    (tmp_path / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "empty.png").write_bytes(b"")
    write_image(tmp_path / "tiny.png", side=8)
    return tmp_path


def _score(model, profile, items):
    return score_images(model, items, image_size=profile.image_size, mos_range=[0, 100], batch_size=2)


def test_folders_are_searched_recursively_for_images(folder):
    found = [p.replace(str(folder), "") for p in find_images([str(folder)])]
    assert found == ["/a.png", "/empty.png", "/sub/b.jpg", "/sub/broken.jpg", "/tiny.png"]


def test_bad_files_get_an_error_row_and_the_rest_are_scored(folder, tiny_student, tiny_profile):
    results = {r.source.replace(str(folder), ""): r for r in _score(tiny_student, tiny_profile, list(find_images([str(folder)])))}
    assert results["/a.png"].error is None and results["/sub/b.jpg"].error is None
    assert results["/a.png"].score_mos == pytest.approx(100 * results["/a.png"].score)
    assert "empty file" in results["/empty.png"].error
    assert "not a readable image" in results["/sub/broken.jpg"].error
    assert "smaller than 32 px" in results["/tiny.png"].error
    assert all(r.score is None for r in results.values() if r.error)


def test_scores_do_not_depend_on_the_batch_they_are_in(folder, tiny_student, tiny_profile):
    paths = [str(folder / "a.png"), str(folder / "empty.png"), str(folder / "sub/b.jpg")]
    together = _score(tiny_student, tiny_profile, paths)
    alone = _score(tiny_student, tiny_profile, [paths[2]])
    assert together[2].score == pytest.approx(alone[0].score, abs=1e-5)


def test_base64_input_and_grayscale_rgba_are_scored(tmp_path, tiny_student, tiny_profile):
    write_image(tmp_path / "c.png", seed=3)
    Image.open(tmp_path / "c.png").convert("LA").save(tmp_path / "gray.png")
    Image.open(tmp_path / "c.png").convert("RGBA").save(tmp_path / "rgba.png")
    encoded = base64.b64encode((tmp_path / "c.png").read_bytes()).decode()
    results = _score(tiny_student, tiny_profile, [encoded, str(tmp_path / "gray.png"), str(tmp_path / "rgba.png"),
                                                  str(tmp_path / "missing.png")])
    assert [r.error is None for r in results] == [True, True, True, False]
    assert results[0].source == "<base64 image>"
    assert "neither an existing file nor base64" in results[3].error
