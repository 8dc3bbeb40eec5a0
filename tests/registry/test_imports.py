"""`dpiqa import`: the authors' checkpoints (written here in their key layout) become scorable,
registered models, loaded strictly."""

import mlflow
import pytest
import torch
from safetensors.torch import save_file

from dpiqa.data.download import sha256sum
from dpiqa.models.checkpoints import CheckpointMismatchError
from dpiqa.models.export import load_pretrained
from dpiqa.registry.imports import import_checkpoint

KONIQ_SCALE = [1, 5]


def _authors_checkpoint(model, path):
    """A plain state dict saved with torch.save, as the authors release theirs."""
    torch.save({key: value.clone() for key, value in model.state_dict().items()}, path)
    return path


def _perturbed(model):
    """Weights no fresh build has (a fresh build at the same seed would pass any equality check)."""
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.01)
    return model.eval()


@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_an_imported_model_is_the_checkpoint_and_scores_as_it(kind, request, make_params, tmp_path):
    original = _perturbed(request.getfixturevalue(f"tiny_{kind}"))
    checkpoint = _authors_checkpoint(original, tmp_path / f"DP-IQA_{kind}.pth")
    prompts = None
    if kind == "teacher":
        prompts = tmp_path / "prompt_embeddings.safetensors"
        save_file({"embeddings": original.prompt_embeddings.contiguous()}, prompts)
    result = import_checkpoint(kind, checkpoint, make_params(), tmp_path / "imported", dataset="koniq10k",
                               mos_range=KONIQ_SCALE, prompts=prompts, register=False)
    model, config = load_pretrained(tmp_path / "imported")
    assert result["sha256"] == sha256sum(checkpoint) == config["training"]["sha256"]
    assert config["training"]["mos_range"] == KONIQ_SCALE and config["training"]["stage"] == "import"
    for key, value in original.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    images = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.allclose(model(images)[0], original(images)[0], atol=1e-6)


def test_a_checkpoint_of_another_architecture_is_refused_naming_the_keys(tiny_student, make_params, tmp_path):
    state = tiny_student.state_dict()
    state["fc_extra.weight"] = state.pop("fc3.weight")
    torch.save(state, tmp_path / "other.pth")
    with pytest.raises(CheckpointMismatchError, match=r"1 missing keys \['fc3.weight'\], 1 unexpected keys \['fc_extra.weight'\]"):
        import_checkpoint("student", tmp_path / "other.pth", make_params(), tmp_path / "out", dataset="koniq10k",
                          mos_range=KONIQ_SCALE, register=False)
    assert not (tmp_path / "out").exists()


def test_a_teacher_needs_its_prompt_embeddings(tiny_teacher, make_params, tmp_path):
    from dpiqa.errors import DPIQAError

    checkpoint = _authors_checkpoint(tiny_teacher, tmp_path / "teacher.pth")
    with pytest.raises(DPIQAError, match="--prompts"):
        import_checkpoint("teacher", checkpoint, make_params(), tmp_path / "out", dataset="koniq10k",
                          mos_range=KONIQ_SCALE, register=False)


def test_an_import_is_registered_as_the_challenger_with_its_provenance(tiny_student, make_params, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # MLflow writes artifacts under the working directory
    checkpoint = _authors_checkpoint(_perturbed(tiny_student), tmp_path / "student.pth")
    result = import_checkpoint("student", checkpoint, make_params(), tmp_path / "imported", dataset="koniq10k",
                               mos_range=KONIQ_SCALE)
    client = mlflow.MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias("dpiqa-student", "challenger")
    assert str(version.version) == result["version"]
    assert version.tags["source.sha256"] == sha256sum(checkpoint) and "RomGai/DP-IQA" in version.tags["source"]
    scorer = mlflow.pyfunc.load_model("models:/dpiqa-student@challenger").unwrap_python_model().scorer
    assert scorer.config["training"]["stage"] == "import"


AUTHORS_SETUP = {"models": {"profiles": {"tiny": {"resize": "bilinear", "student": {"input_normalisation": "none", "lcn": None}}}}}


@pytest.mark.parametrize("kind", ["student", "teacher"])
def test_an_imported_model_sees_exactly_the_authors_input_tensor(kind, request, make_params, tmp_path):
    """The authors' transforms: PIL image -> torchvision Resize((size, size)) -> ToTensor, no Normalize.
    An import with their preprocessing (sd15's defaults; here on the tiny architecture) must feed the
    model that very tensor when `dpiqa score` reads the file."""
    from PIL import Image
    from skimage import data as photos
    from torchvision import transforms

    from dpiqa.config import ScoreParams
    from dpiqa.scoring import Scorer

    params = make_params(AUTHORS_SETUP)
    size = params.profile.image_size
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(photos.astronaut()).crop((0, 0, 500, 380)).save(photo, quality=90)  # not square: resized
    authors = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])(Image.open(photo).convert("RGB"))

    original = request.getfixturevalue(f"tiny_{kind}")
    checkpoint = _authors_checkpoint(original, tmp_path / f"{kind}.pth")
    prompts = tmp_path / "prompts.safetensors"
    if kind == "teacher":
        save_file({"embeddings": original.prompt_embeddings.contiguous()}, prompts)
    import_checkpoint(kind, checkpoint, params, tmp_path / "imported", dataset="koniq10k", mos_range=KONIQ_SCALE,
                      prompts=prompts if kind == "teacher" else None, register=False)
    settings = ScoreParams.model_validate({**params.score.model_dump(), "engine": "torch", "precision": "fp32"})
    scorer = Scorer.from_folder(tmp_path / "imported", settings)
    seen = []
    reads_pixels = scorer.model.base_model.features if kind == "student" else scorer.model
    reads_pixels.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    [result] = scorer.score([str(photo)])
    assert result.error is None
    assert torch.equal(seen[0][0], authors)


def test_missing_files_and_pickled_code_are_one_line_errors(tiny_student, make_params, tmp_path):
    import os

    from dpiqa.errors import DPIQAError

    arguments = {"dataset": "koniq10k", "mos_range": KONIQ_SCALE, "register": False}
    with pytest.raises(DPIQAError, match="checkpoint .*missing.pth does not exist"):
        import_checkpoint("student", tmp_path / "missing.pth", make_params(), tmp_path / "out", **arguments)

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"state_dict": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(DPIQAError, match="not a plain weights file"):
        import_checkpoint("student", tmp_path / "evil.pth", make_params(), tmp_path / "out", **arguments)
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()
