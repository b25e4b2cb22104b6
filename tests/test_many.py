"""model=many: stacked members compute, train and score exactly as the fields alone; one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nfields.core.errors import ConfigError
from nfields.fields.stack import FieldStack
from nfields.run.build import build_datamodule, build_field, build_module, load_checkpoint
from nfields.run.train import train
from tests.conftest import ROOT, run_train

SIZE = 16


def write_images(folder: Path, n: int = 3) -> Path:
    """n smooth-plus-noise RGB images of SIZE^2 (each different), as 00.png, 01.png, ..."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for i in range(n):
        base = np.stack([np.sin(6 * xx * (i + 1)), np.cos(5 * yy + i), xx * yy], -1) * 0.4 + 0.5
        img = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
        Image.fromarray((img * 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    return folder


FAST = ["debug=fast", "data.size=null", "trainer.max_steps=20", "logger=csv", "trainer.log_every_n_steps=1"]
FAST += ["log.val_every_n_steps=10", "log.gif_every_n_steps=10", "encoding.n_features=16"]


@pytest.mark.parametrize(
    "over",
    [
        ["encoding=fourier"],
        ["encoding=hashgrid", "encoding.n_levels=2", "encoding.log2_hashmap_size=8"],
        ["encoding=grid", "network=linear"],
        ["encoding=none", "network=siren"],
        ["cond=concat"],  # a field with a code of its own (one image): the split first layer and skip, vmapped
        ["encoding=none", "network=wire", "cond=concat", "latent=hybrid", "latent.grid_size=2"],
    ],
)
def test_a_stack_computes_and_differentiates_as_each_field_alone(make_cfg, over: list[str]) -> None:
    cfg = make_cfg("debug=fast", *over)
    fields = []
    for seed in range(3):
        torch.manual_seed(seed)
        fields.append(build_field(cfg, out_dim=3))
    stack = FieldStack(fields)
    x = torch.rand(40, 2)
    y = stack(x)  # (3, 40, 3)
    assert y.shape == (3, 40, 3)
    y.square().sum().backward()
    for m, f in enumerate(fields):
        f(x).square().sum().backward()
        torch.testing.assert_close(y[m], f(x), atol=1e-5, rtol=1e-4)
        for name, p in f.named_parameters():
            g = stack.weights[name.replace(".", "__")].grad[m]
            torch.testing.assert_close(g, p.grad, atol=1e-5, rtol=1e-4, msg=f"gradient of {name}")
        torch.testing.assert_close(stack.member(m)(x), f(x), atol=1e-5, rtol=1e-4)


def csv_losses(run_dir: Path) -> list[float]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


@pytest.mark.slow
@pytest.mark.parametrize("batch", ["null", "32"])
def test_members_train_exactly_as_single_runs(make_cfg, tmp_path: Path, batch: str) -> None:
    """3 images x 2 sigmas in one run; 3 of the members (different images and sigmas) against single runs with the
    same seed and data: the same loss curve to float tolerance, test PSNR within 0.05 dB, the same weights. With
    random batches (32 of the 64 observed pixels a step) each member draws the pixels its single run draws."""
    root = write_images(tmp_path / "set")
    data = ["data=image_set", f"data.root={root}", "task=interpolate", f"data.batch_size={batch}"]
    many_dir = tmp_path / "many"
    train(make_cfg(*FAST, *data, "model=many", "members.sweep.encoding.sigma=[5,10]", run_dir=many_dir))
    rows = list(csv.DictReader((many_dir / "members.csv").open(newline="")))
    assert len(rows) == 6 and [r["encoding.sigma"] for r in rows] == ["5", "10"] * 3
    history = json.loads((many_dir / "members_history.json").read_text())["train"]
    many_state = torch.load(many_dir / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    for member, (index, sigma) in [(0, (0, 5)), (3, (1, 10)), (4, (2, 5))]:
        one = tmp_path / f"one{member}"
        train(make_cfg(*FAST, *data, f"data.index={index}", f"encoding.sigma={sigma}", run_dir=one))
        losses = csv_losses(one)
        assert len(losses) == len(history) == 20
        np.testing.assert_allclose([h["loss"][member] for h in history], losses, rtol=1e-4, atol=1e-7)
        psnr = json.loads((one / "metrics.json").read_text())["test/psnr"]
        assert abs(float(rows[member]["test/psnr"]) - psnr) < 0.05
        state = torch.load(one / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        for k, v in state.items():
            name = k[len("field.") :].replace(".", "__")
            stacked = many_state.get(f"field.0.weights.{name}", many_state.get(f"field.0.state.{name}"))
            torch.testing.assert_close(stacked[member], v, atol=1e-5, rtol=1e-4, msg=k)


NETWORKS = sorted(p.stem for p in (ROOT / "configs" / "network").glob("*.yaml"))


@pytest.mark.parametrize("network", NETWORKS)
def test_every_network_trains_as_a_member_exactly_as_alone(make_cfg, tmp_path: Path, network: str) -> None:
    """Every network nfields ships (configs/network/*.yaml; WIRE's complex weights included): member 3 of a run of
    2 images x 2 seeds has its single run's loss at every step and test PSNR (random batches: its seed's pixels)."""
    root = write_images(tmp_path / "set", 2)
    over = ["debug=fast", "data.size=null", "trainer.max_steps=10", "logger=csv", "trainer.log_every_n_steps=1"]
    over += ["log.val_every_n_steps=10", "~callbacks.progress_gif", "data=image_set", f"data.root={root}"]
    over += [f"network={network}", "task=interpolate", "data.batch_size=32"]  # with the encoding its config brings
    many_dir, one = tmp_path / "many", tmp_path / "one"
    train(make_cfg(*over, "model=many", "members.seeds=2", run_dir=many_dir))
    train(make_cfg(*over, "data.index=1", "seed=1", run_dir=one))
    rows = list(csv.DictReader((many_dir / "members.csv").open(newline="")))
    assert (rows[3]["image"], rows[3]["seed"]) == ("1", "1")
    history, losses = json.loads((many_dir / "members_history.json").read_text())["train"], csv_losses(one)
    assert len(losses) == len(history) == 10
    np.testing.assert_allclose([h["loss"][3] for h in history], losses, rtol=1e-4, atol=1e-7)
    assert abs(float(rows[3]["test/psnr"]) - json.loads((one / "metrics.json").read_text())["test/psnr"]) < 0.05


def test_a_run_of_many_fields_writes_its_table_montage_and_lowers_the_loss(make_cfg, tmp_path: Path) -> None:
    """2 images x 2 seeds x 2 learning rates, trained in chunks of 3: metrics.json has each metric's mean and std
    over members, members.csv one row per member; chunks give the members' results of one stack."""
    root = write_images(tmp_path / "set", 2)
    over = [*FAST, "data=image_set", f"data.root={root}", "model=many", "members.seeds=2"]
    over += ["members.sweep.model.lr=[1e-3,1e-2]"]
    runs = {}
    for chunk in ("null", "3", "1"):  # one stack of 8; 3 + 3 + 2; one by one (no vmap)
        d = tmp_path / f"chunk{chunk}"
        train(make_cfg(*over, f"members.chunk={chunk}", run_dir=d))
        runs[chunk] = list(csv.DictReader((d / "members.csv").open(newline="")))
        m = json.loads((d / "metrics.json").read_text())
        assert {"test/psnr", "test/psnr_std", "val/ssim", "val/ssim_std", "perf/steps_per_s"} <= set(m)
        assert len(list((d / "members").glob("*.png"))) == 8 and (d / "reconstruction.png").exists()
        assert (d / "progress.gif").exists()
        history = json.loads((d / "members_history.json").read_text())["train"]
        assert all(b < a for a, b in zip(history[0]["loss"], history[-1]["loss"], strict=True))
    a = runs["null"]
    assert len({r["seed"] for r in a}) == 2 and len({r["lr"] for r in a}) == 2
    for b in (runs["3"], runs["1"]):
        assert [(r["image"], r["seed"], r["lr"]) for r in a] == [(r["image"], r["seed"], r["lr"]) for r in b]
        for ra, rb in zip(a, b, strict=True):
            assert abs(float(ra["test/psnr"]) - float(rb["test/psnr"])) < 1e-3
    # The lr sweep is honoured: the members at lr 1e-2 fit their image better in 20 steps than at 1e-3.
    fast = [float(r["test/psnr"]) for r in a if float(r["lr"]) == 1e-2]
    slow = [float(r["test/psnr"]) for r in a if float(r["lr"]) == 1e-3]
    assert min(fast) > max(slow)
    module = load_checkpoint(tmp_path / "chunknull" / "checkpoints" / "last.ckpt")  # rebuilds the members
    assert module.n_members == 8


def build(make_cfg, tmp_path: Path, *over: str):
    root = write_images(tmp_path / "set", 2)
    cfg = make_cfg("debug=fast", "data=image_set", f"data.root={root}", "data.size=null", "model=many", *over)
    return build_module(cfg, build_datamodule(cfg))


@pytest.mark.parametrize(
    "over, match",
    [
        (["members.sweep.encoding.sigmaa=[1,2]"], r"members.sweep.encoding.sigmaa=\[1, 2\]: the run has no number"),
        (["members.sweep.data.size=[8,16]"], r"members.sweep.data.size=.*cannot vary across members"),
        (["members.sweep.model.render_chunk=[8,16]"], r"cannot vary across members"),
        (["members.sweep.encoding.sigma=[]"], r"members.sweep.encoding.sigma=\[\]: must be a non-empty list"),
        (["members.sweep.encoding.sigma=[a,b]"], r"must be a non-empty list of numbers"),
        (["members.sweep.network.n_neurons=[8,16]"], r"members.sweep.network.n_neurons.*changes the fields' tensor"),
        (["members.memory_gb=1e-9"], r"members.memory_gb=1e-09: one member needs about .* GB per step"),
        (["members.seeds=0"], r"members.seeds=0: must be a count >= 1"),
        (["members.images=[0,5]"], r"members.images: \[5\] not in the set's 2 images"),
    ],
)
def test_bad_members_are_refused_in_one_line_before_training(make_cfg, tmp_path, over, match) -> None:
    with pytest.raises(Exception, match=match) as e:
        build(make_cfg, tmp_path, *over)
    assert "\n" not in str(e.value)


def test_members_of_an_image_set_combine_images_seeds_and_sweeps(make_cfg, tmp_path: Path) -> None:
    module = build(make_cfg, tmp_path, "members.seeds=[3,7]", "members.sweep.encoding.sigma=[2,4,8]")
    assert module.n_members == 2 * 2 * 3
    specs = [(m.image, m.seed, m.sweep["encoding.sigma"]) for m in module.members]
    assert specs[:4] == [(0, 3, 2), (0, 3, 4), (0, 3, 8), (0, 7, 2)] and specs[-1] == (1, 7, 8)
    # Each member's encoding is its own draw at its own sigma: the single run's B for that seed and sigma.
    stack = module.field[0]
    B = stack.state.encoding__B  # (M, n_features, 2)
    g = torch.Generator().manual_seed(7)
    torch.testing.assert_close(B[3], torch.randn(B.shape[1:], generator=g) * 2)
    with pytest.raises(ConfigError):
        build(make_cfg, tmp_path, "model.compile=true")


@pytest.mark.parametrize(
    "over",
    [
        ["task=superres", "encoding=hashgrid", "encoding.n_levels=4"],
        ["task=inpaint", "encoding=grid", "network=linear", "model.lr=0.05", "data.batch_size=64"],
        ["encoding=none", "network=siren", "members.sweep.network.w0=[10,30]", "cond=film"],
        ["field=gaussians", "field.n_gaussians=100", "members.seeds=2"],  # not vectorizable: one by one
    ],
)
def test_other_fields_and_tasks_train_as_members(make_cfg, tmp_path: Path, over: list[str]) -> None:
    root, d = write_images(tmp_path / "set", 2), tmp_path / "run"
    common = ["debug=fast", "data=image_set", f"data.root={root}", "data.size=null", "model=many", "logger=none"]
    train(make_cfg(*common, "trainer.max_steps=10", "trainer.log_every_n_steps=1", *over, run_dir=d))
    losses = np.array([h["loss"] for h in json.loads((d / "members_history.json").read_text())["train"]])  # (T, M)
    assert (losses[-3:].mean(0) < losses[0]).all()  # random batches: the last steps' mean, below the first


@pytest.mark.slow
def test_members_split_across_ddp_ranks_train_as_on_one_device(make_cfg, tmp_path: Path) -> None:
    """trainer=ddp_cpu: each of 2 ranks computes half of every chunk (6 members in chunks of 4 and 2: 2+2 and 1+1
    per rank) and the gradients are summed by hand. With network=wire (complex weights) they go through one real
    buffer (complex ones as their real views), so the members' losses stay real numbers (members_history.json)
    and every member trains as on one device: the same losses, test PSNR within 0.001 dB; rank 0's checkpoint
    holds all of them."""
    root = write_images(tmp_path / "set", 3)
    common = ["debug=fast", "model=many", "data=image_set", f"data.root={root}", "data.size=null", "logger=none"]
    common += ["network=wire", "encoding=none", "members.seeds=2", "members.chunk=4"]
    common += ["trainer.max_steps=10", "trainer.log_every_n_steps=1", "~callbacks.progress_gif"]
    train(make_cfg(*common, "trainer=default", run_dir=tmp_path / "default"))  # one device: in this process
    proc = run_train([*common, "trainer=ddp_cpu", f"hydra.run.dir={tmp_path / 'ddp_cpu'}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = {}
    for trainer in ("default", "ddp_cpu"):
        d = tmp_path / trainer
        history = json.loads((d / "members_history.json").read_text())["train"]
        runs[trainer] = (np.array([h["loss"] for h in history]), list(csv.DictReader((d / "members.csv").open())))
    assert "MEMBER: 2/2" in proc.stdout + proc.stderr  # really two processes
    (losses, rows), (ddp_losses, ddp_rows) = runs["default"], runs["ddp_cpu"]
    assert losses.shape == ddp_losses.shape == (10, 6)
    np.testing.assert_allclose(ddp_losses, losses, rtol=1e-4)
    assert len(ddp_rows) == 6
    for a, b in zip(rows, ddp_rows, strict=True):
        assert abs(float(a["test/psnr"]) - float(b["test/psnr"])) < 1e-3
    assert load_checkpoint(tmp_path / "ddp_cpu" / "checkpoints" / "last.ckpt").n_members == 6


def test_w_and_b_gets_the_members_table_the_montage_and_the_animation(make_cfg, tmp_path: Path) -> None:
    root, d = write_images(tmp_path / "set", 2), tmp_path / "run"
    over = ["debug=fast", "data=image_set", f"data.root={root}", "data.size=null", "model=many", "logger=wandb"]
    train(make_cfg(*over, "trainer.max_steps=10", "log.gif_every_n_steps=5", run_dir=d))
    media = next((d / "wandb").glob("offline-run-*")) / "files" / "media"
    table = json.loads(next((media / "table" / "test").glob("members_*.table.json")).read_text())
    assert table["columns"][:5] == ["id", "image", "name", "seed", "lr"] and len(table["data"]) == 2
    assert list((media / "images" / "test").glob("reconstruction_*.png"))
    assert list((media / "videos" / "train").glob("progress_*.gif"))


def test_several_steps_per_call_give_the_same_members(make_cfg, tmp_path: Path) -> None:
    """model.steps_per_call only decides how often Lightning's per-call Python runs: k = 1 and 5 train alike."""
    root = write_images(tmp_path / "set", 2)
    over = [*FAST, "data=image_set", f"data.root={root}", "model=many", "members.seeds=2"]
    out = {}
    for k in (1, 5):
        d = tmp_path / f"k{k}"
        train(make_cfg(*over, f"model.steps_per_call={k}", run_dir=d))
        out[k] = (
            json.loads((d / "members_history.json").read_text())["train"],
            json.loads((d / "metrics.json").read_text()),
        )
    (h1, m1), (h5, m5) = out[1], out[5]
    assert [h["step"] for h in h1] == [h["step"] for h in h5] == list(range(1, 21))
    np.testing.assert_allclose([h["loss"] for h in h1], [h["loss"] for h in h5], rtol=1e-5)
    assert m5["perf/steps_per_call"] == 5 and abs(m1["test/psnr"] - m5["test/psnr"]) < 1e-4
