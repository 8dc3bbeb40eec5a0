"""The `dpiqa` command: score images, serve a model, promote and roll back registered models, list datasets,
run a team's servers."""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
from pathlib import Path

from pydantic import BaseModel, ValidationError

from dpiqa.config import PARAMS_FILE
from dpiqa.data.cards import cards
from dpiqa.errors import DPIQAError
from dpiqa.runtime import run
from dpiqa.strict_json import dumps_json

DEFAULT_MODEL = "models:/dpiqa-student@champion"  # params.yaml register.student_name @ champion_alias


def list_datasets(_: argparse.Namespace) -> int:
    for card in cards().values():
        scale = f"{card.mos_range[0]:g}-{card.mos_range[1]:g}" if card.mos_range else "params"
        count = card.expected_count or "-"
        print(f"{card.key:10} {card.source:9} {count!s:>6} images  MOS {scale:7} {card.name}")
    return 0


def with_overrides(settings: BaseModel, **overrides) -> BaseModel:
    """`settings` with the options the user gave (None: not given), validated like params.yaml."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return type(settings).model_validate({**settings.model_dump(), **given})
    except ValidationError as error:
        raise DPIQAError(f"invalid option: {error}") from error


def load_scorer(args: argparse.Namespace):
    """A model folder (models/student, scored with params.yaml's `score` settings) or an MLflow
    model URI (models:/name@alias, runs:/..., scored with the settings it was registered with);
    --batch-size, --engine and --precision override either."""
    from dpiqa.config import load_params
    from dpiqa.models.folder import CONFIG
    from dpiqa.scoring import Scorer

    if (Path(args.model) / CONFIG).is_file():
        folder, settings, loaded = Path(args.model), load_params(args.params).score, None
    else:
        import mlflow

        from dpiqa.tracking.store import reachable_tracking_uri, tracking_uri

        mlflow.set_tracking_uri(reachable_tracking_uri())
        try:
            wrapper = mlflow.pyfunc.load_model(args.model).unwrap_python_model()
        except mlflow.exceptions.MlflowException as error:
            raise DPIQAError(
                f"cannot load {args.model} from {tracking_uri()}: {error.message}\n"
                "Promote a version first (`dpiqa promote dpiqa-student`), or name another model, e.g. "
                "--model models:/dpiqa-student@challenger or --model models/student"
            ) from error
        folder, settings, loaded = wrapper.folder, wrapper.scorer.settings, wrapper.scorer
    chosen = with_overrides(settings, batch_size=args.batch_size, engine=args.engine, precision=args.precision)
    if loaded is not None and chosen == settings:
        return loaded  # MLflow loaded it with these very settings: no second load
    return Scorer.from_folder(folder, chosen)


def score(args: argparse.Namespace) -> int:
    from dpiqa.scoring import find_images

    scorer = load_scorer(args)
    items = list(find_images(args.paths))
    if not items:
        raise DPIQAError(f"no images found in {' '.join(args.paths)}")
    results = scorer.score(items, progress=True)
    low, high = scorer.mos_range
    scale = f"{low:g}-{high:g} ({scorer.config['training']['dataset']})"
    rows = [{"path": r.source, "score": r.score, "score_mos": r.score_mos, "scale": scale, "error": r.error}
            for r in results]
    failed = sum(r.error is not None for r in results)
    if args.heatmaps:
        from dpiqa.config import load_params
        from dpiqa.evaluate.heatmaps import write_heatmaps

        scored = [r.source for r in results if r.error is None]
        pictures = write_heatmaps(scorer.torch_model(), scored, scorer.decoded, scorer.image_size,
                                  load_params(args.params).heatmaps, args.heatmaps, scorer.settings.batch_size,
                                  scorer.resize)
        picture_of = dict(zip(scored, map(str, pictures)))
        for row in rows:
            row["heatmap"] = picture_of.get(row["path"])
    if args.out and args.out.suffix == ".json":
        args.out.write_text(dumps_json(rows, indent=2))
    else:
        with open(args.out, "w", newline="") if args.out else contextlib.nullcontext(sys.stdout) as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    print(f"scored {len(results) - failed} of {len(results)} images" + (f"; {failed} failed" if failed else ""),
          file=sys.stderr)
    return 1 if failed else 0


def serve(args: argparse.Namespace) -> int:
    import mlflow

    from dpiqa.config import load_params
    from dpiqa.registry.serving import serve as serve_model
    from dpiqa.tracking.store import reachable_tracking_uri

    mlflow.set_tracking_uri(reachable_tracking_uri())
    serve_model(args.model, with_overrides(load_params(args.params).serve, host=args.host, port=args.port))
    return 0


def _registry(args: argparse.Namespace):
    from mlflow.tracking import MlflowClient

    from dpiqa.config import load_params
    from dpiqa.tracking.store import reachable_tracking_uri

    return MlflowClient(tracking_uri=reachable_tracking_uri()), load_params(args.params)


def promote(args: argparse.Namespace) -> int:
    from dpiqa.registry.registry import promote as promote_model

    client, params = _registry(args)
    decision = promote_model(client, args.name, params.register_, params.promote, dry_run=args.dry_run)
    print(decision.describe())
    return 0 if decision.promoted or (not decision.failures) else 1


def rollback(args: argparse.Namespace) -> int:
    from dpiqa.registry.registry import rollback as rollback_model

    client, params = _registry(args)
    print(rollback_model(client, args.name, params.register_))
    return 0


def import_weights(args: argparse.Namespace) -> int:
    from dpiqa.config import load_params
    from dpiqa.data.cards import card
    from dpiqa.registry.imports import import_checkpoint

    params = load_params(args.params)
    scale = card(args.dataset).mos_range
    if scale is None:
        raise DPIQAError(f"{args.dataset} has no fixed MOS scale; name the dataset the checkpoint was trained on "
                         "(--dataset koniq10k, clive, livefb, spaq)")
    result = import_checkpoint(args.kind, args.checkpoint, params, args.out or Path("models/imported") / args.kind,
                               dataset=args.dataset, mos_range=scale, prompts=args.prompts,
                               register=not args.no_register)
    print(dumps_json(result, indent=2))
    return 0


def servers(args: argparse.Namespace) -> int:
    from dpiqa.config import load_params
    from dpiqa.tracking import servers as team_servers

    team = load_params(args.params).team
    if args.action == "status":
        for name, running in team_servers.status(team).items():
            print(f"{name}: {'running' if running else 'stopped'}")
        return 0
    action = team_servers.start if args.action == "start" else team_servers.stop
    print("\n".join(action(team, args.services)))
    if args.action == "start" and "mlflow" in team_servers.wanted(args.services):
        print(f"export MLFLOW_TRACKING_URI={team_servers.mlflow_uri(team)}   # in every shell that runs the pipeline or dpiqa")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpiqa", description=__doc__)
    commands = parser.add_subparsers(required=True, dest="command")
    commands.add_parser("datasets", help="list the known datasets").set_defaults(func=list_datasets)

    scorer = commands.add_parser("score", help="score images (files or folders, recursive)")
    scorer.add_argument("paths", nargs="+")
    scorer.add_argument("--model", default=DEFAULT_MODEL, help=f"MLflow model URI or a model folder (default {DEFAULT_MODEL})")
    scorer.add_argument("--out", type=Path, help="write CSV or JSON (by the suffix); default: CSV on stdout")
    scorer.add_argument("--heatmaps", type=Path, metavar="DIR",
                        help="also write each image with its quality map overlaid to DIR/<name>.png (params `heatmaps`)")
    scorer.add_argument("--batch-size", type=int, help="default: params.yaml score.batch_size, or the model's own")
    scorer.add_argument("--engine", choices=["auto", "torch", "onnxruntime"], help="default: score.engine (auto)")
    scorer.add_argument("--precision", choices=["auto", "bf16", "fp32"], help="PyTorch engine; default: score.precision (auto)")
    scorer.add_argument("--params", type=Path, default=Path(PARAMS_FILE))
    scorer.set_defaults(func=score)

    server = commands.add_parser("serve", help="serve a registered model over HTTP (MLflow's scoring API)")
    server.add_argument("--model", default=DEFAULT_MODEL, help=f"MLflow model URI (default {DEFAULT_MODEL})")
    server.add_argument("--host", help="default: params.yaml serve.host (127.0.0.1)")
    server.add_argument("--port", type=int, help="default: params.yaml serve.port")
    server.add_argument("--params", type=Path, default=Path(PARAMS_FILE))
    server.set_defaults(func=serve)

    importer = commands.add_parser("import", help="import the authors' released teacher or student checkpoint "
                                   "(a .pth state dict) as a model folder, registered as the challenger")
    importer.add_argument("kind", choices=["teacher", "student"])
    importer.add_argument("checkpoint", type=Path, help="the .pth (or .safetensors) file, read with weights_only=True")
    importer.add_argument("--prompts", type=Path, help="teacher: the (K, d) prompt embeddings it was trained with")
    importer.add_argument("--dataset", default="koniq10k", help="the dataset it was trained on: its MOS scale (default koniq10k)")
    importer.add_argument("--out", type=Path, help="model folder to write (default models/imported/<kind>)")
    importer.add_argument("--no-register", action="store_true", help="write the folder only")
    importer.add_argument("--params", type=Path, default=Path(PARAMS_FILE), help="base.profile: the architecture (sd15)")
    importer.set_defaults(func=import_weights)

    team = commands.add_parser("server", help="a team's MLflow tracking server (PostgreSQL backend) and S3-compatible "
                               "store on this machine (workspace.yaml `team`)")
    team.add_argument("action", choices=["start", "stop", "status"])
    team.add_argument("services", nargs="*", metavar="SERVICE", help="postgres, s3, mlflow (default: all)")
    team.add_argument("--params", type=Path, default=Path(PARAMS_FILE))
    team.set_defaults(func=servers)

    for name, handler, text in (("promote", promote, "move `champion` to the challenger if it passes the gates"),
                                ("rollback", rollback, "restore the previous champion")):
        command = commands.add_parser(name, help=text)
        command.add_argument("name", help="registered model, e.g. dpiqa-student")
        command.add_argument("--params", type=Path, default=Path(PARAMS_FILE))
        if name == "promote":
            command.add_argument("--dry-run", action="store_true", help="check the gates, change nothing")
        command.set_defaults(func=handler)
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    status = {}
    run(lambda: status.setdefault("code", arguments.func(arguments)))
    sys.exit(status.get("code", 0))
