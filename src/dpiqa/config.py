"""Typed view of params.yaml and workspace.yaml: the one place that knows their shape.

params.yaml holds what changes results (DVC tracks it); workspace.yaml, beside it, holds paths
and machine settings in the same sections (dvc.yaml reads it as `vars`, no stage tracks it).
Unknown keys are errors, so a typo fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dpiqa.data.cards import cards
from dpiqa.errors import DPIQAError
from dpiqa.hardware import Precision, resolve_precision

PARAMS_FILE = "params.yaml"
WORKSPACE_FILE = "workspace.yaml"  # always beside the params file


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BaseParams(Section):
    seed: int
    profile: Literal["tiny", "sd15"]
    dataset: str


class EmbeddedSource(Section):
    photos: list[str] = Field(min_length=1)
    image_size: int = Field(gt=0)
    tiles_per_side: int = Field(ge=1)
    label_metric: Literal["haarpsi", "vsi", "ms_ssim", "ssim"]
    distortions: dict[str, list[float]]

    @property
    def expected_count(self) -> int:
        """photos x tiles x (every distortion level + the pristine tile)."""
        per_tile = 1 + sum(len(levels) for levels in self.distortions.values())
        return len(self.photos) * self.tiles_per_side**2 * per_tile

    @field_validator("distortions")
    @classmethod
    def _non_empty_levels(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, levels in value.items():
            if not levels:
                raise ValueError(f"distortion {name!r} has no levels")
        return value


class Koniq10kSource(Section):
    images_url: str
    labels_url: str
    split_url: str
    sha256: dict[str, str] = {}


class Kadid10kSource(Section):
    url: str
    size: int | None = None
    sha256: str | None = None


class ManualSource(Section):
    """A dataset whose download needs a browser: the user points at the archive or folder."""

    path: str | None = None


class CliveSource(ManualSource):
    drop_training_images: bool = True


class FolderSource(ManualSource):
    labels: str | None = None
    image_column: str = "image"
    score_column: str = "mos"
    std_column: str | None = None
    mos_range: tuple[float, float]

    @field_validator("mos_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] >= value[1]:
            raise ValueError(f"mos_range must be [min, max] with min < max, got {list(value)}")
        return value


# The settings each parser reads (data.sources.<key>), by the parser a dataset card names;
# a parser not listed reads only `path` (a manual download).
SOURCE_SETTINGS: dict[str, type[Section]] = {
    "embedded": EmbeddedSource,
    "koniq10k": Koniq10kSource,
    "kadid10k": Kadid10kSource,
    "clive": CliveSource,
    "folder": FolderSource,
}


class DataParams(Section):
    datasets: list[str] = Field(min_length=1)
    root: Path
    manifests: Path
    sources: dict[str, Section]

    @field_validator("sources", mode="before")
    @classmethod
    def _settings_of_each_card(cls, raw: dict) -> dict[str, Section]:
        """Each section validated by the settings model of the parser its card names."""
        known = cards()
        unknown = set(raw) - set(known)
        if unknown:
            raise ValueError(f"data.sources: no dataset card for {sorted(unknown)}; known: {', '.join(known)}")
        return {key: SOURCE_SETTINGS.get(known[key].parser, ManualSource).model_validate(value or {})
                for key, value in raw.items()}

    def dataset_dir(self, key: str) -> Path:
        return self.root / key

    def manifest_path(self, key: str) -> Path:
        return self.manifests / f"{key}.csv"


class ValidateParams(Section):
    """Images are checked against the limits scoring applies (`score.min_image_side`,
    `score.max_image_pixels`): a dataset holds only images the models could score."""

    reports: Path
    example_rows: int = Field(ge=1)


class SplitParams(Section):
    out: Path
    seeds: list[int] = Field(min_length=1)
    test_fraction: float = Field(gt=0, lt=1)
    val_fraction: float = Field(gt=0, lt=1)
    use_official: bool

    def split_path(self, key: str, seed: int) -> Path:
        return self.out / key / f"seed-{seed}.csv"


class QFDConfig(Section):
    hidden: int = Field(gt=0)
    se_reduction: int = Field(gt=0)
    score_channels: list[int]
    map_channels: int = Field(gt=0)
    mlp_hidden: int = Field(gt=0)
    head: Literal["flatten", "local"]   # how the MLP reads the map (dpiqa.models.score_layer.SCORE_HEADS)


class AdapterInputConfig(Section):
    """What the image adapter reads: the image (`pixels`, as the authors) or its detail.

    A randomly initialised adapter on pixels sees little but their mean colour, where blur, noise
    and compression do not show (the tiny teacher's validation SRCC stayed below 0.2 on pixels).
    `highpass` is the image minus its local mean over a `window`-pixel box, times `gain`; `lcn`
    divides that by the local std (+ `eps`) too, so detail reads on one scale whatever the
    content's contrast (models.filters.local_contrast_normalise).
    """

    SETTINGS: ClassVar[dict[str, tuple[str, ...]]] = {"pixels": (), "highpass": ("window", "gain"),
                                                       "lcn": ("window", "eps")}

    kind: Literal["pixels", "highpass", "lcn"]
    window: int | None = Field(default=None, ge=3)
    gain: float | None = Field(default=None, gt=0)
    eps: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _settings_fit_the_kind(self) -> AdapterInputConfig:
        needed = self.SETTINGS[self.kind]
        given = tuple(name for name in ("window", "gain", "eps") if getattr(self, name) is not None)
        if given != needed:
            takes = " and ".join(needed) or "no window, gain or eps"
            raise ValueError(f"image_adapter_input: {self.kind} takes {takes}, got {', '.join(given) or 'none'}")
        if self.window is not None and self.window % 2 == 0:
            raise ValueError(f"image_adapter_input: the window must be odd, got {self.window}")
        return self


class TeacherConfig(Section):
    pretrained: str | None
    text_encoder: str | None
    timestep: int = Field(ge=0)
    vae_input_range: Literal["unit", "symmetric"]
    latent: Literal["mean", "sample"]
    prompt_pooling: Literal["projected", "mean_tokens"]
    text_adapter_gamma_init: float
    adapter_res_blocks: int = Field(gt=0)
    image_adapter_input: AdapterInputConfig
    qfd: QFDConfig
    # The architecture of a randomly initialised teacher (diffusers config kwargs). A pretrained
    # teacher takes its own from the checkpoint, so these are refused beside `pretrained`.
    unet: dict | None = None
    vae: dict | None = None
    clip: dict | None = None  # the tiny text model's config; pretrained profiles load CLIP from text_encoder
    # Start the VAE and U-Net from the diffusion prior the pretrain_prior stage trains (profiles
    # without `pretrained` weights); false: random initialisation.
    prior: bool = False

    @model_validator(mode="after")
    def _architecture_xor_weights(self) -> TeacherConfig:
        given = [name for name in ("unet", "vae", "clip") if getattr(self, name) is not None]
        if self.pretrained and self.prior:
            raise ValueError("prior: a teacher with `pretrained` weights starts from them, not from a prior")
        if self.pretrained and given:
            raise ValueError(f"{given}: a pretrained teacher's architecture is its checkpoint's; remove them")
        if not self.pretrained and len(given) < 3:
            raise ValueError("a teacher without `pretrained` weights needs its unet, vae and clip configs")
        return self


class LocalContrastConfig(Section):
    window: int = Field(ge=3)   # odd: the box centred on each pixel
    eps: float = Field(gt=0)    # added to the local std: flat regions stay at zero
    # the backbone also reads the ImageNet-normalised pixels (6 input channels): the brightness,
    # contrast and colour that LCN removes
    with_pixels: bool = False

    @model_validator(mode="after")
    def _odd_window(self) -> LocalContrastConfig:
        if self.window % 2 == 0:
            raise ValueError(f"lcn: the window must be odd, got {self.window}")
        return self


class StudentConfig(Section):
    backbone: Literal[
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
        "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "mobilenet_v3_small", "mobilenet_v3_large",
    ]
    imagenet_weights: bool
    mlp_hidden: int = Field(gt=0)
    # imagenet: ImageNet mean/std inside the model | none: raw [0, 1], as the authors (their released student)
    # | lcn: each channel's local contrast normalisation, its window and eps in `lcn`
    input_normalisation: Literal["imagenet", "none", "lcn"]
    head: Literal["flatten", "local"]   # as the teacher's QFD
    lcn: LocalContrastConfig | None = None

    @model_validator(mode="after")
    def _lcn_settings_with_lcn_only(self) -> StudentConfig:
        if (self.input_normalisation == "lcn") != (self.lcn is not None):
            raise ValueError("student: input_normalisation lcn takes lcn settings (window, eps), and only it does")
        return self


class Profile(Section):
    image_size: int = Field(gt=0)
    resize: Literal["bicubic", "bilinear"]   # the filter images are resized to image_size with
    teacher: TeacherConfig
    student: StudentConfig


class ModelsParams(Section):
    """`teacher` holds the teacher settings every profile shares; a profile's own `teacher`
    section adds to and overrides them."""

    prompt_cache: Path
    profiles: dict[Literal["tiny", "sd15"], Profile]

    @model_validator(mode="before")
    @classmethod
    def _shared_teacher_settings(cls, raw: dict) -> dict:
        if not isinstance(raw, dict) or "teacher" not in raw:
            return raw
        raw = dict(raw)
        shared = raw.pop("teacher") or {}
        raw["profiles"] = {
            name: {**profile, "teacher": {**shared, **(profile.get("teacher") or {})}}
            for name, profile in (raw.get("profiles") or {}).items()
        }
        return raw


class TrainParams(Section):
    split_seed: int
    accelerator: Literal["auto", "cpu", "gpu"]
    devices: int = Field(ge=1)
    num_nodes: int = Field(ge=1)
    strategy: Literal["auto", "ddp"]
    precision: dict[Literal["tiny", "sd15"], dict[Literal["cpu", "gpu"], Precision]]
    deterministic: bool
    gradient_checkpointing: bool
    precise_bn_batches: int = Field(ge=0)
    min_val_prediction_std: float = Field(ge=0)
    checkpoints: Path

    def accelerator_kind(self) -> Literal["cpu", "gpu"]:
        if self.accelerator == "auto":
            import torch

            return "gpu" if torch.cuda.is_available() else "cpu"
        return self.accelerator

    def trainer_precision(self, profile: str) -> str:
        """Lightning's precision for `profile` on the accelerator this run uses (`auto` resolved)."""
        kind = self.accelerator_kind()
        return resolve_precision(self.precision[profile][kind], kind)

    def torch_device(self) -> str:
        """Where the stages that only run models (targets, evaluation) put them."""
        return "cuda" if self.accelerator_kind() == "gpu" else "cpu"


class Recipe(Section):
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(ge=0)
    milestones: list[int]
    lr_gamma: float = Field(gt=0)
    schedule: Literal["multistep", "one_cycle"]
    warmup_fraction: float = Field(gt=0, lt=1)
    # dihedral: each training image (and the student's teacher map) flipped and rotated by a random
    # multiple of 90 degrees (synthetic distortions keep their label; real photos may not).
    augment: Literal["none", "dihedral"]


class StudentRecipe(Recipe):
    """map_loss_weight: lambda in MSE(score, MOS) + lambda x MSE(student map, teacher map)."""

    map_loss_weight: float = Field(ge=0)


class TrainingStageParams(Section):
    """What both training stages have: outputs and a recipe per profile.

    A profile's recipe may carry `by_dataset: {<dataset>: {<setting>: value}}`: the authors tuned
    their learning-rate milestones per dataset, so `recipe(profile, dataset)` applies the entry
    for base.dataset over the profile's recipe (`dataset_recipes` holds them resolved).
    """

    out: Path
    metrics: Path
    curve: Path
    recipes: dict[Literal["tiny", "sd15"], Recipe]
    dataset_recipes: dict[Literal["tiny", "sd15"], dict[str, Recipe]] = {}

    @model_validator(mode="before")
    @classmethod
    def _per_dataset_recipes(cls, raw):
        if not isinstance(raw, dict) or not isinstance(raw.get("recipes"), dict):
            return raw
        recipes, resolved = {}, {}
        for profile, recipe in raw["recipes"].items():
            recipe = dict(recipe or {})
            overrides = recipe.pop("by_dataset", None) or {}
            recipes[profile] = recipe
            if overrides:
                resolved[profile] = {dataset: {**recipe, **(override or {})} for dataset, override in overrides.items()}
        return {**raw, "recipes": recipes, "dataset_recipes": {**raw.get("dataset_recipes", {}), **resolved}}

    def recipe(self, profile: str, dataset: str) -> Recipe:
        """The recipe `profile` trains `dataset` with."""
        return self.dataset_recipes.get(profile, {}).get(dataset, self.recipes[profile])


class TrainTeacherParams(TrainingStageParams):
    use_latent_cache: bool
    ranking_loss_weight: float = Field(ge=0)
    ranking_margin: float = Field(ge=0)


class PerImageStageParams(Section):
    """A stage that runs a frozen network once over images and saves a tensor per image."""

    out: Path
    batch_size: int = Field(ge=1)


class TeacherTargetsParams(PerImageStageParams):
    """cached: the teacher's maps computed once by the stage | online: every distillation step."""

    mode: Literal["cached", "online"]


class DistillStudentParams(TrainingStageParams):
    recipes: dict[Literal["tiny", "sd15"], StudentRecipe]
    dataset_recipes: dict[Literal["tiny", "sd15"], dict[str, StudentRecipe]] = {}


class AutoencoderRecipe(Section):
    """The VAE as a KL-regularised autoencoder: MSE(reconstruction) + kl_weight x KL per pixel, on
    random `crop`-pixel windows of the training images."""

    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    kl_weight: float = Field(ge=0)
    crop: int = Field(ge=8)


class DiffusionRecipe(Section):
    """The U-Net as a latent diffusion model: MSE(predicted noise, noise) at random timesteps.

    conditioning: prompts (the teacher's own prompt context, so cross-attention learns the tokens
    it will read) | empty (one zero token)."""

    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    conditioning: Literal["prompts", "empty"]


class PriorSamples(Section):
    count: int = Field(ge=1)
    inference_steps: int = Field(ge=1)
    seed: int


class PretrainPriorParams(Section):
    """The teacher's diffusion prior, learnt from unlabelled images (profiles with `teacher.prior`)."""

    source: Literal["split", "folder"]  # split: the training split's images (validation's held out) | folder
    folder: Path  # source folder: any *.jpg / *.png under it, no labels
    holdout_fraction: float = Field(gt=0, lt=1)  # of a folder's images, for reconstruction PSNR and val loss
    vae: AutoencoderRecipe
    unet: DiffusionRecipe
    noise_schedule: dict  # diffusers DDPMScheduler settings
    samples: PriorSamples
    out: Path
    metrics: Path
    figures: Path


class EvaluateParams(Section):
    datasets: list[str] = Field(min_length=1)
    batch_size: int = Field(ge=1)
    bootstrap_resamples: int = Field(ge=10)
    confidence: float = Field(gt=0, lt=1)
    latency_runs: int = Field(ge=1)
    metrics: Path
    seeds: Path  # reports/seeds/<n>.json: both models trained and tested on split seed n
    cost: Path
    predictions: Path
    figures: Path


class RegisterParams(Section):
    out: Path
    teacher_name: str
    student_name: str
    prior_name: str
    challenger_alias: str
    champion_alias: str
    previous_alias: str


class PromoteParams(Section):
    srcc_margin: float = Field(ge=0)
    teacher_margin: float = Field(ge=0)
    max_latency_s: float = Field(gt=0)


class ScoreParams(Section):
    """How images are scored (`dpiqa score`, served models): baked into each registered version."""

    batch_size: int = Field(ge=1)
    engine: Literal["auto", "torch", "onnxruntime"]
    precision: Literal["auto", "bf16", "fp32"]
    decode_threads: int = Field(ge=1)
    min_image_side: int = Field(ge=1)
    max_image_pixels: int = Field(ge=1)
    max_image_bytes: int = Field(ge=1)


class HeatmapParams(Section):
    """Quality maps as pictures (`dpiqa score --heatmaps`, the report's maps)."""

    # diverging matplotlib colormaps only: the scale is signed and centred on zero
    colormap: Literal["RdBu", "RdYlBu", "coolwarm", "bwr", "seismic", "PiYG", "PRGn", "BrBG", "PuOr", "RdGy"]
    opacity: float = Field(gt=0, le=1)
    report_images: int = Field(ge=1)


class ServeParams(Section):
    host: str
    port: int = Field(ge=0, le=65535)
    max_request_bytes: int = Field(ge=1)


class TeamParams(Section):
    """`dpiqa server`: PostgreSQL-backed MLflow and an S3-compatible store for a team, on loopback.

    Machine settings (workspace.yaml); credentials come from the environment, never from a file.
    """

    folder: Path
    host: str
    postgres_port: int = Field(ge=1, le=65535)
    postgres_user: str
    database: str
    mlflow_port: int = Field(ge=1, le=65535)
    artifacts: Literal["local", "s3"]
    s3_port: int = Field(ge=1, le=65535)
    bucket: str


class ReportParams(Section):
    markdown: Path
    html: Path
    benchmarks: Path   # results of benchmarks run by hand that the report quotes (the prior's ablation)


class RuntimeParams(Section):
    """How this machine runs the pipeline: no output depends on it, so no stage declares it."""

    num_workers: int = Field(ge=0)
    validate_workers: int = Field(ge=1)
    progress_bar: bool
    downloads: Path
    download_retries: int = Field(ge=0)


class TrackingParams(Section):
    experiment: str
    locked_retry_s: float = Field(ge=0)


def _with_shared_recipe(raw: dict) -> dict:
    """`train.recipe` under every recipe of the training stages; a recipe's own values win."""
    raw = dict(raw)
    shared = dict(raw.get("train") or {})
    defaults = shared.pop("recipe", None) or {}
    raw["train"] = shared
    for stage in ("train_teacher", "distill_student"):
        if isinstance(raw.get(stage), dict) and isinstance(raw[stage].get("recipes"), dict):
            recipes = {profile: {**defaults, **(recipe or {})} for profile, recipe in raw[stage]["recipes"].items()}
            raw[stage] = {**raw[stage], "recipes": recipes}
    return raw


class _Answers:
    """What the whole Params and every stage view holding the sections involved can answer."""

    @property
    def profile(self) -> Profile:
        return self.models.profiles[self.base.profile]

    def split_file(self) -> Path:
        """The split the models train on: the training dataset at train.split_seed."""
        return self.split.split_path(self.base.dataset, self.train.split_seed)

    def prior_folder(self) -> Path | None:
        """The diffusion prior the teacher starts from, when the active profile uses one."""
        return self.pretrain_prior.out if self.profile.teacher.prior else None

    def source(self, key: str) -> Section:
        """Dataset `key`'s settings (data.sources.<key>)."""
        if key not in self.data.sources:
            raise DPIQAError(f"unknown dataset {key!r}: add its section to data.sources; known: "
                             f"{', '.join(self.data.sources)}")
        return self.data.sources[key]

    def logged(self, *sections: str) -> dict:
        """The named sections and the active profile, as plain data for experiment tracking."""
        fields = {field.alias or name: name for name, field in type(self).model_fields.items()}
        dumped = {name: getattr(self, fields[name]).model_dump(mode="json", by_alias=True) for name in sections}
        return {**dumped, "profile": self.profile.model_dump(mode="json")}


class Params(Section, _Answers):
    base: BaseParams
    data: DataParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams
    models: ModelsParams
    train: TrainParams
    pretrain_prior: PretrainPriorParams
    train_teacher: TrainTeacherParams
    encode_latents: PerImageStageParams
    teacher_targets: TeacherTargetsParams
    distill_student: DistillStudentParams
    evaluate: EvaluateParams
    register_: RegisterParams = Field(alias="register")
    promote: PromoteParams
    score: ScoreParams
    heatmaps: HeatmapParams
    serve: ServeParams
    report: ReportParams
    tracking: TrackingParams
    team: TeamParams
    runtime: RuntimeParams

    @model_validator(mode="before")
    @classmethod
    def _shared_recipe(cls, raw):
        return _with_shared_recipe(raw) if isinstance(raw, dict) else raw

    @model_validator(mode="after")
    def _datasets_are_prepared(self) -> Params:
        prepared = set(self.data.datasets)
        if self.base.dataset not in prepared:
            raise ValueError(f"base.dataset {self.base.dataset!r} must be listed in data.datasets")
        if self.base.dataset not in self.evaluate.datasets:
            raise ValueError(f"evaluate.datasets must include base.dataset {self.base.dataset!r}")
        without_section = prepared - set(self.data.sources)
        if without_section:
            raise ValueError(f"data.datasets {sorted(without_section)} need a data.sources section each")
        missing = set(self.evaluate.datasets) - prepared
        if missing:
            raise ValueError(f"evaluate.datasets {sorted(missing)} must also be listed in data.datasets")
        for stage in (self.train_teacher, self.distill_student):
            for profile, by_dataset in stage.dataset_recipes.items():
                unknown = set(by_dataset) - set(self.data.sources)
                if unknown:
                    raise ValueError(f"recipes.{profile}.by_dataset names {sorted(unknown)}, not in data.sources")
        return self


class StageView(Section, _Answers):
    """The sections one stage's library entry reads. `of(params)` narrows the whole Params (or a
    wider view) to them: reading any other section is an AttributeError, and a test holds each
    view to what dvc.yaml declares for its stage."""

    @classmethod
    def of(cls, params) -> Self:
        if isinstance(params, cls):
            return params
        return cls.model_construct(**{name: getattr(params, name) for name in cls.model_fields})


class DownloadView(StageView):
    base: BaseParams
    data: DataParams
    runtime: RuntimeParams


class ValidateView(StageView):
    data: DataParams
    validate_: ValidateParams = Field(alias="validate")
    score: ScoreParams
    runtime: RuntimeParams


class SplitView(StageView):
    data: DataParams
    validate_: ValidateParams = Field(alias="validate")
    split: SplitParams


class ModelStageView(StageView):
    """The training set, its split and the active profile: what every model stage reads."""

    base: BaseParams
    data: DataParams
    split: SplitParams
    models: ModelsParams
    train: TrainParams
    runtime: RuntimeParams


class PretrainPriorView(ModelStageView):
    pretrain_prior: PretrainPriorParams


class EncodeLatentsView(ModelStageView):
    encode_latents: PerImageStageParams
    pretrain_prior: PretrainPriorParams  # the folder the teacher's VAE loads from
    train_teacher: TrainTeacherParams  # its recipe's augmentation: which splits read the cache


class TrainTeacherView(ModelStageView):
    train_teacher: TrainTeacherParams
    encode_latents: PerImageStageParams
    pretrain_prior: PretrainPriorParams


class TeacherTargetsView(ModelStageView):
    train_teacher: TrainTeacherParams
    teacher_targets: TeacherTargetsParams
    distill_student: DistillStudentParams  # its recipe's map_loss_weight: whether any map is read


class DistillStudentView(ModelStageView):
    distill_student: DistillStudentParams
    teacher_targets: TeacherTargetsParams
    train_teacher: TrainTeacherParams  # where the online teacher loads from


class EvaluateView(ModelStageView):
    train_teacher: TrainTeacherParams
    distill_student: DistillStudentParams
    evaluate: EvaluateParams
    score: ScoreParams
    heatmaps: HeatmapParams


class RegisterView(StageView):
    base: BaseParams
    register_: RegisterParams = Field(alias="register")
    train_teacher: TrainTeacherParams
    distill_student: DistillStudentParams
    score: ScoreParams


def _merged(params: dict, workspace: dict, where: str = "") -> dict:
    merged = dict(params)
    for key, value in workspace.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value, f"{where}{key}.")
        elif key in merged:
            raise DPIQAError(f"{where}{key} is set in both {PARAMS_FILE} and {WORKSPACE_FILE}: keep one")
        else:
            merged[key] = value
    return merged


def _yaml(path: Path, role: str) -> dict:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as error:
        raise DPIQAError(f"no {role} at {path}: run from the project root or pass --params") from error


def read_settings(path: str | os.PathLike = PARAMS_FILE) -> dict:
    """params.yaml with the workspace.yaml beside it merged in: the raw input of `Params`."""
    path = Path(path)
    return _merged(_yaml(path, "params file"), _yaml(path.with_name(WORKSPACE_FILE), "workspace file"))


def load_params(path: str | os.PathLike = PARAMS_FILE) -> Params:
    """params.yaml + workspace.yaml, validated: a missing file or an invalid value is a user error
    naming the field."""
    try:
        return Params.model_validate(read_settings(path))
    except ValidationError as error:
        raise DPIQAError(f"{path} (with its {WORKSPACE_FILE}) is invalid:\n{error}") from error
