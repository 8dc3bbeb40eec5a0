"""Records which params each DVC stage reads, for tests/e2e: on PYTHONPATH with
DPIQA_PARAMS_TRACE=<folder>, every `python stages/<name>.py [item]` writes
<folder>/<name>[@item].json, the sorted dotted paths of the params it read.

`load_params` hands the stage a proxy over the real Params: reading a leaf records its path;
sections and the profile dict come back as proxies, so a section passed into the library is
traced there too; pydantic's own API on a section (model_dump, ...) counts as reading all of it.
`Params.logged` is left untraced: what a stage logs to MLflow is not an input of its outputs.
"""

from __future__ import annotations

import atexit
import inspect
import json
import os
import sys
from pathlib import Path
from types import MethodType

FOLDER = os.environ.get("DPIQA_PARAMS_TRACE")
UNTRACED_METHODS = {"logged"}


def _wrap(value, path: str, reads: set[str]):
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return TracedSection(value, path, reads)
    if isinstance(value, dict):
        return TracedDict(value, path, reads)
    reads.add(path)
    return value


class TracedSection:
    def __init__(self, target, path: str, reads: set[str]):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_path", path)
        object.__setattr__(self, "_reads", reads)

    def _child(self, name: str) -> str:
        field = type(self._target).model_fields.get(name)
        key = field.alias if field is not None and field.alias else name
        return f"{self._path}.{key}" if self._path else key

    def __getattr__(self, name: str):
        target, attribute = self._target, inspect.getattr_static(type(self._target), name, None)
        if isinstance(attribute, property):
            return attribute.fget(self)
        if inspect.isfunction(attribute) and name not in UNTRACED_METHODS and not name.startswith("model_"):
            return MethodType(attribute, self)  # the section's own methods read through the proxy
        if name.startswith("model_") or name in UNTRACED_METHODS:
            if name != "model_fields" and name not in UNTRACED_METHODS:
                self._reads.add(self._path or "<all>")
            return getattr(target, name)
        return _wrap(getattr(target, name), self._child(name), self._reads)

    def __repr__(self) -> str:
        return f"TracedSection({self._path!r})"


class TracedDict(dict):
    """A dict subclass, so code that checks for a Mapping still accepts it."""

    def __init__(self, target: dict, path: str, reads: set[str]):
        super().__init__(target)
        self._path, self._reads = path, reads

    def __getitem__(self, key):
        return _wrap(super().__getitem__(key), f"{self._path}.{key}", self._reads)

    def get(self, key, default=None):
        return self[key] if key in self else default

    def _whole(self):
        self._reads.add(self._path)

    def items(self):
        self._whole()
        return super().items()

    def values(self):
        self._whole()
        return super().values()

    def __iter__(self):
        self._whole()
        return super().__iter__()


def _stage_name() -> str | None:
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is None or script.parent.name != "stages":
        return None
    return script.stem + (f"@{sys.argv[1]}" if len(sys.argv) > 1 else "")


def _install() -> None:
    stage = _stage_name()
    if not FOLDER or stage is None:
        return
    import dpiqa.config as config

    reads: set[str] = set()
    original = config.load_params

    def traced_load_params(*args, **kwargs):
        return TracedSection(original(*args, **kwargs), "", reads)

    config.load_params = traced_load_params
    atexit.register(lambda: (Path(FOLDER) / f"{stage}.json").write_text(json.dumps(sorted(reads), indent=1)))


_install()
