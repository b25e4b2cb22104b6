"""Unknown keys on the command line: one line with a suggestion, before Hydra composes (nfields/run/options.py)."""

from __future__ import annotations

import pytest


def test_unknown_keys_are_refused_with_a_suggestion() -> None:
    """Top-level keys and groups no config defines, with or without `+`, and close misspellings of nested keys;
    the documented `+` additions pass (they are judged after composing, by the unknown-key check)."""
    from nfields.run.options import check_options, unknown_key
    from tests.conftest import CONFIGS

    known = str(unknown_key("+encodng=none", CONFIGS)).split("; known: ")[1].split(", ")
    assert {"encoding", "model", "members", "seed", "log", "hydra", "experiment"} <= set(known)
    for arg, expected in (
        ("+encodng=none", "encodng=none: unknown key or config group (did you mean encoding=none?)"),
        ("encodng=fourier", "encodng=fourier: unknown key or config group (did you mean encoding=fourier?)"),
        ("++encodng.sigma=3", "encodng.sigma=3: unknown key or config group (did you mean encoding.sigma=3?)"),
        ("model.lrr=3", "model.lrr=3: unknown key (did you mean model.lr?)"),
        ("data.sise=3", "data.sise=3: unknown key (did you mean data.size?)"),
    ):
        assert str(unknown_key(arg, CONFIGS)).split("; known: ")[0] == expected, arg
    for arg in (
        "+members.sweep.network.s=[1,2]",
        "members.sweep.network.s=[1,2]",  # members.sweep is open: any key, no `+` (the members judge it)
        "members.sweep.network.w1=[1,2]",  # not "did you mean members.sweep.network.w0?": w1 may be a network's
        "+members.sweep.encoding.sigmaa=[1,2]",  # refused later, in the members' own words
        "+trainer.max_epochs=1",
        "+model.scheduler._target_=torch.optim.lr_scheduler.StepLR",
        "+callbacks.alongside._target_=x.y",
        "+model.lrr=3",  # after composing: the unknown-key check, with its known keys and the suggestion
        "+data.sise=3",
        "model.scheduler.T_max=5",  # under a null node: Hydra judges
        "hydra.run.dir=x",
        "hydra/launcher=slurm",
        "members.seeds=2",
        "experiment=seed_demo",
        "trainer.gradient_clip_val=1",  # nothing close: Hydra's own message
        "~callbacks.progress_gif",
        "-m",
    ):
        assert unknown_key(arg, CONFIGS) is None, arg
    with pytest.raises(SystemExit) as exc:
        check_options(["debug=fast", "model.lrr=3"], CONFIGS)
    assert exc.value.code == 2
