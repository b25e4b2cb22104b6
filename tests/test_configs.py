"""Every option of every config group composes and instantiates (globbed, so new options are covered)."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from nfields.core.errors import ConfigError
from nfields.run.build import build_callbacks, build_datamodule, build_field, build_loggers, build_module
from nfields.run.train import train
from tests.conftest import CONFIGS, run_train

# Groups whose options are whole-run presets or launch settings, checked by composing the full run.
PRESET_GROUPS = {"experiment", "hparams_search", "debug"}
OPTIONS = sorted((p.parent.name, p.stem) for p in CONFIGS.glob("*/*.yaml"))


def test_glob_found_the_groups() -> None:
    groups = {g for g, _ in OPTIONS}
    assert {"encoding", "network", "data", "task", "trainer", "logger", "debug", "experiment"} <= groups


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(make_cfg, tmp_path: Path, group: str, option: str) -> None:
    overrides = [f"{group}={option}"] if group == "debug" else ["debug=fast", f"{group}={option}"]
    if (group, option) == ("data", "image_set") or option in (
        "ffn_div2k",
        "ffn_text",
        "ffn_table",
        "ffn_sigma",
        "ffn_scale",
    ):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "00.png")
        overrides.append(f"data.root={tmp_path}")
    if option == "coin":  # its data.image is required (Kodak, not shipped): any image composes it
        overrides.append("data.image=astronaut")
    if group == "hparams_search" and option.startswith("ffn_"):  # the paper's search runs inside its protocol
        overrides.append("experiment=ffn_div2k")
    cfg = make_cfg(*overrides)
    if group in ("encoding", "network"):
        field = build_field(cfg, out_dim=3)
        assert field.network.in_dim == field.encoding.out_dim  # derived, not typed
    elif group == "field":
        field = build_field(cfg, out_dim=3)
        assert type(field).__module__ == cfg.field._target_.rsplit(".", 1)[0] and field.out_dim == 3
    elif group == "data":
        pytest.importorskip("torchvision")
        dm = build_datamodule(cfg) if option in ("image", "image_set") else instantiate(cfg.data)
        assert dm is not None
    elif group == "logger":
        loggers = build_loggers(cfg)
        assert len(loggers) == len(cfg.logger or {})
        import wandb

        if wandb.run is not None:
            wandb.finish()
    elif group == "callbacks":
        assert build_callbacks(cfg)
    elif group in ("task", "cond") and cfg.get(group) is not None:
        assert instantiate(cfg[group]) is not None
    elif group == "trainer":
        import torch

        if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
            assert cfg.trainer.devices == -1 or cfg.trainer.devices >= 1  # composes; instantiating needs a GPU
            return
        trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
        assert trainer.max_steps == cfg.trainer.max_steps
    elif group in PRESET_GROUPS:
        if cfg.get("data", {}).get("_target_", "").endswith("ImageDataModule"):
            module = build_module(cfg, build_datamodule(cfg))
            assert sum(p.numel() for p in module.parameters()) > 0


def test_unknown_option_is_rejected(make_cfg) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="encoding"):
        make_cfg("encoding=fourire")


def test_each_yaml_targets_code_that_exists() -> None:
    """One option = one .py + one .yaml: every _target_ in configs/<group> imports."""
    from hydra._internal.utils import _locate
    from omegaconf import OmegaConf

    for p in CONFIGS.glob("*/*.yaml"):
        cfg = OmegaConf.to_container(OmegaConf.load(p), resolve=False)
        for target in _targets(cfg):
            _locate(target)  # raises ImportError naming the target


def _targets(node) -> list[str]:
    if isinstance(node, dict):
        out = [node["_target_"]] if isinstance(node.get("_target_"), str) else []
        return out + [t for v in node.values() for t in _targets(v)]
    if isinstance(node, list):
        return [t for v in node for t in _targets(v)]
    return []


def test_configs_dir_is_the_one_train_py_uses() -> None:
    assert (Path(CONFIGS).parent / "train.py").read_text().count('config_path="configs"') == 1


def test_options_that_set_model_keys_are_not_undone_by_the_model_group(make_cfg) -> None:
    """network=siren brings its protocol's lr and decay (model.*): the model group is composed before it."""
    cfg = make_cfg("network=siren")
    assert cfg.model.scheduler._target_.endswith("ExponentialDecay") and cfg.model.lr == 5e-4
    assert make_cfg("network=mlp").model.scheduler._target_.endswith("CosineDecay")  # the single-image default


def test_the_default_run_decays_its_lr_to_zero(make_cfg) -> None:
    """A constant 1e-3 ended the default run on an Adam spike (38.60 dB, 41.83 at step 400): the lr decays to 0
    over trainer.max_steps; options with another schedule replace every key of it (the configs merge)."""
    import torch

    from nfields.lit.schedulers import CosineDecay

    def lrs(cfg) -> list[float]:
        opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.model.lr)
        sched = instantiate(cfg.model.scheduler)(optimizer=opt)
        out = []
        for _ in range(cfg.trainer.max_steps):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
        return out

    cfg = make_cfg("trainer.max_steps=40")
    assert lrs(cfg)[-1] == 0.0 and lrs(cfg)[19] == pytest.approx(cfg.model.lr / 2)  # half-way: half the lr
    ref = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(ref, T_max=40)
    for got in lrs(cfg):
        ref.step()
        cosine.step()
        assert got == pytest.approx(ref.param_groups[0]["lr"], abs=1e-15)  # CosineAnnealingLR's curve
    assert isinstance(instantiate(cfg.model.scheduler)(optimizer=ref), CosineDecay)
    siren = make_cfg("network=siren", "trainer.max_steps=40")
    assert set(siren.model.scheduler) == {"_target_", "_partial_", "total_steps", "final"}
    assert lrs(siren)[-1] == pytest.approx(siren.model.lr * 0.1)  # network=siren's 0.1^(t/T), whole
    assert make_cfg("data=synthetic").model.scheduler is None  # collections keep a constant lr
    assert make_cfg("model=many").model.scheduler._target_.endswith("CosineDecay")  # as the single runs it stands for


@pytest.mark.parametrize("name, lr", [("siren", 5e-4), ("finer", 5e-4), ("wire", 1e-3), ("gauss", 5e-3)])
def test_a_papers_network_typed_alone_runs_as_its_protocol(make_cfg, name: str, lr: float) -> None:
    """network=<paper's> brings raw coordinates, its lr and the 0.1^(t/T) decay (not Fourier features into
    WIRE at 1e-3); the command line still wins over what the option selects."""
    cfg = make_cfg(f"network={name}")
    assert cfg.encoding._target_.endswith("Identity") and cfg.model.lr == lr and cfg.network.n_hidden_layers == 4
    assert cfg.model.scheduler._target_.endswith("ExponentialDecay")
    assert make_cfg(f"network={name}", "encoding=fourier").encoding._target_.endswith("GaussianFourier")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["siren", "finer", "wire", "gauss"])
def test_a_papers_network_typed_alone_fits_sharply(make_cfg, name: str) -> None:
    """Its defaults at full width fit a small image: at the protocol's 5e-3 (for 512^2 and 5000 steps) WIRE's
    4 x 181 network collapsed to a near-constant image on small ones (24^2, 100 steps: 15.7 dB; at 1e-3 55.8)."""
    cfg = make_cfg(
        f"network={name}", "logger=none", "data.size=24", "trainer.max_steps=100", "callbacks.progress_gif=null"
    )
    train(cfg)
    assert json.loads((Path(cfg.run_dir) / "metrics.json").read_text())["test/psnr"] > 30


def test_a_linear_head_typed_alone_gets_a_grid_to_read(make_cfg) -> None:
    """network=linear on fixed Fourier features cannot fit an image: alone it selects encoding=grid and its lr."""
    cfg = make_cfg("network=linear")
    assert cfg.encoding._target_.endswith("Grid") and cfg.model.lr == 3e-2
    assert make_cfg("network=linear", "encoding=hashgrid").encoding._target_.endswith("HashGrid")


@pytest.mark.parametrize(
    "over, message",
    [
        (["data=synthetic", "model=single"], "model=single: trains on one signal (data=image|text|audio|video|volume)"),
        (["model=collection"], "model=collection: trains on a collection of images"),
    ],
)
def test_a_module_refuses_the_other_kind_of_data_in_one_line(make_cfg, over: list[str], message: str) -> None:
    """The module declares the datamodule type it trains on (no hasattr probe on the data)."""
    cfg = make_cfg("debug=fast", "logger=none", *over)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("|", r"\|")):
        build_module(cfg, build_datamodule(cfg))


def test_the_default_config_shows_plain_values(make_cfg) -> None:
    """`python train.py --cfg job` prints the config unresolved: no fallback for keys only the protocols set."""
    proc = run_train(["--cfg", "job"])
    assert proc.returncode == 0 and "sigma: 10.0" in proc.stdout, proc.stderr[-2000:]
    assert "oc.select" not in proc.stdout and "protocol" not in proc.stdout, proc.stdout
    assert make_cfg("experiment=ffn_div2k", "encoding=fourier", "protocol.sigma=3").encoding.sigma == 3
    assert make_cfg("experiment=ffn_text", "encoding=positional").encoding.scale == 5.0
