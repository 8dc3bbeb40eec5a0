import pandas as pd
import pytest
from PIL import Image

from dpiqa.data.images import to_rgb
from dpiqa.evaluate.heatmaps import extremes, extremes_figure, unique_names, write_heatmaps

from ..data.conftest import write_image


def test_names_follow_the_source_and_never_collide():
    sources = ["a/x.png", "b/x.jpg", "c/y.png", "<base64 image>", "a/x.tif"]
    assert unique_names(sources) == ["x.png", "x-2.png", "y.png", "image-3.png", "x-3.png"]


def test_one_picture_per_image_in_batches(tmp_path, tiny_student, make_params):
    sources = [str(write_image(tmp_path / f"in/{index}.png", seed=index)) for index in range(3)]
    loaded = []
    pictures = write_heatmaps(tiny_student, sources, lambda source: loaded.append(source) or to_rgb(source), 128,
                              make_params().heatmaps, tmp_path / "maps", batch_size=2)
    assert [p.name for p in pictures] == ["0.png", "1.png", "2.png"] and loaded == sources
    for picture in pictures:
        with Image.open(picture) as image:  # a real PNG, wider than tall: image | overlay
            assert image.format == "PNG" and image.width > image.height


def test_the_report_shows_the_highest_and_lowest_scored_images():
    table = pd.DataFrame({"image": list("abcdefg"), "student": [0.5, 0.9, 0.1, 0.7, 0.3, 0.2, 0.8]})
    assert list(extremes(table, "student", 2)["image"]) == ["b", "g", "f", "c"]
    assert list(extremes(table.head(3), "student", 2)["image"]) == ["b", "c"], "no image twice"


def test_the_report_figure_reads_each_chosen_image(tmp_path, tiny_student, make_params):
    for index in range(4):
        write_image(tmp_path / f"data/{index}.png", seed=index)
    table = pd.DataFrame({"image": [f"{index}.png" for index in range(4)], "mos": [0.1, 0.2, 0.3, 0.4],
                          "student": [0.4, 0.3, 0.2, 0.1]})
    settings = make_params().heatmaps.model_copy(update={"report_images": 1})
    figure = extremes_figure(tiny_student, "student", table, tmp_path / "data", 128, "bicubic", settings,
                             tmp_path / "maps.png")
    assert figure.is_file()
    with pytest.raises(FileNotFoundError):
        extremes_figure(tiny_student, "student", table.assign(image="missing.png"), tmp_path / "data", 128, "bicubic",
                        settings,
                        tmp_path / "other.png")
