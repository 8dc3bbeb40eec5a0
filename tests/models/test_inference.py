import torch

from dpiqa.models.inference import run_over


def test_every_output_comes_back_whole_in_dataset_order_as_float32():
    dataset = [{"image": torch.full((3, 2, 2), float(i), dtype=torch.float64)} for i in range(5)]
    scores, maps = run_over(lambda images: (images.mean(dim=(1, 2, 3)), images[:, :1] * 2), dataset,
                            batch_size=2, num_workers=0, device="cpu")
    assert scores.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and scores.dtype == torch.float32
    assert maps.shape == (5, 1, 2, 2) and maps[4].eq(8).all()
