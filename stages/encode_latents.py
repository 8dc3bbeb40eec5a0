"""DVC stage `encode_latents`: the frozen VAE's posterior per train+val image, once."""

from dpiqa.config import load_params
from dpiqa.runtime import run
from dpiqa.train.pipeline import encode_latents

if __name__ == "__main__":
    run(lambda: encode_latents(load_params()))
