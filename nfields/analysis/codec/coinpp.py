"""COIN++ (Dupont et al. 2022) over a meta-learned run: an image as the quantised codes of its patches.

What the file does not hold, as in COIN++ (whose rate counts only the codes), lives with the run:

* the shared network, its FiLM maps and the meta-SGD step sizes: the run's checkpoint (`model.latent_source=meta`
  on `data=patches`);
* the prior: the quantiser's range and the symbols' distribution, measured once on the codes of the run's own
  training patches (`make_prior`), kept beside the checkpoint as `<checkpoints>/<ckpt stem>.coinpp/
  prior_s<steps>_b<bits>.json` (COIN++ keeps its quantiser's mean and std and its histogram with the model).

An image (H, W, C) is tiled into the run's P x P patches (reflect-padded at the bottom and the right to multiples
of P, then cut row by row: COIN++'s Patcher), each patch's code is fitted from zero by the run's meta-SGD steps
(more steps at encode time continue with the same learned step sizes), and every code entry is quantised by one
uniform quantiser on mean +- std_range x std of the training codes (COIN++'s Quantizer: one range for every
entry, 2^bits levels). Decoding renders each code on its patch's cell grid and crops the tiles back to (H, W).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate

from nfields.analysis.codec.container import CodecFileError
from nfields.analysis.codec.quantise import uniform_levels, uniform_values
from nfields.core.errors import CheckpointError, ConfigError
from nfields.core.media import as_float
from nfields.fields.base import Field
from nfields.fields.latents.meta import MetaSource
from nfields.lit.tto import decode, every_pixel, frozen, meta_codes
from nfields.run.build import as_config, build_datamodule, build_field
from nfields.run.exits import building
from nfields.run.resume import checkpoint_of, read_checkpoint, state_dict_mismatch
from nfields.run.trusted import MODULE_KEYS, check_stored_config
from nfields.tasks.fit import Fit

PATCHES = "nfields.data.patches.PatchesDataModule"
CHUNK = 256  # patches fitted and rendered together (a 32 x 32 patch is 1024 points)
STD_RANGE = 3.0  # COIN++'s default quantisation range, in standard deviations of the training codes


@dataclass
class MetaRun:
    """A meta-learned run's shared parts: the field, its meta source, the patch side it was trained on."""

    checkpoint: Path
    field: Field
    source: MetaSource
    patch: int
    channels: int

    @property
    def code_dim(self) -> int:
        return self.source.code_dim

    @property
    def folder(self) -> Path:
        """Where the run's priors (and the training codes they are measured on) are kept: beside the checkpoint."""
        return self.checkpoint.parent / f"{self.checkpoint.stem}.coinpp"

    def prior_path(self, steps: int, bits: int) -> Path:
        return self.folder / f"prior_s{steps}_b{bits}.json"

    def digest(self) -> int:
        """CRC-32 of the shared weights (field, then source, in state-dict order): which network a file needs."""
        crc = 0
        for module in (self.field, self.source):
            for t in module.state_dict().values():
                crc = zlib.crc32(t.detach().cpu().contiguous().numpy().tobytes(), crc)
        return crc


def load_meta_run(path: Path, searchpath: Sequence[str | Path] = ()) -> MetaRun:
    """The shared parts of a `model.latent_source=meta` run on `data=patches` (a run dir or a .ckpt), from the
    checkpoint alone (no data is read); anything else is refused in one line."""
    ckpt = checkpoint_of(path)
    meta = read_checkpoint(ckpt)  # weights_only
    config = check_stored_config(meta.get("nfields_config"), f"checkpoint {ckpt}", MODULE_KEYS, searchpath)
    cfg = as_config(config)
    model, data = cfg.get("model") or {}, cfg.get("data") or {}
    if model.get("latent_source") != "meta" or not cfg.get("cond"):
        raise CheckpointError(
            f"{ckpt}: COIN++ codes an image by a meta-learned run's codes; this run's latent source is "
            f"{model.get('latent_source')} (cond={'set' if cfg.get('cond') else 'none'}): train one with "
            "model.latent_source=meta and a cond"
        )
    if data.get("_target_") != PATCHES:
        raise CheckpointError(f"{ckpt}: COIN++ tiles an image into the run's patches: train it with data=patches")
    patch = int(data.get("size") or data.get("patch"))
    state = meta["state_dict"]
    with building(f"checkpoint {ckpt}: "):
        field = build_field(cfg, out_dim=3, own_code=False, in_dim=2)  # data=patches: always 3 channels
        source = instantiate(model.sources.meta)(code_dim=field.code_dim, n_train=1, channels=3)
    for prefix, module in (("field.", field), ("source.", source)):
        theirs = {k: v for k, v in state.items() if k.startswith(prefix)}
        if why := state_dict_mismatch({prefix + k: v for k, v in module.state_dict().items()}, theirs):
            raise CheckpointError(f"checkpoint {ckpt}: its weights do not fit the config it stores ({why})")
        module.load_state_dict({k.removeprefix(prefix): v for k, v in theirs.items()})
    return MetaRun(ckpt, field.eval(), source.eval(), patch, 3)


def tile(image: torch.Tensor, p: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """(H, W, C) -> patches (nh * nw, p, p, C), row by row, and the tile grid (nh, nw); the image is reflected
    at the bottom and the right up to multiples of p (COIN++'s Patcher; numpy's reflect repeats the reflection
    when the padding is longer than the image)."""
    h, w, c = image.shape
    nh, nw = -(-h // p), -(-w // p)
    padded = np.pad(image.cpu().numpy(), ((0, nh * p - h), (0, nw * p - w), (0, 0)), mode="reflect")
    tiles = torch.from_numpy(padded).reshape(nh, p, nw, p, c).permute(0, 2, 1, 3, 4)  # (nh, nw, p, p, C)
    return tiles.reshape(nh * nw, p, p, c), (nh, nw)


def untile(patches: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Patches (nh * nw, p, p, C) in tile's order -> the (h, w, C) image they cover (padding cropped)."""
    p, c = patches.shape[1], patches.shape[-1]
    nh, nw = -(-h // p), -(-w // p)
    if patches.shape[0] != nh * nw:
        raise ValueError(f"{patches.shape[0]} patches do not tile a {h}x{w} image by {p}x{p} ({nh * nw} do)")
    full = patches.reshape(nh, nw, p, p, c).permute(0, 2, 1, 3, 4).reshape(nh * p, nw * p, c)
    return full[:h, :w]


def fit_codes(run: MetaRun, patches: torch.Tensor, steps: int) -> torch.Tensor:
    """Patches (n, p, p, C) (uint8 levels or float in [0, 1]) -> their codes (n, code_dim) after `steps` meta-SGD
    steps from zero on every pixel (the run's learned step sizes, network frozen), CHUNK patches at a time."""
    out = []
    with frozen(run.field), frozen(run.source), torch.enable_grad():
        for i in range(0, patches.shape[0], CHUNK):
            obs = every_pixel(as_float(patches[i : i + CHUNK]).float())  # (b, p * p, C)
            codes, _ = meta_codes(run.field, run.source, Fit(), obs, steps, first_order=True)
            out.append(codes.detach())
    return torch.cat(out) if out else patches.new_zeros(0, run.code_dim, dtype=torch.float32)


@torch.no_grad()
def render(run: MetaRun, codes: torch.Tensor) -> torch.Tensor:
    """Codes (n, code_dim) -> the patches they decode to (n, p, p, C) float (not clamped), CHUNK at a time."""
    grid = (run.patch, run.patch)
    return torch.cat([decode(run.field, c, c.shape[0], grid) for c in codes.split(CHUNK)])


@dataclass
class Prior:
    """The shared quantiser and entropy model: uniform levels on [lo, hi] = mean -+ std_range * std of the
    training codes, and how often each of the 2^bits symbols occurred among them."""

    steps: int
    bits: int
    std_range: float
    mean: float
    std: float
    lo: float
    hi: float
    counts: list[int]
    patches: int  # training patches it was measured on
    weights: str = ""  # the digest (hex) of the shared weights it was measured with

    def symbols(self, codes: torch.Tensor) -> np.ndarray:
        """Codes (n, code_dim) -> symbols (n * code_dim,) in [0, 2^bits), row by row."""
        return uniform_levels(codes.double().cpu().numpy().reshape(-1), self.lo, self.hi, self.bits)

    def codes(self, symbols: np.ndarray, code_dim: int) -> torch.Tensor:
        """Symbols -> codes (n, code_dim) float32: the same float64 arithmetic on both sides of a file."""
        values = uniform_values(symbols, self.lo, self.hi, self.bits).astype(np.float32)
        return torch.from_numpy(values.reshape(-1, code_dim))

    def probabilities(self) -> np.ndarray:
        """The entropy model (2^bits,): the counts, a symbol never seen counted once (COIN++'s min_count), so
        every symbol can be coded."""
        counts = np.asarray(self.counts, dtype=np.float64)
        return np.where(counts > 0, counts, 1.0) / np.where(counts > 0, counts, 1.0).sum()

    def text(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def training_codes(run: MetaRun, steps: int, searchpath: Sequence = ()) -> torch.Tensor:
    """The codes (n, code_dim) of the run's training patches (its data, rebuilt from the stored config) after
    `steps`; cached beside the priors under the weights' digest, as every --bits measures the same codes."""
    cache = run.folder / f"codes_s{steps}_{run.digest():08x}.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    config = read_checkpoint(run.checkpoint)["nfields_config"]
    cfg = as_config(check_stored_config(config, f"checkpoint {run.checkpoint}", MODULE_KEYS, searchpath))
    with building(f"checkpoint {run.checkpoint}: reading its training patches: "):
        train = build_datamodule(cfg).splits["train"]
    patches = torch.stack([as_float(train.image(i)).float() for i in range(len(train))])  # (n, p, p, C)
    codes = fit_codes(run, patches, steps)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(codes, cache)
    return codes


def make_prior(run: MetaRun, steps: int, bits: int, std_range: float = STD_RANGE, searchpath: Sequence = ()) -> Prior:
    """The prior measured on the codes of the run's training patches."""
    codes = training_codes(run, steps, searchpath).double()
    mean, std = float(codes.mean()), float(codes.std())
    lo, hi = float(np.float32(mean - std_range * std)), float(np.float32(mean + std_range * std))
    prior = Prior(steps, bits, std_range, mean, std, lo, hi, [], len(codes), f"{run.digest():08x}")
    prior.counts = np.bincount(prior.symbols(codes), minlength=1 << bits).tolist()
    return prior


def prior_for(run: MetaRun, steps: int, bits: int, make: bool = True, searchpath: Sequence = ()) -> Prior:
    """The run's prior for (steps, bits): read from beside the checkpoint, or measured and written there
    (`make`: when there is none, or it was measured with weights the run has since replaced); a decoder never
    makes one: a missing or unreadable prior is one line (a stale one is caught by the file's digest)."""
    path = run.prior_path(steps, bits)
    prior = read_prior(path, steps, bits) if path.is_file() else None
    if make and (prior is None or prior.weights != f"{run.digest():08x}"):
        prior = make_prior(run, steps, bits, searchpath=searchpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(prior.text())
    if prior is None:
        raise CodecFileError(
            f"{path}: no prior for {steps} steps at {bits} bits beside this run's checkpoint; decode with the run "
            "the file was compressed with (its compress call wrote the prior there)"
        )
    return prior


def read_prior(path: Path, steps: int, bits: int) -> Prior:
    try:
        prior = Prior(**json.loads(path.read_text()))
    except (ValueError, TypeError) as e:
        raise CodecFileError(f"{path}: not a prior this codec wrote ({e}); delete it to measure it again") from None
    if (prior.steps, prior.bits, len(prior.counts)) != (steps, bits, 1 << bits):
        raise CodecFileError(f"{path}: holds steps={prior.steps}, bits={prior.bits}; delete it to measure it again")
    return prior


def check_steps_bits(steps: int, bits: int) -> None:
    if not (isinstance(steps, int) and 1 <= steps <= 255):
        raise ConfigError("--steps", steps, "must be an integer in 1..255 (meta-SGD steps per patch)")
    if not (isinstance(bits, int) and 2 <= bits <= 12):
        raise ConfigError("--bits", bits, "must be an integer in 2..12 (uniform levels per code entry; COIN++: 5, 6)")


def describe(run: MetaRun, prior: Prior) -> dict[str, Any]:
    """What a report says about the shared parts."""
    return {"checkpoint": str(run.checkpoint), "patch": run.patch, "code_dim": run.code_dim, **asdict(prior)}
