"""DP-IQA: blind image quality assessment with a diffusion prior, as a reproducible pipeline."""

import os

# Nothing this package does may phone home: telemetry is off unless a user opts back in.
for _variable, _value in {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_variable, _value)

__version__ = "0.1.0"
