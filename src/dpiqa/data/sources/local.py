"""Datasets the user fetched by hand: find them, copy them in, and locate their label files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dpiqa.data.cards import DatasetCard
from dpiqa.data.download import extract, is_archive
from dpiqa.errors import DPIQAError


class DatasetNotFoundError(DPIQAError, FileNotFoundError):
    """A manual dataset with no path set, or one that does not exist."""


def environment_variable(key: str) -> str:
    return f"DPIQA_{key.upper()}_PATH"


def resolve_user_path(card: DatasetCard, configured: str | None) -> Path:
    """The archive or folder the user pointed at, or a message saying where to get it."""
    variable = environment_variable(card.key)
    raw = configured or os.environ.get(variable)
    how_to_get_it = f"Where to get it: {card.homepage}\n{card.instructions}" if card.homepage else card.instructions
    if not raw:
        raise DatasetNotFoundError(
            f"{card.name} is not available: set data.sources.{card.key}.path in params.yaml "
            f"or the environment variable {variable}.\n{how_to_get_it}"
        )
    path = Path(raw).expanduser()
    if not path.exists():
        origin = f"data.sources.{card.key}.path" if configured else variable
        raise DatasetNotFoundError(f"{card.name}: {path} (from {origin}) does not exist.\n{how_to_get_it}")
    return path


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def bring_in(path: Path, staging: Path) -> None:
    """Put an archive's contents or a folder's files (hard-linked where possible) in `staging`."""
    if is_archive(path):
        extract(path, staging)
    elif path.is_dir():
        shutil.copytree(path, staging, copy_function=_link_or_copy, dirs_exist_ok=True)
    else:
        raise DatasetNotFoundError(f"{path} is neither a folder nor a zip/tar archive")


def find_one(root: Path, name: str, what: str) -> Path:
    """The single file called `name` anywhere below `root` (archives nest folders differently)."""
    matches = sorted(p for p in root.rglob(name) if p.is_file() and "__MACOSX" not in p.parts)
    if not matches:
        raise DatasetNotFoundError(f"{what}: no {name!r} found under {root}")
    if len(matches) > 1:
        listed = ", ".join(str(m.relative_to(root)) for m in matches)
        raise DatasetNotFoundError(f"{what}: several {name!r} under {root}: {listed}")
    return matches[0]


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
