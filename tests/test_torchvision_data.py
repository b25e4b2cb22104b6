"""mnist, cifar10 and celeba read real files in torchvision's on-disk formats (written here, tiny).

CIFAR-10 and CelebA verify the MD5 sums of the official files; these tests patch that check
out, so they test nfields' reading of the formats, not torchvision's integrity checks.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.run.build import build_datamodule
from nfields.run.train import train

pytest.importorskip("torchvision")

SPLITS = ["data.n_val=2", "data.n_test=3", "data.batch_size=2", "data.eval_batch_size=4", "logger=none"]


def write_idx(path: Path, array: np.ndarray) -> None:
    """The IDX format of MNIST: magic (0, 0, dtype 0x08 = uint8, ndim), big-endian dims, raw bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(head + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, n_train: int = 12, n_test: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = {"train": rng.integers(0, 256, (n_train, 28, 28)), "t10k": rng.integers(0, 256, (n_test, 28, 28))}
    for prefix, imgs in images.items():
        write_idx(root / "MNIST/raw" / f"{prefix}-images-idx3-ubyte", imgs)
        write_idx(root / "MNIST/raw" / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, len(imgs)))
    return images["train"], images["t10k"]


def test_mnist_reads_torchvision_raw_files(make_cfg, tmp_path: Path) -> None:
    train_imgs, test_imgs = fake_mnist(tmp_path)
    dm = build_datamodule(make_cfg("data=mnist", f"data.root={tmp_path}", *SPLITS))
    assert dm.image_shape == (28, 28) and dm.channels == 1
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 10, "val": 2, "test": 3}
    first = dm.splits["train"][0][1]  # (28, 28, 1) float in [0, 1]
    assert torch.allclose(first[..., 0], torch.from_numpy(train_imgs[0] / 255.0).float())
    assert torch.allclose(dm.splits["test"][2][1][..., 0], torch.from_numpy(test_imgs[2] / 255.0).float())


def test_mnist_trains_end_to_end(make_cfg, tmp_path: Path) -> None:
    fake_mnist(tmp_path / "data")
    cfg = make_cfg(
        "debug=fast", "data=mnist", f"data.root={tmp_path / 'data'}", *SPLITS, "cond=film", "model.latent_dim=4"
    )
    train(cfg)
    assert (Path(cfg.run_dir) / "metrics.json").exists()


@pytest.fixture
def no_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.celeba as celeba
    import torchvision.datasets.cifar as cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(celeba, "check_integrity", lambda *a, **k: True)


def test_cifar10_reads_the_python_batches(make_cfg, tmp_path: Path, no_md5: None) -> None:
    rng, folder = np.random.default_rng(1), tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (2, 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G plane, B plane
        batches[name] = data
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": [0, 1]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    dm = build_datamodule(make_cfg("data=cifar10", f"data.root={tmp_path}", *SPLITS))
    assert dm.image_shape == (32, 32) and dm.channels == 3 and len(dm.splits["train"]) == 10 - 2
    expect = torch.from_numpy(batches["data_batch_1"][0].reshape(3, 32, 32).transpose(1, 2, 0) / 255.0).float()
    assert torch.allclose(dm.splits["train"][0][1], expect)  # (H, W, C), channels last


def write_list(path: Path, rows: list[str], header: str | None = None) -> None:
    lines = ([str(len(rows)), header] if header is not None else []) + rows
    path.write_text("\n".join(lines) + "\n")


def test_celeba_reads_aligned_images_and_lists(make_cfg, tmp_path: Path, no_md5: None) -> None:
    rng, folder = np.random.default_rng(2), tmp_path / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names, parts = [f"{i + 1:06d}.jpg" for i in range(12)], [0] * 8 + [1] * 1 + [2] * 3  # train / valid / test
    for name in names:
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(folder / "img_align_celeba" / name)
    write_list(folder / "list_eval_partition.txt", [f"{n} {p}" for n, p in zip(names, parts, strict=True)])
    write_list(folder / "identity_CelebA.txt", [f"{n} 1" for n in names])
    write_list(folder / "list_bbox_celeba.txt", [f"{n} 0 0 40 48" for n in names], "image_id x_1 y_1 width height")
    marks = "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x rightmouth_y"
    write_list(folder / "list_landmarks_align_celeba.txt", [f"{n}" + " 1" * 10 for n in names], marks)
    write_list(folder / "list_attr_celeba.txt", [f"{n} 1 -1" for n in names], "Smiling Young")
    dm = build_datamodule(make_cfg("data=celeba", f"data.root={tmp_path}", "data.size=16", *SPLITS))
    assert {k: len(v) for k, v in dm.splits.items()} == {"train": 6, "val": 2, "test": 3}
    img = dm.splits["test"][0][1]
    assert img.shape == (16, 16, 3) and 0 <= img.min() and img.max() <= 1 and img.std() > 0.05
