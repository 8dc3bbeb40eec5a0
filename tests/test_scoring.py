import base64

import pytest
from PIL import Image

from dpiqa.scoring import find_images

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


@pytest.fixture
def score(make_scorer, tiny_student, tiny_profile):
    return lambda items, **settings: make_scorer(tiny_student, tiny_profile, **{"batch_size": 2, **settings}).score(items)


def test_folders_are_searched_recursively_for_images(folder):
    found = [p.replace(str(folder), "") for p in find_images([str(folder)])]
    assert found == ["/a.png", "/empty.png", "/sub/b.jpg", "/sub/broken.jpg", "/tiny.png"]


def test_bad_files_get_an_error_row_and_the_rest_are_scored(folder, score):
    results = {r.source.replace(str(folder), ""): r for r in score(list(find_images([str(folder)])))}
    assert results["/a.png"].error is None and results["/sub/b.jpg"].error is None
    assert results["/a.png"].score_mos == pytest.approx(100 * results["/a.png"].score)
    assert "empty file" in results["/empty.png"].error
    assert "not a readable image" in results["/sub/broken.jpg"].error
    assert "smaller than 32 px" in results["/tiny.png"].error
    assert all(r.score is None for r in results.values() if r.error)


def test_scores_do_not_depend_on_the_batch_they_are_in(folder, score):
    paths = [str(folder / "a.png"), str(folder / "empty.png"), str(folder / "sub/b.jpg")]
    together = score(paths, precision="fp32")
    alone = score([paths[2]], precision="fp32")
    assert together[2].score == pytest.approx(alone[0].score, abs=1e-5)


def test_base64_input_and_grayscale_rgba_are_scored(tmp_path, score):
    write_image(tmp_path / "c.png", seed=3)
    Image.open(tmp_path / "c.png").convert("LA").save(tmp_path / "gray.png")
    Image.open(tmp_path / "c.png").convert("RGBA").save(tmp_path / "rgba.png")
    encoded = base64.b64encode((tmp_path / "c.png").read_bytes()).decode()
    results = score([encoded, str(tmp_path / "gray.png"), str(tmp_path / "rgba.png"),
                                                  str(tmp_path / "missing.png")])
    assert [r.error is None for r in results] == [True, True, True, False]
    assert results[0].source == "<base64 image>"
    assert "neither an existing file nor base64" in results[3].error


def test_results_keep_the_input_order_across_batches_and_threads(tmp_path, score):
    paths = [str(write_image(tmp_path / f"{i}.png", seed=i)) for i in range(7)]
    paths.insert(3, str(tmp_path / "missing.png"))
    results = score(paths, batch_size=3, decode_threads=3)
    assert [r.source for r in results] == paths
    assert [r.error is None for r in results] == [True] * 3 + [False] + [True] * 4


def test_the_fast_path_ranks_images_as_fp32_does(tmp_path, make_scorer, tiny_student, tiny_profile):
    """bf16 autocast + channels_last vs exact fp32: SRCC >= 0.999 over a spread of qualities."""
    from scipy.stats import spearmanr

    from .data.conftest import distorted_photos

    paths = [str(p) for p in distorted_photos(tmp_path, count=64)]
    fast = make_scorer(tiny_student, tiny_profile, precision="bf16").score(paths)
    exact = make_scorer(tiny_student, tiny_profile, precision="fp32").score(paths)
    assert make_scorer(tiny_student, tiny_profile, precision="bf16").fast
    fast_scores, exact_scores = [r.score for r in fast], [r.score for r in exact]
    assert fast_scores != exact_scores  # the fast path really ran in another precision
    assert spearmanr(fast_scores, exact_scores).statistic >= 0.999
