"""Lightning's MLflow logger for the training stages, apart from runs.py: a stage that trains nothing
(register, report, seed on the pipeline's own split, pretrain_prior without a prior) opens its MLflow
run without importing Lightning (tests/test_stage_imports.py)."""

from __future__ import annotations

from lightning.pytorch.loggers import MLFlowLogger

from dpiqa.tracking.runs import retry_when_locked


class RetryingMLFlowLogger(MLFlowLogger):
    """Lightning's MLflow logger, riding out a locked database instead of killing training."""

    def __init__(self, *args, patience_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.patience_s = patience_s

    def log_metrics(self, metrics, step=None) -> None:
        retry_when_locked(lambda: super(RetryingMLFlowLogger, self).log_metrics(metrics, step), self.patience_s)

    def log_hyperparams(self, params) -> None:
        retry_when_locked(lambda: super(RetryingMLFlowLogger, self).log_hyperparams(params), self.patience_s)

    def finalize(self, status: str = "success") -> None:
        retry_when_locked(lambda: super(RetryingMLFlowLogger, self).finalize(status), self.patience_s)
