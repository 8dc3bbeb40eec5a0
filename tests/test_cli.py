import logging
import shutil
from pathlib import Path

import pytest

from dpiqa.cli import main, with_overrides
from dpiqa.errors import USER_ERROR_EXIT, DPIQAError
from dpiqa.runtime import run

from .conftest import heavy_modules_after
from .projects import REPO
from .strict import strict_loads


def test_datasets_lists_every_card(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["datasets"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for key in ("embedded", "koniq10k", "kadid10k", "clive", "spaq", "agiqa3k", "livefb", "folder"):
        assert key in out
    assert "10073" in out


def test_scoring_without_a_champion_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(tmp_path / "a.png")])
    assert exit_.value.code == USER_ERROR_EXIT
    err = capsys.readouterr().err
    assert "cannot load models:/dpiqa-student@champion" in err and "dpiqa promote dpiqa-student" in err


def test_a_user_error_is_one_line_and_exit_2(capsys):
    def main_():
        raise DPIQAError("data.sources.clive.path is not set: download CLIVE and set it")

    with pytest.raises(SystemExit) as exit_:
        run(main_)
    assert exit_.value.code == USER_ERROR_EXIT
    assert capsys.readouterr().err == "error: data.sources.clive.path is not set: download CLIVE and set it\n"


def test_a_bug_keeps_its_traceback(caplog):
    def main_():
        return {}["missing"]

    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_:
        run(main_)
    assert exit_.value.code == 1
    assert "KeyError: 'missing'" in caplog.text and "Traceback" in caplog.text


def test_an_invalid_option_is_refused_not_dropped(make_params):
    settings = make_params().score
    assert with_overrides(settings, batch_size=None, engine="torch").batch_size == settings.batch_size
    assert with_overrides(settings, batch_size=3).batch_size == 3
    with pytest.raises(DPIQAError, match="batch_size"):
        with_overrides(settings, batch_size=0)


def test_invalid_params_name_the_field(tmp_path, capsys):
    import yaml

    from .conftest import deep_update

    typo = deep_update(yaml.safe_load((REPO / "params.yaml").read_text()), {"split": {"test_fractoin": 0.3}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(typo))
    shutil.copy(REPO / "workspace.yaml", tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["promote", "dpiqa-student", "--params", str(tmp_path / "params.yaml")])
    assert exit_.value.code == USER_ERROR_EXIT and "test_fractoin" in capsys.readouterr().err


def test_the_cli_starts_without_heavy_imports():
    assert heavy_modules_after("from dpiqa.cli import build_parser; build_parser().format_help()") == set()


def test_scoring_with_a_local_onnx_student_never_imports_torch(tmp_path, tiny_student, tiny_profile):
    from .conftest import save_model_folder
    from .data.conftest import write_image

    save_model_folder(tiny_student, tmp_path / "student", tiny_profile)
    images = [str(write_image(tmp_path / f"{i}.png", seed=i)) for i in range(2)]
    out = tmp_path / "scores.json"
    code = (f"from dpiqa.cli import main\ntry:\n    main(['score', *{images!r}, '--model', {str(tmp_path / 'student')!r},"
            f" '--out', {str(out)!r}])\nexcept SystemExit as exit_:\n    assert exit_.code == 0, exit_.code")
    assert heavy_modules_after(code) == set()
    assert [row["error"] for row in strict_loads(out.read_text())] == [None, None]


def test_score_with_heatmaps_writes_a_picture_per_scored_image(tmp_path, tiny_student, tiny_profile):
    from .conftest import save_model_folder
    from .data.conftest import write_image

    save_model_folder(tiny_student, tmp_path / "student", tiny_profile)
    for index in range(2):
        write_image(tmp_path / f"in/{index}.png", seed=index)
    (tmp_path / "in/broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(tmp_path / "in"), "--model", str(tmp_path / "student"), "--out", str(tmp_path / "s.json"),
              "--heatmaps", str(tmp_path / "maps")])
    assert exit_.value.code == 1  # the broken file
    rows = {Path(row["path"]).name: row for row in strict_loads((tmp_path / "s.json").read_text())}
    assert rows["0.png"]["heatmap"] == str(tmp_path / "maps/0.png") and rows["broken.jpg"]["heatmap"] is None
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["0.png", "1.png"]
