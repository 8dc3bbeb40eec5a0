"""DP-IQA's quality prompts, embedded once by a frozen CLIP text model and cached as a file."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer

log = logging.getLogger(__name__)

# CLIP's byte-pair encoding marks the end of a word with this suffix.
WORD_END = "</w>"
START, END = "<|startoftext|>", "<|endoftext|>"
CLIP_CONTEXT_LENGTH = 77
EMBED_BATCH = 64


@cache
def prompt_words() -> dict:
    text = resources.files("dpiqa.models").joinpath("prompts.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def build_prompts() -> list[str]:
    """All K prompts, quality outermost and distortion innermost (the authors' order)."""
    words = prompt_words()
    return [
        words["template"].format(scene=scene, distortion=distortion, quality=quality)
        for quality in words["quality"]
        for scene in words["scene"]
        for distortion in words["distortion"]
    ]


def build_offline_tokenizer(prompts: list[str]) -> CLIPTokenizer:
    """A real CLIPTokenizer whose vocabulary and merges are built from the prompts' own words.

    Each word becomes one token through a chain of merges (c1 c2, c1c2 c3, ...), so the tiny
    profile tokenizes prompts the way CLIP does, without downloading CLIP's vocabulary.
    """
    splitter = CLIPTokenizer().backend_tokenizer  # CLIP's own normaliser and pre-tokeniser
    words = sorted(
        {
            word
            for prompt in prompts
            for word, _ in splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(prompt))
        }
    )
    vocab: dict[str, int] = {}
    merges: list[tuple[str, str]] = []
    for token in (START, END):
        vocab.setdefault(token, len(vocab))
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + WORD_END]
        for piece in pieces:
            vocab.setdefault(piece, len(vocab))
        merged = pieces[0]
        for piece in pieces[1:]:
            merges.append((merged, piece))
            merged += piece
            vocab.setdefault(merged, len(vocab))
    return CLIPTokenizer(
        vocab=vocab, merges=list(dict.fromkeys(merges)), model_max_length=CLIP_CONTEXT_LENGTH
    )


def tiny_text_encoder(tokenizer: CLIPTokenizer, clip: dict, seed: int) -> CLIPTextModelWithProjection:
    """A randomly initialised CLIP text model, seeded, sized by the profile's `clip` config."""
    config = CLIPTextConfig(
        **{**clip, "vocab_size": len(tokenizer)},
        max_position_embeddings=CLIP_CONTEXT_LENGTH,
        bos_token_id=tokenizer.convert_tokens_to_ids(START),
        eos_token_id=tokenizer.convert_tokens_to_ids(END),
        pad_token_id=tokenizer.convert_tokens_to_ids(END),
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CLIPTextModelWithProjection(config).eval()


@torch.no_grad()
def embed_prompts(
    prompts: list[str],
    tokenizer: CLIPTokenizer,
    text_model: CLIPTextModelWithProjection,
    pooling: str,
) -> torch.Tensor:
    """(K, d): CLIP's projected EOS features, or the mean of the token embeddings."""
    chunks = []
    for start in range(0, len(prompts), EMBED_BATCH):
        tokens = tokenizer(
            prompts[start : start + EMBED_BATCH],
            padding="max_length",
            max_length=CLIP_CONTEXT_LENGTH,
            truncation=True,
            return_tensors="pt",
        )
        output = text_model(**tokens)
        if pooling == "projected":
            chunks.append(output.text_embeds)
        else:
            mask = tokens["attention_mask"].unsqueeze(-1).to(output.last_hidden_state.dtype)
            chunks.append((output.last_hidden_state * mask).sum(1) / mask.sum(1))
    return torch.cat(chunks).float()


@dataclass(frozen=True)
class PromptCacheKey:
    """What the embeddings depend on: the encoder, the prompt list, and the pooling."""

    encoder: str
    prompts: tuple[str, ...]
    pooling: str

    def file_name(self) -> str:
        payload = json.dumps([self.encoder, list(self.prompts), self.pooling]).encode()
        return f"prompts-{hashlib.sha256(payload).hexdigest()[:16]}.safetensors"


def cached_prompt_embeddings(key: PromptCacheKey, cache_dir: Path, compute) -> torch.Tensor:
    """Load the (K, d) tensor for `key` from `cache_dir`, computing and saving it the first time."""
    path = cache_dir / key.file_name()
    if path.exists():
        return load_file(path)["embeddings"]
    embeddings = compute()
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    save_file({"embeddings": embeddings.contiguous()}, partial, metadata={"encoder": key.encoder, "pooling": key.pooling})
    partial.replace(path)
    log.info("prompt embeddings %s cached at %s", tuple(embeddings.shape), path)
    return embeddings
