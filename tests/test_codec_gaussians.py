"""2-D Gaussians as GaussianImage codes them: fp16 positions, 6-bit Cholesky factors, residual-VQ colours; the
file round-trips through decompress.py to the PSNR compress.py reports."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from nfields.analysis.codec.codec import decode_field
from nfields.analysis.codec.container import DEFLATE, PREFIX
from nfields.analysis.codec.qat import fake_quantise
from nfields.analysis.codec.quantise import dequantise, quantise
from nfields.analysis.codec.vq import kmeans, rvq, rvq_values
from nfields.core.media import as_float
from nfields.core.metrics import psnr
from nfields.run.compose import compose_run_config
from nfields.run.train import train
from tests.codec_run import load_script, smooth_image

H, W, N = 20, 24, 300  # a small image (fitted whole), 300 Gaussians


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gaussians")
    Image.fromarray(smooth_image(H, W)).save(folder / "target.png")
    overrides = ["debug=fast", "logger=none", "field=gaussians", f"field.n_gaussians={N}", "data.size=null"]
    overrides += ["data.crop=null"]
    overrides += [f"data.image={folder / 'target.png'}", "trainer.max_steps=40", "~callbacks.progress_gif"]
    train(compose_run_config([*overrides, "~callbacks.panels"], folder / "run"))
    GlobalHydra.instance().clear()
    return folder / "run"


def header_of(path: Path) -> dict:
    data = path.read_bytes()
    n = PREFIX.unpack_from(data)[2]
    return json.loads(zlib.decompress(data[PREFIX.size : PREFIX.size + n], DEFLATE))


def test_the_file_round_trips_to_the_reported_psnr(run: Path, tmp_path: Path) -> None:
    result = load_script("compress").main([str(run), "--out", str(tmp_path / "g.nfc")])
    assert result["scheme"] == "auto" and result["bpp"] == 8 * (tmp_path / "g.nfc").stat().st_size / (H * W)
    png = load_script("decompress").main([str(tmp_path / "g.nfc"), "--out", str(tmp_path / "g.png")])
    target = as_float(torch.from_numpy(smooth_image(H, W)))
    assert psnr(as_float(torch.from_numpy(iio.imread(png))), target) == pytest.approx(result["psnr"], abs=0.01)
    # xy, cholesky, colour (bound is rebuilt from the config): fp16, 6-bit uniform, 2 x 8 residual VQ
    kinds = [t[0] if t else 0 for t in header_of(tmp_path / "g.nfc")["t"]]
    assert kinds == [["f"], ["u", *kinds[1][1:3], 6], ["v", 2, 8], 0]


def test_decoded_attributes_are_what_gaussianimage_stores(run: Path, tmp_path: Path) -> None:
    """Positions to fp16, each Cholesky factor on 64 levels, at most 8 x 8 colours; against one uniform 8-bit
    quantiser per tensor (--scheme uniform) the positions cost more bytes and the Cholesky factors and the colours
    (6 bits a Gaussian and two fp16 codebooks, for 24 bits) fewer."""
    compress = load_script("compress")
    compress.main([str(run), "--out", str(tmp_path / "g.nfc")])
    compress.main([str(run), "--out", str(tmp_path / "u.nfc"), "--scheme", "uniform"])
    field, _ = decode_field((tmp_path / "g.nfc").read_bytes(), "g.nfc")
    trained = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    xy = next(v for k, v in trained.items() if k.endswith("xy"))
    assert torch.equal(field.xy, xy.half().float())
    assert len(torch.unique(field.cholesky)) <= 64 and len(torch.unique(field.colour, dim=0)) <= 64
    ours, uniform = (
        [sum(s[1] for s in t[1]) for t in header_of(tmp_path / f"{f}.nfc")["t"][:3]] for f in ("g", "u")
    )  # payload bytes of xy, cholesky, colour
    assert ours[0] > uniform[0] and ours[1] < uniform[1] and ours[2] < uniform[2] / 2


def test_residual_vq_lowers_the_error_stage_by_stage() -> None:
    x = np.random.default_rng(0).random((300, 3))
    errors = [np.square(rvq_values(*rvq(x, s, 8)) - x).mean() for s in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]
    assert np.array_equal(kmeans(x, 8), kmeans(x, 8))  # seeded: the encoder is deterministic
    books, idx = rvq(x[:5], 2, 8)  # fewer rows than codewords: still 8 codewords a stage
    assert books.shape == (2, 8, 3) and idx.max() < 8


def test_the_qat_quantiser_forwards_the_files_values() -> None:
    colour = torch.rand(50, 3, requires_grad=True)
    spec = ("rvq", 2, 8)
    q = quantise(colour.detach(), 8, "colour", spec)
    out = fake_quantise(colour, 8, spec)
    assert torch.allclose(out, dequantise(q.meta, 8, q.streams, colour.detach()), atol=1e-6)
    out.sum().backward()
    assert torch.equal(colour.grad, torch.ones_like(colour))  # straight through
