"""Cases `eikonal` and `grid_paths` of scripts/bench.py: an eikonal step (a double backward) through nfields' field
against a hand-written SIREN doing the same work; encoding=grid's two interpolations.

    python scripts/bench.py --case eikonal --device cpu --threads 1 --repeat 3   # 1,024 points a step, 60 steps
    python scripts/bench.py --case eikonal --device cuda                         # 10,000 points a step, 200 steps

A step, on both sides: N random points u in (0, 1)^3, f(u) and grad_u f with create_graph, the loss
mean |f| + mean | |grad f| - 1 | (SIREN's surface and eikonal terms), backward (through the gradient: a double
backward), an Adam step (lr 1e-4). nfields' side is the field `network=siren` builds (3 sine layers of 256,
encoding=none, a linear head) through nfields.fields.gradients; the hand-written side is
scripts/baselines/siren_net.py's SIREN (plain PyTorch) on c = 2u - 1, given the same initial weights, so both
compute the same numbers (checked before timing). The two loops alternate in --repeat blocks, so both see the
same seconds of a machine whose speed drifts; each block starts with untimed warm-up steps. `--repeat N` runs the
comparison N times and prints every ratio.

`grid_paths`: encoding=grid's plain step (forward, backward to the table) through F.grid_sample (Grid.sample, what
the plain case runs) and through the gathers of the 2^d corners (what runs when a gradient in x is asked for),
medians of 15 interleaved repetitions, on 2-D and 3-D grids of 1 and 4 levels, --points points (default 32,768).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
from baselines.siren_net import Siren

from nfields.fields.encodings.grid import Grid
from nfields.fields.gradients import value_and_input_gradient
from nfields.run.build import build_field
from nfields.run.compose import compose_run_config

FIELD = ["network=siren", "network.n_hidden_layers=3", "network.n_neurons=256", "network.output_activation=identity"]
LR = 1e-4


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("eikonal")
    g.add_argument("--points", type=int, default=None, help="points a step (default 10,000; 1,024 on the CPU)")
    g.add_argument("--blocks", type=int, default=10, help="alternating timed blocks of each loop")


def loss_of(value: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """mean |f| + mean | |grad f| - 1 |: value (N, 1), grad (N, 3) -> ()."""
    return value.abs().mean() + (grad.norm(dim=-1) - 1).abs().mean()


def hand_written(field: torch.nn.Module, device: str) -> Siren:
    """The baselines' SIREN with the field's initial weights (its first layer on c = 2u - 1, as nfields')."""
    net = field.network
    hand = Siren(3, net.n_neurons, n_sine=len(net.hidden), out_dim=1).to(device)
    with torch.no_grad():
        for mine, theirs in zip([*hand.layers, hand.head], net.layers, strict=True):
            mine.weight.copy_(theirs.weight)
            mine.bias.copy_(theirs.bias)
    return hand


def hand_gradient(hand: Siren, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(2u - 1) (N, 1) and its gradient in u (N, 3), written out as a researcher would."""
    u = u.requires_grad_()
    y = hand(2 * u - 1)
    (grad,) = torch.autograd.grad(y, u, torch.ones_like(y), create_graph=True)
    return y, grad


def stepper(model: torch.nn.Module, value_grad: Callable, n: int, device: str) -> Callable[[], float]:
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step() -> float:
        u = torch.rand(n, 3, device=device)  # (N, 3) in (0, 1)^3
        loss = loss_of(*value_grad(u))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


def timed(step: Callable[[], float], n: int, device: str, warmup: int = 2) -> float:
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return time.perf_counter() - t


def compare(
    ours: Callable[[], float], theirs: Callable[[], float], steps: int, blocks: int, device: str
) -> tuple[float, float]:
    """Alternating blocks of each loop -> (hand-written, nfields) steps/s."""
    per_block = max(1, steps // blocks)
    t_ours = t_hand = 0.0
    for _ in range(blocks):  # alternating: both see the same seconds of the machine
        t_hand += timed(theirs, per_block, device)
        t_ours += timed(ours, per_block, device)
    return blocks * per_block / t_hand, blocks * per_block / t_ours


def run(a: argparse.Namespace) -> None:
    """Case eikonal: steps/s of the hand-written SIREN and of nfields' field, and their ratio (--repeat times)."""
    device = a.device
    n = a.points or (1024 if device == "cpu" else 10_000)
    steps = a.steps or (60 if device == "cpu" else 200)
    with tempfile.TemporaryDirectory() as d:
        cfg = compose_run_config([*FIELD, *a.overrides], d)
        torch.manual_seed(0)
        field = build_field(cfg, out_dim=1, in_dim=3).to(device)
    hand = hand_written(field, device)
    u = torch.rand(64, 3, device=device)
    ours_once, hand_once = loss_of(*value_and_input_gradient(field, u)), loss_of(*hand_gradient(hand, u.clone()))
    if not torch.allclose(ours_once, hand_once, rtol=1e-4):
        raise RuntimeError(
            f"eikonal: the two paths differ ({ours_once.item()} vs {hand_once.item()}): not the same work"
        )
    ours = stepper(field, lambda x: value_and_input_gradient(field, x), n, device)
    theirs = stepper(hand, lambda x: hand_gradient(hand, x), n, device)
    net, threads = field.network, torch.get_num_threads()
    print(
        f"# eikonal: SIREN {len(net.hidden)}x{net.n_neurons} on 3-D points, {n} points a step, {steps} steps in ",
        end="",
    )
    print(f"{a.blocks} blocks, device {device}, torch {torch.__version__}, {threads} threads")
    ratios = []
    for _ in range(a.repeat):
        hand_rate, our_rate = compare(ours, theirs, steps, a.blocks, device)
        ratios.append(our_rate / hand_rate)
        print("| path | steps/s | points/s |\n|---|---|---|")
        print(f"| hand-written loop | {hand_rate:.3f} | {hand_rate * n:.0f} |")
        print(f"| nfields field | {our_rate:.3f} | {our_rate * n:.0f} |")
        print(f"\nratio nfields / hand-written steps/s: {ratios[-1]:.3f}")
    if len(ratios) > 1:
        print(f"ratios: {', '.join(f'{r:.3f}' for r in ratios)}")


def grid_paths(a: argparse.Namespace) -> None:
    """Case grid_paths: ms per plain step of encoding=grid by F.grid_sample and by the gathers, and their ratio."""
    n, device = a.points or 2**15, a.device
    print(f"# grid_paths: {n} points, device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        "| d | resolution | levels | grid_sample ms | gathers ms | gathers / grid_sample |\n|---|---|---|---|---|---|"
    )
    for d, res, levels in ((2, 256, 1), (2, 256, 4), (3, 64, 1), (3, 64, 4)):
        enc = Grid(resolution=res, n_levels=levels, in_dim=d).to(device)
        x = torch.rand(n, d, device=device)
        gathers = enc.bilinear if d == 2 else enc.multilinear
        times: dict[str, list[float]] = {"sample": [], "gathers": []}
        for i in range(17):  # the first two rounds warm up
            for name, fn in (("sample", enc.sample), ("gathers", gathers)):
                enc.table.grad = None
                t = timed(lambda fn=fn, x=x: fn(x).square().sum().backward(), 1, device, warmup=0)
                times[name] += [t] if i >= 2 else []
        ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        ratio = ms["gathers"] / ms["sample"]
        print(f"| {d} | {res} | {levels} | {ms['sample']:.2f} | {ms['gathers']:.2f} | {ratio:.2f} |")
