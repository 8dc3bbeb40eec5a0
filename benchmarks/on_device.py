"""Run a benchmark script on the lent GPU machine, whose Python lacks the pipeline's bookkeeping
packages (mlflow, great-expectations, dvc, ...): each absent package is stood in for by a module
that imports, so that `dpiqa` imports, but fails loudly the moment anything of it is called. A
benchmark that reaches MLflow or Great Expectations there stops with the package's name, so no
number comes from a stand-in. By hand, on the device machine:

    python3 benchmarks/on_device.py benchmarks/prior_ablation.py --dataset agiqa3k ...
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import runpy
import sys
import types

ABSENT_ON_DEVICE = ("mlflow", "great_expectations", "dvc", "sqlalchemy", "tenacity")


class _Absent(types.ModuleType):
    """A package that is not installed: attributes are classes (usable in `except` and
    annotations) that raise when instantiated; submodules are more of the same."""

    __path__: list[str] = []

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        package = self.__name__

        def refuse(*_args, **_kwargs):
            raise ModuleNotFoundError(f"{package}.{name} was called, but {package.split('.')[0]} is not installed here")

        return type(name, (Exception,), {"__new__": refuse})


class _AbsentFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in ABSENT_ON_DEVICE:  # reached only where the installed ones were not found
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Absent(spec.name)

    def exec_module(self, module):
        pass


if __name__ == "__main__":
    sys.meta_path.append(_AbsentFinder())  # last: a package that is installed is used
    script, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
