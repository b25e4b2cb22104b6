"""Fields over audio, video and volumes: every grid trains end to end from the config, writes its prediction in
its own format, and refuses what it cannot do in one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.data.audio import read_wav
from nfields.data.video import read_video
from nfields.fields.field import render, render_grid
from nfields.run.build import build_datamodule, build_module
from nfields.run.train import train

DOMAINS = {"audio": ("wav", (24, 1)), "video": ("mp4", (16, 24, 24, 3)), "volume": ("npy", (24, 24, 24, 1))}


def on_8_bit_levels(samples: torch.Tensor) -> bool:
    """True when every [-1, 1] sample is one of 256 levels (a render quantised to uint8 on its way to the WAV)."""
    levels = (samples.float() + 1) / 2 * 255
    return bool(torch.allclose(levels, levels.round(), atol=0.01))


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_a_domain_trains_from_its_default_and_writes_its_format(make_cfg, tmp_path: Path, domain: str) -> None:
    """debug=fast (data.size=24): validation PSNR rises over the run, and prediction.<ext> holds the render."""
    suffix, shape = DOMAINS[domain]
    run = tmp_path / domain
    train(make_cfg("debug=fast", "logger=none", f"data={domain}", "trainer.max_steps=60", run_dir=run))
    history = json.loads((run / "history.json").read_text())["val"]
    assert history[-1]["val/psnr"] > history[0]["val/psnr"] + 1.0, history
    assert (run / "reconstruction.png").exists() and (run / "progress.gif").exists()
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.ckpt"]  # one checkpoint, no last-v1.ckpt
    path = run / f"prediction.{suffix}"
    if suffix == "wav":
        samples, rate = read_wav(path)
        assert samples.shape == shape and rate == pytest.approx(24 / 0.5, abs=1)  # 24 samples over 0.5 s
        assert not on_8_bit_levels(samples)  # the float render's samples, not a uint8 picture's
    elif suffix == "mp4":
        frames, fps = read_video(path)
        assert frames.shape == shape and fps == pytest.approx(25)
    else:
        assert np.load(path).shape == shape
    metrics = json.loads((run / "metrics.json").read_text())
    assert ("test/ssim" in metrics) == (domain == "video")  # SSIM per frame; audio and volumes have none
    assert ("test/iou" in metrics) == (domain == "volume") and ("test/snr" in metrics) == (domain == "audio")
    if domain == "volume":  # occupancy: intersection over union at 0.5
        assert 0.0 <= metrics["test/iou"] <= 1.0


def test_iou_and_snr_are_what_their_formulas_say() -> None:
    from nfields.core.metrics import GridScore

    target = torch.tensor([[1.0], [1.0], [0.0], [0.0]])
    pred = torch.tensor([[0.9], [0.2], [0.7], [0.1]])  # occupied: {0} vs {0, 1}; predicted {0, 2}
    score = GridScore((4,), extra=("iou", "snr"))
    score.add_psnr("psnr", pred[:2], target[:2])  # in two slabs: the counts add up
    score.add_psnr("psnr", pred[2:], target[2:])
    out = score.result()
    assert out["iou"] == pytest.approx(1 / 3)  # intersection {0}, union {0, 1, 2}
    signal = float(((2 * target - 1) ** 2).sum())
    noise = float(((2 * pred - 1 - (2 * target - 1)) ** 2).sum())
    assert out["snr"] == pytest.approx(10 * np.log10(signal / noise))


def test_grid_renders_match_the_image_render() -> None:
    field = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    assert torch.equal(render_grid(field, (7, 5), chunk=4), render(field, 7, 5, chunk=6))
    field3 = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    whole = render_grid(field3, (4, 3, 5), chunk=7)
    assert whole.shape == (4, 3, 5, 1) and torch.equal(render_grid(field3, (4, 3, 5), chunk=2, rows=(1, 3)), whole[1:3])


def test_the_field_s_input_width_is_the_data_s(make_cfg) -> None:
    for domain, d in (("audio", 1), ("image", 2), ("volume", 3)):
        cfg = make_cfg("debug=fast", f"data={domain}", "encoding=fourier")
        module = build_module(cfg, build_datamodule(cfg))
        assert module.field.encoding.in_dim == d and module.field.encoding.B.shape[1] == d


@pytest.mark.parametrize(
    ("over", "message"),
    [
        (["data=audio", "field=gaussians"], "field=gaussians: is defined on 2-D coordinates, the data has 1"),
        (["data=volume", "+encoding.in_dim=2"], "encoding.in_dim=2: must be 3, the data's axes"),
        (["data=volume", "data.size=40"], "data.size=40: above the 32x32x32 cells of the volume"),
        (["data=audio", "data.offset=-1"], "data.offset=-1: the crop's start in seconds must be a number >= 0"),
        (["data=audio", "data.offset=0.6"], "data.offset=0.6: past the end of the generated chirp (0.500 s long"),
        (["data=video", "data.frames=40"], "data.frames=40 with data.stride=1: the generated clip has 16 frames"),
        (["data=video", "data.size=64"], "data.size=64 is larger than the frames of the generated clip (32x32)"),
    ],
)
def test_what_a_domain_cannot_do_is_one_line(make_cfg, over: list[str], message: str) -> None:
    sized = any(o.startswith("data.size=") for o in over)
    cfg = make_cfg(*over) if sized else make_cfg("debug=fast", "data.size=null", *over)
    with pytest.raises((ConfigError, ValueError), match=re.escape(message)) as e:
        build_module(cfg, build_datamodule(cfg))
    assert "\n" not in str(e.value)


def test_video_tasks_default_to_their_usual_axes(make_cfg) -> None:
    """Interpolation of a video is frame-rate up-conversion (time); super-resolution is spatial, per frame."""
    assert build_datamodule(make_cfg("debug=fast", "data=video", "task=interpolate")).task.axes == [0]
    assert build_datamodule(make_cfg("debug=fast", "data=video", "task=superres")).task.axes == [1, 2]
    typed = build_datamodule(make_cfg("debug=fast", "data=video", "task=interpolate", "task.axes=[0,1,2]"))
    assert typed.task.axes == [0, 1, 2]  # what the user types wins


def test_a_bug_in_nfields_keeps_its_traceback_while_a_library_s_value_error_is_one_line() -> None:
    """exits.building: a ValueError raised in nfields' own code is a bug, not a user's mistake."""
    import torch.optim

    from nfields.core.coords import check_shape
    from nfields.core.errors import UserError
    from nfields.run.exits import building

    with pytest.raises(ValueError, match="a grid shape is one or more positive sizes") as e, building():
        check_shape(())  # a caller's bug inside nfields: raised as it is, with its traceback
    assert not isinstance(e.value, UserError)
    with pytest.raises(UserError, match="Invalid learning rate"), building():
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=-1)


def test_a_checkpoint_alone_renders_audio_at_another_rate_and_video_at_another_fps(make_cfg, tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_script", Path(__file__).parents[1] / "scripts/render.py")
    render_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_script)
    for domain in ("audio", "video"):
        train(
            make_cfg("debug=fast", "logger=none", f"data={domain}", "trainer.max_steps=10", run_dir=tmp_path / domain)
        )
    ckpt = tmp_path / "audio/checkpoints/last.ckpt"
    samples, rate = read_wav(render_script.main([str(ckpt), "--sample-rate", "96"]))  # the clip: 24 at 48 Hz
    assert samples.shape == (48, 1) and rate == 96 and samples.abs().max() <= 1 and not on_8_bit_levels(samples)
    frames, fps = read_video(render_script.main([str(tmp_path / "video/checkpoints/last.ckpt"), "--fps", "50"]))
    assert frames.shape == (32, 24, 24, 3) and fps == pytest.approx(50)  # 16 frames at 25 fps, twice as dense


def test_a_volume_s_surface_is_where_its_occupancy_changes(tmp_path: Path) -> None:
    from nfields.core.mesh_io import surface, write_ply
    from nfields.data.volume import sphere_volume

    ball = sphere_volume(32)[..., 0].numpy().astype(np.float32)  # a ball of radius 0.4, a cavity of 0.2 at x = 0.6
    verts, faces = surface(ball, level=0.5)
    outer = np.linalg.norm(verts - 0.5, axis=1)
    inner = np.linalg.norm(verts - [0.6, 0.5, 0.5], axis=1)  # (x, y, z): the cavity is off-centre along x
    near = np.minimum(np.abs(outer - 0.4), np.abs(inner - 0.2))
    assert near.max() < 1.5 / 32 and faces.max() < len(verts)  # on one of the two spheres, within a cell or so
    path = write_ply(tmp_path / "ball.ply", verts, faces)
    header = path.read_bytes().split(b"end_header\n")[0].decode()
    assert f"element vertex {len(verts)}" in header and f"element face {len(faces)}" in header
    body = len(path.read_bytes()) - len(header) - len("end_header\n")
    assert body == 12 * len(verts) + 13 * len(faces)  # float32 x 3; uchar + int32 x 3
    with pytest.raises(ValueError, match="does not cross level 0.5"):
        surface(np.zeros((4, 4, 4), np.float32), level=0.5)


def test_an_occupancy_prediction_is_written_with_its_surface(tmp_path: Path) -> None:
    """prediction.npy always; prediction.obj (what W&B's Object3D shows) when the render crosses 0.5."""
    from nfields.data.volume import VolumeDataModule

    dm = VolumeDataModule(size=16)
    dm.setup()
    ball = dm.signal.float() / 255  # (16, 16, 16, 1) occupancy in [0, 1]
    path = dm.write(ball, tmp_path / "prediction")
    lines = path.read_text().splitlines()
    assert path.suffix == ".obj" and np.load(tmp_path / "prediction.npy").shape == (16, 16, 16, 1)
    assert sum(x.startswith("v ") for x in lines) > 0 and sum(x.startswith("f ") for x in lines) > 0
    assert dm.write(torch.full_like(ball, 0.2), tmp_path / "flat").suffix == ".npy"  # no surface: the array alone
