"""Bad config values and combinations: one line, exit code 2, before any data loading or training.

Each case runs the entry point (train.py's main, on the Hydra-composed config) and
checks the exact message; docs/reliability.md lists the same messages (checked below).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.run.compose import CONFIGS
from nfields.run.options import option_names
from nfields.run.validate import latent_needs_conditioning, validate_config
from tests.reliability import expect_error

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reliability.md"

# Checked by the component that owns the key, when it is built (after the data is read, before training).
COMPONENT_CASES: list[tuple[list[str], str]] = [
    (["network.n_neurons=0"], "network.n_neurons=0: must be an integer >= 1"),
    (["network.n_hidden_layers=-2"], "network.n_hidden_layers=-2: must be an integer >= 1"),
    (["network.n_neurons=3.5"], "network.n_neurons=3.5: must be an integer >= 1"),
    (["network=siren", "network.w0=0"], "network.w0=0: must be a number > 0"),
    (
        ["network.output_activation=relu"],
        "network.output_activation=relu: must be one of sigmoid, identity, tanh, affine",
    ),
    (["encoding.sigma=-1"], "encoding.sigma=-1: must be a number > 0"),
    (["encoding.n_features=0"], "encoding.n_features=0: must be an integer >= 1"),
    (["encoding=positional", "encoding.scale=-1"], "encoding.scale=-1: must be a number >= 0"),
    (
        ["encoding=positional", "encoding.n_features=7"],
        "encoding.n_features=7: must be an even integer >= 2 (half per axis)",
    ),
    (["model.lr=0"], "model.lr=0: must be a number > 0"),
    (["model.lr=fast"], "model.lr=fast: must be a number > 0"),
    (["model.compile=maybe"], "model.compile=maybe: must be true or false (true = field), or field or step"),
    (["data.size=0"], "data.size=0: must be an integer >= 1, or null"),
    (["data.size=2.5"], "data.size=2.5: must be an integer >= 1, or null"),
    (["data.batch_size=0"], "data.batch_size=0: must be an integer >= 1, or null"),
    (["data.image=''"], "data.image=: must be a non-empty string"),
    (["task=inpaint", "task.keep=1.5"], "task.keep=1.5: must be a number in (0, 1]"),
    (["task=superres", "task.factor=0"], "task.factor=0: must be an integer >= 1"),
    (["task=superres", "task.factor=2.5"], "task.factor=2.5: must be an integer >= 1"),
    (["task=interpolate", "task.factor=1"], "task.factor=1: must be an integer >= 2"),
    (["task=denoise", "task.noise_std=-0.1"], "task.noise_std=-0.1: must be a number >= 0"),
    # Callbacks' and loggers' own checks, and Lightning's MisconfigurationException from a callback's constructor.
    (["log.gif_every_n_steps=0"], "log.gif_every_n_steps=0: must be an integer >= 1"),
    (["log.panel_height=-1"], "log.panel_height=-1: must be an integer >= 1"),
    (["callbacks.guard.every_n_steps=0"], "callbacks.guard.every_n_steps=0: must be an integer >= 1"),
    (
        ["logger=wandb", "logger.wandb.mode=cloud"],
        "logger.wandb.mode=cloud: must be one of auto, online, offline, disabled, shared, or null",
    ),
    (["callbacks.checkpoint.every_n_train_steps=-3"], "Invalid value for every_n_train_steps=-3. Must be >= 0"),
]
# Run-level keys, third-party keys and combinations: checked before any data is read.
RUN_CASES: list[tuple[list[str], str]] = [
    (
        ["data.size=100000"],
        "data.size=100000: is above 2048: confirm with validate.allow_large=true (or raise validate.max_size)",
    ),
    (["trainer.max_steps=0"], "trainer.max_steps=0: must be an integer >= 1 or -1 (no step limit)"),
    (["trainer.max_steps=-1"], "trainer.max_steps=-1: never ends without trainer.max_epochs; set a step count >= 1"),
    (
        ["trainer.precision=fp16"],
        "trainer.precision=fp16: must be one of 64-true, 32-true, 16-true, 16-mixed, bf16-true, bf16-mixed, "
        "64, 32, 16, bf16, transformer-engine, transformer-engine-float16",
    ),
    (["model.optimizer.fused=2"], "model.optimizer.fused=2: must be true or false, or null"),
    (["seed=-1"], "seed=-1: must be an integer >= 0 and <= 4294967295"),
    (["log.val_every_n_steps=0"], "log.val_every_n_steps=0: must be an integer >= 1"),
    (
        ["+data.sise=3"],
        "data.sise=3: unknown key for nfields.data.image.ImageDataModule; "
        "known keys: batch_size, crop, image, size, upsample (did you mean data.size?)",
    ),
    (
        ["+model.lrr=3"],
        "model.lrr=3: unknown key for nfields.lit.single.FieldModule; known keys: compact_pixels, compile, init_from, "
        "keep_features, latent_dim, lr, optimizer, render_chunk, scheduler, steps_per_call (did you mean model.lr?)",
    ),
    (
        ["network=siren", "+network.width=64"],
        "network.width=64: unknown key for nfields.fields.networks.siren.Siren; "
        "known keys: coord_dim, in_dim, n_hidden_layers, n_neurons, out_dim, output_activation, w0, w0_initial",
    ),
]
RUN_CASES.append(
    (
        ["encoding._target_=nfields.nope.Encoding"],
        "encoding._target_=nfields.nope.Encoding: cannot be imported: no such module or name",
    )
)
if not torch.cuda.is_available():
    RUN_CASES.append(
        (["trainer=gpu"], "trainer.accelerator=gpu: no CUDA GPU is visible here: use trainer=cpu or trainer=default")
    )
CASES = COMPONENT_CASES + RUN_CASES


def test_bad_run_level_values_give_one_line_and_exit_2_before_the_data_is_read(make_cfg, capsys, monkeypatch) -> None:
    """All cases in one test: composing is the cost, and each stops before the data is loaded."""
    import nfields.run.train as train_module

    def no_data(*args, **kwargs):
        raise AssertionError("data loading reached")

    monkeypatch.setattr(train_module, "build_datamodule", no_data)
    for overrides, message in RUN_CASES:
        cfg = make_cfg("debug=fast", "logger=none", *overrides)
        assert expect_error(cfg, capsys) == f"Error: {message}", overrides


def test_bad_component_values_give_one_line_and_exit_2_before_training(make_cfg, capsys, monkeypatch) -> None:
    """Each component checks its own keys when it is built: one line naming the key, and no training step."""
    import nfields.run.train as train_module

    def no_training(*args, **kwargs):
        raise AssertionError("the trainer was built: a bad value reached training")

    monkeypatch.setattr(train_module, "build_trainer", no_training)
    for overrides, message in COMPONENT_CASES:
        cfg = make_cfg("debug=fast", "logger=none", *overrides)
        assert expect_error(cfg, capsys) == f"Error: {message}", overrides


PACKAGE = Path(__file__).resolve().parents[1] / "nfields"
CHECKED_KEY = re.compile(r'(?:check_arg|ConfigError)\(\s*"([a-z_]+\.[a-z_.]+)"')  # a literal dotted key


def test_one_source_of_truth_per_key() -> None:
    """No key is checked both by the run-level table and by a component (check_arg or ConfigError in its own
    code); group-owned keys are never in the table; one did-you-mean and one printer of user errors."""
    from nfields.run.validate import RULES

    owned = ("encoding.", "network.", "cond.", "latent.", "data.", "task.", "logger.", "callbacks.")
    component_keys = {
        k for k in RULES if k.startswith(owned) or (k.startswith("model.") and k != "model.optimizer.fused")
    }
    assert not component_keys, f"RULES repeats keys that their components check: {sorted(component_keys)}"
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    checked = {
        key: p.relative_to(PACKAGE).as_posix()
        for p, text in sources.items()
        if p.parent.name != "run" or p.stem != "validate"
        for key in CHECKED_KEY.findall(text)
    }
    assert checked, "the key pattern found no component check"
    repeated = {k: where for k, where in checked.items() if k in RULES}
    assert not repeated, f"RULES repeats keys that these components check: {repeated}"
    suggest = sorted(p.relative_to(PACKAGE).as_posix() for p, t in sources.items() if "get_close_matches" in t)
    assert suggest == ["core/checks.py"], f"did-you-mean is computed outside nfields.core.checks.closest: {suggest}"
    printers = sorted(p.relative_to(PACKAGE).as_posix() for p, t in sources.items() if '"Error: ' in t)
    assert printers == ["core/echo.py", "run/exits.py"], f"user errors printed outside core.echo.fail: {printers}"


def test_large_size_passes_with_confirmation(make_cfg) -> None:
    validate_config(make_cfg("debug=fast", "data.size=4096", "validate.allow_large=true"))
    validate_config(make_cfg("debug=fast", "data.size=null", "trainer.max_steps=-1", "+trainer.max_epochs=1"))


def test_latent_without_conditioning_is_rejected(make_cfg) -> None:
    """The cond and latent combination is checked from Hydra's choices and the keys typed on the command line."""
    conds = "|".join(n for n in option_names(CONFIGS, "cond") if n != "none")  # what configs/cond/ holds
    with pytest.raises(ConfigError) as e:
        validate_config(make_cfg("debug=fast", "latent=global"))
    assert (
        str(e.value) == f"latent=global: a latent code needs a conditioning method: add cond={conds}, or drop latent="
    )
    assert "film" in conds.split("|")
    latent_needs_conditioning({"latent": "global", "cond": "none"}, set())  # a default latent with cond=none: ignored
    validate_config(make_cfg("debug=fast", "cond=film", "latent=global"))


def test_defaults_and_every_option_validate(make_cfg) -> None:
    from tests.test_configs import OPTIONS

    for group, option in OPTIONS:
        if group in ("experiment", "hparams_search"):
            continue
        extra = ["cond=film"] if group == "latent" else []  # a latent alone is rejected by design (tested above)
        cfg = make_cfg(f"{group}={option}", *extra)
        if cfg.get("trainer", {}).get("accelerator") == "gpu" and not torch.cuda.is_available():
            continue  # gpu trainers are rejected here by design (test_gpu_... covers the message)
        validate_config(cfg)


def test_docs_table_lists_every_message() -> None:
    docs = DOCS.read_text()
    for _, message in CASES:
        assert message in docs, message


@pytest.mark.parametrize("doc", ["reliability.md", "extending.md"])
def test_docs_type_no_list_of_a_groups_options(doc: str) -> None:
    """Messages list a group's options from configs/<group>/; the docs point there instead of copying the list
    (a copy goes stale when an option is added). A list: three or more options of one group after `one of `
    or `=`, joined by `, ` or `|`."""
    text = (DOCS.parent / doc).read_text()
    for group in sorted(p.name for p in CONFIGS.iterdir() if p.is_dir()):
        names = "|".join(re.escape(n) for n in sorted(option_names(CONFIGS, group), key=len, reverse=True))
        if names:
            typed = re.search(rf"(?:one of |=)(?:{names})(?:(?:, |\\?\|)(?:{names})\b){{2,}}", text)
            assert typed is None, f"docs/{doc} types {group}'s options: {typed.group(0)!r}; point to configs/{group}/"


def test_a_bad_wandb_mode_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from nfields.run.loggers import resolve_wandb_mode

    monkeypatch.setenv("WANDB_MODE", "cloud")
    with pytest.raises(ConfigError) as e:
        resolve_wandb_mode(None)
    assert str(e.value) == "WANDB_MODE=cloud: must be one of auto, online, offline, disabled, shared"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode(None) == "disabled"


def test_the_progress_gif_checks_its_frame_size(tmp_path: Path) -> None:
    from nfields.lit.callbacks.images import ProgressGif

    with pytest.raises(ConfigError) as e:
        ProgressGif(run_dir=str(tmp_path), max_size=0)
    assert str(e.value) == "log.gif_max_size=0: must be an integer >= 1"
