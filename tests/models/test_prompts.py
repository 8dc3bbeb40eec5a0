import torch

from dpiqa.models.profiles import prompt_embeddings
from dpiqa.models.prompts import (
    PromptCacheKey,
    build_offline_tokenizer,
    build_prompts,
    cached_prompt_embeddings,
)


def test_1485_prompts_quality_outermost_distortion_innermost():
    prompts = build_prompts()
    assert len(prompts) == 1485 == len(set(prompts))
    assert prompts[0] == "a photo of a animal with jpeg2000 compression artifacts, which is of bad quality"
    assert prompts[1] == "a photo of a animal with jpeg compression artifacts, which is of bad quality"
    assert prompts[33].startswith("a photo of a cityscape with jpeg2000")
    assert prompts[-1] == "a photo of a others with other realistic artifacts, which is of perfect quality"


def test_offline_tokenizer_covers_every_prompt_within_clips_context():
    prompts = build_prompts()
    tokenizer = build_offline_tokenizer(prompts)
    ids = tokenizer(prompts)["input_ids"]
    assert max(len(i) for i in ids) <= 77
    end = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert all(end not in row[1:-1] for row in ids)  # no unknown (= end) token inside a prompt
    assert tokenizer.decode(ids[0], skip_special_tokens=True).replace(" ", "") == prompts[0].replace(" ", "")


def test_tiny_embeddings_are_cached_once_per_encoder_and_pooling(tiny_profile, tmp_path):
    first = prompt_embeddings(tiny_profile.teacher, tmp_path, seed=0)
    assert first.shape == (1485, tiny_profile.teacher.unet["cross_attention_dim"])
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert torch.equal(prompt_embeddings(tiny_profile.teacher, tmp_path, seed=0), first)
    mean_pooled = tiny_profile.teacher.model_copy(update={"prompt_pooling": "mean_tokens"})
    second = prompt_embeddings(mean_pooled, tmp_path, seed=0)
    assert len(list(tmp_path.iterdir())) == 2 and not torch.allclose(first, second)


def test_a_cached_file_is_read_not_recomputed(tmp_path):
    key = PromptCacheKey("encoder", ("a", "b"), "projected")
    cached_prompt_embeddings(key, tmp_path, lambda: torch.ones(2, 3))

    def fail():
        raise AssertionError("recomputed")

    assert torch.equal(cached_prompt_embeddings(key, tmp_path, fail), torch.ones(2, 3))
