"""Nothing lost: the command line's error output, run-dir protection, signals, atomic checkpoints, resume checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nfields.core.errors import ConfigError
from nfields.lit.single import FieldModule
from nfields.run.compose import CONFIGS
from nfields.run.options import check_options, option_names, unknown_option
from nfields.run.train import train
from tests.conftest import ROOT, run_train
from tests.reliability import entry_point, expect_error


def test_cli_user_error_is_one_line(tmp_path: Path) -> None:
    args = ["debug=fast", "logger=none", "network.n_neurons=-1", f"hydra.run.dir={tmp_path / 'a'}"]
    proc = run_train(args)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: network.n_neurons=-1: must be an integer >= 1"


def test_full_error_raises_for_the_traceback(make_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    """HYDRA_FULL_ERROR=1: the entry point re-raises the error (Hydra prints its traceback) instead of one line."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigError, match="^network.n_neurons=-1: must be an integer >= 1$"):
        entry_point(make_cfg("debug=fast", "logger=none", "network.n_neurons=-1"))


def choices(group: str) -> str:
    """What an unknown-option message lists: the options of configs/<group>/, found, not typed."""
    return ", ".join(option_names(CONFIGS, group))


def test_unknown_options_and_keys_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """train.py checks the command line (check_options) before Hydra composes or writes anything."""
    for args, expected in (
        (
            ["encoding=fourire"],
            f"Error: encoding=fourire: unknown option; choose one of {choices('encoding')} "
            "(did you mean encoding=fourier?)",
        ),
        (["+encodng=none"], "Error: encodng=none: unknown key or config group (did you mean encoding=none?)"),
    ):
        with pytest.raises(SystemExit) as exc:
            check_options(args, CONFIGS)
        assert exc.value.code == 2
        assert capsys.readouterr().err.strip().split("; known: ")[0] == expected
    assert {"basic", "fourier", "grid", "hashgrid"} <= set(choices("encoding").split(", "))
    proc = run_train(["trainer.gradient_clip_val=1", f"hydra.run.dir={tmp_path}"])  # nothing close: Hydra's words
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Could not override 'trainer.gradient_clip_val'" in proc.stderr and "is not in struct" in proc.stderr


def test_unknown_option_check_understands_hydra_syntax() -> None:
    for arg in (
        "encoding=fourier",
        "+encoding=none",
        "~logger",
        "logger=[wandb,csv]",
        "encoding=none,fourier",
        "encoding=choice(none,fourire)",
        "data.image=x",
        "hydra/launcher=basic",
        "debug=null",
        "-m",
    ):
        assert unknown_option(arg, CONFIGS) is None, arg
    assert str(unknown_option("logger=[wandb,cvs]", CONFIGS)) == (
        f"logger=cvs: unknown option; choose one of {choices('logger')} (did you mean logger=csv?)"
    )
    assert unknown_option("-m", CONFIGS) is None
    expected = f"network=zzz: unknown option; choose one of {choices('network')}"
    assert str(unknown_option("network=zzz", CONFIGS)) == expected
    check_options(["--config-dir=/elsewhere", "encoding=mine"], CONFIGS)  # other config dirs: left to Hydra
    check_options(["hydra.searchpath=[file:///elsewhere]", "encoding=mine"], CONFIGS)


def test_a_run_never_overwrites_another_runs_directory(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / ".hydra").mkdir(parents=True)
    (old / ".hydra" / "config.yaml").write_text("the old run's config\n")
    (old / "metrics.json").write_text("{}\n")
    proc = run_train(["debug=fast", "logger=none", f"hydra.run.dir={old}"])
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"Error: hydra.run.dir={old}: already holds another run (metrics.json); choose a new directory, "
        f"or resume that run with ckpt_path={old}/checkpoints/last.ckpt"
    )
    assert (old / ".hydra" / "config.yaml").read_text() == "the old run's config\n"  # refused before Hydra wrote


def test_a_multirun_never_overwrites_another_sweep(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from omegaconf import OmegaConf

    from nfields.run.rundir import ProtectRunDir

    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "metrics.json").write_text("{}\n")
    with pytest.raises(SystemExit) as exc:
        ProtectRunDir().on_multirun_start(
            OmegaConf.create({"ckpt_path": None, "hydra": {"sweep": {"dir": str(sweep)}}})
        )
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"Error: hydra.sweep.dir={sweep}: already holds another run (0/metrics.json); choose a new directory, "
        f"or resume that run with ckpt_path={sweep}/checkpoints/last.ckpt"
    )


def test_resuming_into_its_own_directory_is_allowed(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from nfields.run.rundir import ProtectRunDir

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    cfg = OmegaConf.create({"ckpt_path": str(run / "checkpoints" / "last.ckpt"), "hydra": {"run": {"dir": str(run)}}})
    ProtectRunDir().on_run_start(cfg)  # no SystemExit
    for other in (None, str(tmp_path / "elsewhere" / "last.ckpt")):  # resuming another run here would overwrite
        cfg.ckpt_path = other
        with pytest.raises(SystemExit):
            ProtectRunDir().on_run_start(cfg)


def signal_at_step(monkeypatch: pytest.MonkeyPatch, signum: int, at: int) -> None:
    step = FieldModule.training_step

    def send(self, batch, batch_idx):
        if self.trainer.global_step == at:
            os.kill(os.getpid(), signum)
        return step(self, batch, batch_idx)

    monkeypatch.setattr(FieldModule, "training_step", send)


def test_sigterm_saves_a_checkpoint_and_exits_143(make_cfg, capsys, monkeypatch, tmp_path: Path) -> None:
    signal_at_step(monkeypatch, signal.SIGTERM, at=13)
    cfg = make_cfg("debug=fast", "logger=none", "model.steps_per_call=1")  # a call per step: one starts at 13
    line = expect_error(cfg, capsys, code=143)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert line == f"Error: stopped by SIGTERM at step 14; checkpoint saved: {last}; resume with ckpt_path={last}"
    assert torch.load(last, weights_only=True)["global_step"] == 14
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)  # Lightning restored the handler


def test_ctrl_c_saves_a_checkpoint_and_says_so(make_cfg, capsys, monkeypatch, tmp_path: Path) -> None:
    handler = signal.getsignal(signal.SIGINT)
    # As in a terminal: a process started in the background (`cmd &`, e.g. by a CI script) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal_at_step(monkeypatch, signal.SIGINT, at=13)
    capsys.readouterr()
    try:
        with pytest.raises(SystemExit) as exc:
            entry_point(make_cfg("debug=fast", "logger=none", "model.steps_per_call=1"))
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores further Ctrl+C during its shutdown
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert exc.value.code == 130
    assert capsys.readouterr().err.strip() == f"Interrupted at step 13: checkpoint saved, resume with ckpt_path={last}"
    assert torch.load(last, weights_only=True)["global_step"] == 13


def signal_once_saved(proc: subprocess.Popen, last: Path, sig: int) -> bytes:
    """Send `sig` to a training process once its first checkpoint exists (it is then mid-training); -> its stderr."""
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    return proc.communicate(timeout=120)[1]


def test_ctrl_c_to_the_real_process(tmp_path: Path) -> None:
    """SIGINT to `python train.py`, as Ctrl+C in a terminal sends it: one line on stderr, exit 130, resumable."""
    run = tmp_path / "run"
    args = ["debug=fast", "logger=none", "trainer.max_steps=100000", f"hydra.run.dir={run}"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not inherited as ignored (see above)
    )
    last = run / "checkpoints" / "last.ckpt"
    err = signal_once_saved(proc, last, signal.SIGINT)
    assert proc.returncode == 130, err.decode()[-2000:]
    step = torch.load(last, weights_only=True)["global_step"]
    assert step >= 10
    assert err.decode().strip() == f"Interrupted at step {step}: checkpoint saved, resume with ckpt_path={last}"


WRITER = """
import sys, torch
from nfields.run.checkpoint import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), sys.argv[1]
for i in range(1000):
    io.save_checkpoint({"i": i, "state_dict": {"w": torch.full((4_000_000,), float(i))}}, path)
    print(i, flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write_leaves_a_loadable_last_ckpt(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    tmp = tmp_path / "last.ckpt.tmp"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "0"  # the first checkpoint is complete
        deadline = time.monotonic() + 60
        while not (tmp.exists() and tmp.stat().st_size > 0) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert tmp.exists(), "the second write never started"
        proc.send_signal(signal.SIGKILL)  # mid-write of the 16 MB checkpoint
    finally:
        proc.kill()
        proc.wait()
    ckpt = torch.load(path, weights_only=True)  # the previous checkpoint (or the new one), never a torn file
    assert torch.all(ckpt["state_dict"]["w"] == float(ckpt["i"]))


def test_resume_rejects_missing_corrupt_unsafe_and_incompatible_checkpoints(make_cfg, capsys, tmp_path: Path) -> None:
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    good = tmp_path / "run" / "checkpoints" / "last.ckpt"
    entry_point(make_cfg("debug=fast", "logger=none", "trainer.max_steps=10"))
    assert good.exists()
    (ckpts / "torn.ckpt").write_bytes(good.read_bytes()[:1000])
    torch.save({"weights": torch.zeros(2)}, ckpts / "other.ckpt")
    torch.save({"state_dict": {}, "obj": Path("x")}, ckpts / "unsafe.ckpt")
    cases = {
        str(ckpts / "nope.ckpt"): "file not found (a run's checkpoint is <run dir>/checkpoints/last.ckpt)",
        str(ckpts): f"is a folder; point to a file such as {ckpts}/checkpoints/last.ckpt",
        str(ckpts / "torn.ckpt"): "not a readable checkpoint (truncated or corrupt?): ",
        str(ckpts / "other.ckpt"): "not a Lightning checkpoint (no state_dict)",
        str(ckpts / "unsafe.ckpt"): "cannot be read safely (weights_only): ",
    }
    for path, message in cases.items():
        cfg = make_cfg("debug=fast", "logger=none", f"ckpt_path='{path}'", run_dir=tmp_path / "r2")
        assert expect_error(cfg, capsys).startswith(f"Error: ckpt_path={path}: {message}"), path
    cfg = make_cfg("debug=fast", "logger=none", f"ckpt_path={good}", "network.n_neurons=64", run_dir=tmp_path / "r3")
    assert expect_error(cfg, capsys) == (
        f"Error: ckpt_path={good}: incompatible checkpoint: it was trained with network.n_neurons=32, "
        "this run has network.n_neurons=64; use the checkpoint's settings or start a new run"
    )
    cfg = make_cfg("debug=fast", "logger=none", f"ckpt_path={good}", "trainer.max_steps=25", run_dir=tmp_path / "run")
    entry_point(cfg)  # a compatible resume continues from step 10
    assert torch.load(good, weights_only=True)["global_step"] == 25  # the final step, not only multiples of 10


def test_run_dir_that_is_a_file_is_refused(tmp_path: Path, capsys) -> None:
    from omegaconf import OmegaConf

    from nfields.run.rundir import ProtectRunDir

    path = tmp_path / "a_file"
    path.write_text("not a directory\n")
    with pytest.raises(SystemExit) as exc:
        ProtectRunDir().on_run_start(OmegaConf.create({"ckpt_path": None, "hydra": {"run": {"dir": str(path)}}}))
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == (
        f"Error: hydra.run.dir={path}: is a file, not a directory; choose a new directory"
    )


@pytest.mark.slow
def test_sigterm_to_the_real_process(make_cfg, tmp_path: Path) -> None:
    """`kill <pid>` of `python train.py`: checkpoint at the current step, one line, exit 143, resumable (the
    resume runs in this process; that train.py lets a resume into the run's own directory through is
    test_resuming_into_its_own_directory_is_allowed and test_run_record's finished-run resume)."""
    run = tmp_path / "run"
    args = ["debug=fast", "logger=none", "trainer.max_steps=100000", f"hydra.run.dir={run}"]
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    last = run / "checkpoints" / "last.ckpt"
    err = signal_once_saved(proc, last, signal.SIGTERM)
    lines = [ln for ln in err.decode().splitlines() if ln.startswith("Error: ")]
    assert proc.returncode == 143, err.decode()[-2000:]
    step = torch.load(last, weights_only=True)["global_step"]
    saved = f"checkpoint saved: {last}; resume with ckpt_path={last}"
    assert lines == [f"Error: stopped by SIGTERM at step {step}; {saved}"]
    train(make_cfg(*args[:2], f"trainer.max_steps={step + 5}", f"ckpt_path={last}", run_dir=run))
    assert torch.load(last, weights_only=True)["global_step"] == step + 5


def test_guard_on_accelerators_checks_before_every_checkpoint_write(tmp_path: Path) -> None:
    """Off the CPU the loss is checked lazily; a pending NaN still blocks the checkpoint write."""
    from types import SimpleNamespace

    from nfields.core.errors import TrainingStopped
    from nfields.lit.callbacks.guards import FaultGuard

    guard = FaultGuard(run_dir=str(tmp_path), lr=0.5, every_n_steps=25)
    trainer = SimpleNamespace(global_step=40, callbacks=[])
    guard.check(trainer, step=25)
    guard.bad = torch.tensor(True)  # what on_before_backward records on a GPU, without a sync
    with pytest.raises(TrainingStopped, match="between steps 25 and 40 with model.lr=0.5.*model.lr=0.05"):
        guard.on_save_checkpoint(trainer, None, {})
