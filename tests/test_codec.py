"""The codec: quantisers and coders round-trip, and compress -> decompress reproduces the reported numbers."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from scipy.io import wavfile

from nfields.analysis.codec import entropy
from nfields.analysis.codec.codec import decode_field, encode_field, field_config, rebuild
from nfields.analysis.codec.qat import fake_quantise
from nfields.analysis.codec.quantise import dequantise, quantise
from nfields.core.errors import UserError
from nfields.core.metrics import psnr
from tests.codec_run import fit_audio_run, fit_run, load_script, smooth_image


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit_run(tmp_path_factory.mktemp("codec"))


@pytest.mark.parametrize("coder", entropy.CODERS)
@pytest.mark.parametrize("bits", [3, 8, 12])
def test_every_coder_round_trips(coder: str, bits: int) -> None:
    rng = np.random.default_rng(bits)
    sym = np.clip(np.rint(rng.laplace(1 << (bits - 1), 1 << max(0, bits - 4), 700)), 0, (1 << bits) - 1)
    params, data = entropy.encode_all(sym.astype(np.int64), bits)[coder]
    assert np.array_equal(entropy.decode(coder, params, data, sym.size, bits), sym)


def test_a_constant_stream_costs_no_rans_bytes() -> None:
    sym = np.full(500, 7, dtype=np.int64)
    params, data = entropy.encode_all(sym, 8)["ans-laplace"]
    assert data == b"" and np.array_equal(entropy.decode("ans-laplace", params, data, 500, 8), sym)


def test_rans_beats_raw_on_a_peaked_stream() -> None:
    sym = np.clip(np.rint(np.random.default_rng(0).laplace(128, 3, 5000)), 0, 255).astype(np.int64)
    sizes = {c: len(d) for c, (_, d) in entropy.encode_all(sym, 8).items()}
    assert sizes["ans-laplace"] < 0.6 * sizes["raw"]  # entropy ~ 4.3 bits of 8


def test_fp16_quantiser_is_within_half_precision_of_the_weights() -> None:
    w = torch.randn(40, 30) * 0.1
    q = quantise(w, 16)
    back = dequantise(q.meta, 16, q.streams, w)
    assert back.dtype == w.dtype and back.shape == w.shape
    assert torch.allclose(back, w, rtol=2**-11, atol=2**-24)  # fp16: 11 significant bits
    assert not torch.equal(back, w)  # it did quantise


def test_uniform_quantiser_error_is_half_a_step_inside_its_range() -> None:
    w = torch.randn(3000)
    q = quantise(w, 6)
    lo, hi = q.meta["lo"], q.meta["hi"]
    back = dequantise(q.meta, 6, q.streams, w)
    inside = (w >= lo) & (w <= hi)
    assert (back - w)[inside].abs().max() <= (hi - lo) / 63 / 2 + 1e-6
    assert q.streams[0].max() < 64 and len(torch.unique(back)) <= 64


def test_complex_weights_round_trip() -> None:
    w = torch.randn(5, 4, dtype=torch.complex64)
    q = quantise(w, 16)
    back = dequantise(q.meta, 16, q.streams, w)
    assert back.dtype == torch.complex64 and torch.allclose(back, w, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("bits", [8, 16])
def test_round_trip_reproduces_the_reported_psnr_and_bpp(run_dir: Path, tmp_path: Path, bits: int) -> None:
    nfc = tmp_path / "f.nfc"
    report = load_script("compress").main([str(run_dir), "--out", str(nfc), "--bits", str(bits)])
    assert report["bpp"] == 8 * nfc.stat().st_size / (24 * 24)
    assert report["bpp_coin"] == 16 * report["parameters"] / (24 * 24)
    png = load_script("decompress").main([str(nfc), "--out", str(tmp_path / "d.png")])
    decoded = torch.from_numpy(iio.imread(png)).float() / 255
    target = torch.from_numpy(smooth_image(24, 24)).float() / 255
    assert abs(psnr(decoded, target) - report["psnr"]) < 0.01
    assert report["psnr"] > 20  # the field learned the image, so the PSNR is not a trivial one
    if bits == 16:
        assert abs(report["psnr"] - report["psnr_float"]) < 0.05  # fp16 costs (next to) nothing, as COIN found


def test_fewer_bits_make_a_smaller_file_and_lower_psnr(run_dir: Path, tmp_path: Path) -> None:
    script = load_script("compress")
    small = script.main([str(run_dir), "--out", str(tmp_path / "a.nfc"), "--bits", "3"])
    large = script.main([str(run_dir), "--out", str(tmp_path / "b.nfc"), "--bits", "10"])
    assert small["bytes"] < large["bytes"] and small["psnr"] < large["psnr"]
    assert set(large["coder_bytes"]) == {"raw", "zlib", "lzma", "ans"}
    assert large["bytes"] - large["header_bytes"] <= min(large["coder_bytes"].values())  # the smallest per stream


def test_decompress_renders_any_size(run_dir: Path, tmp_path: Path) -> None:
    nfc = tmp_path / "f.nfc"
    load_script("compress").main([str(run_dir), "--out", str(nfc)])
    script = load_script("decompress")
    wide = script.main([str(nfc), "--out", str(tmp_path / "a.png"), "--size", "30x45"])
    assert iio.imread(wide).shape == (30, 45, 3)
    assert iio.imread(script.main([str(nfc), "--out", str(tmp_path / "b.png"), "--size", "48"])).shape[:2] == (48, 48)


def test_compress_refuses_a_bad_extension(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        load_script("compress").main([str(run_dir), "--out", str(tmp_path / "f.bin")])
    assert not (tmp_path / "f.bin").exists()


def test_an_audio_field_round_trips_to_a_wav(tmp_path: Path) -> None:
    run = fit_audio_run(tmp_path)
    nfc = tmp_path / "a.nfc"
    report = load_script("compress").main([str(run), "--out", str(nfc), "--bits", "16"])
    assert report["pixels"] == 24  # samples: bpp is per sample for audio
    script = load_script("decompress")
    rate, samples = wavfile.read(script.main([str(nfc), "--out", str(tmp_path / "a.wav"), "--size", "96"]))
    assert samples.shape[0] == 96
    with pytest.raises(UserError, match="written as .wav"):
        script.main([str(nfc), "--out", str(tmp_path / "a.png")])
    assert not (tmp_path / "a.png").exists()


def test_fake_quantiser_forwards_the_encoders_values_and_passes_gradients() -> None:
    w = (torch.randn(30, 20) * 0.3).requires_grad_()
    for bits in (5, 16):
        q = quantise(w, bits)
        out = fake_quantise(w, bits)
        assert torch.allclose(out, dequantise(q.meta, bits, q.streams, w.detach()), atol=1e-6)
        (grad,) = torch.autograd.grad((out * 3).sum(), w)
        assert torch.equal(grad, torch.full_like(w, 3.0))  # straight through


def test_qat_raises_the_psnr_at_few_bits(run_dir: Path, tmp_path: Path) -> None:
    script = load_script("compress")
    ptq = script.main([str(run_dir), "--out", str(tmp_path / "a.nfc"), "--bits", "4"])
    qat = script.main([str(run_dir), "--out", str(tmp_path / "b.nfc"), "--bits", "4", "--qat-steps", "30"])
    assert qat["psnr"] > ptq["psnr"] + 0.5 and qat["qat_steps"] == 30
    assert abs(qat["psnr_float"] - ptq["psnr_float"]) < 1e-6  # both report the trained weights' PSNR beside


@pytest.mark.parametrize(
    "overrides",
    [["network=wire"], ["field=gaussians", "field.n_gaussians=50"], ["encoding=hashgrid"], ["encoding=fourier"]],
    ids=["wire", "gaussians", "hashgrid", "fourier"],
)
def test_every_representation_round_trips(make_cfg, overrides: list[str], one_thread) -> None:
    """Complex weights, buffers rebuilt from the config and large tables all come back from the bytes."""
    cfg = make_cfg("debug=fast", *overrides)
    config = OmegaConf.to_container(cfg, resolve=True)
    field = rebuild(field_config(config), (6, 5, 3))
    enc = encode_field(field, config, (6, 5, 3), 16, scheme="uniform")  # fp16 for every tensor, the Gaussians' too
    decoded, header = decode_field(enc.data, "memory")
    assert header["shape"] == [6, 5, 3]
    want, got = field.state_dict(), decoded.state_dict()
    assert want.keys() == got.keys()
    for name, t in want.items():
        assert got[name].dtype == t.dtype and torch.allclose(got[name], t, rtol=2**-10, atol=1e-7), name
    coords = torch.rand(7, 2)
    with torch.no_grad():
        assert torch.allclose(decoded(coords), field(coords), atol=0.05)
