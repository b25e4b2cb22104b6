"""The zoo's signals on audio, video and volumes: which signals tune a method and which it is reported on, and a
method's Result from the single runs it made (scripts/zoo.py; images use data=image_set's train/ and test/).

A domain's signals come from a folder with train/ and test/ (each file, or for video each folder of frames, one
signal), or by cutting one source (a file, or the domain's generated default) along its first axis into 2 N equal
consecutive pieces: audio crops (data.offset, data.duration), video frame ranges, volume slabs along depth. The
even pieces tune, the odd ones are reported, so both halves span the source (the generated chirp rises in
frequency over time: tuning on its start and reporting on its end would compare unlike signals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from nfields.analysis.zoo import Result
from nfields.core.errors import DataError
from nfields.data.audio import AudioDataModule
from nfields.data.grid import GridDataModule
from nfields.data.video import VideoDataModule
from nfields.data.volume import VolumeDataModule

DIMS = {"audio": 1, "image": 2, "video": 3, "volume": 3}  # the coordinate width d of each domain
CUT_ALONG = {"audio": "samples", "video": "frames", "volume": "depth slices"}


@dataclass(frozen=True)
class Signal:
    name: str  # "samples 0-999", "frames 4-7", a file's name
    over: tuple[str, ...]  # the train.py overrides that select it ("data=audio", "data.offset=0.25", ...)


def signals(
    domain: str, n: int, out: Path, path: str | None = None, root: Path | None = None, size: int | None = None
) -> tuple[list[Signal], list[Signal]]:
    """(the N signals that tune, the N reported): the first N of root/train and root/test, else 2 N pieces of
    `path` (None: the domain's generated default), pieces 0, 2, 4, ... tuning and 1, 3, 5, ... reported. `size`
    is data.size: each signal's for a folder and for audio crops (samples), the source's before it is cut for
    video (the frames' side) and volumes (the volume's side). Pieces of video and volumes are written into
    out/signals/ (frames as .png, a slab as .npy: exact, as read)."""
    if root is not None:
        return tuple(from_folder(domain, root / split, n, size) for split in ("train", "test"))  # type: ignore[return-value]
    cut = {"audio": audio_pieces, "video": video_pieces, "volume": volume_pieces}[domain]
    pieces = cut(2 * n, out / "signals", path, size)
    return pieces[0::2], pieces[1::2]


def from_folder(domain: str, folder: Path, n: int, size: int | None) -> list[Signal]:
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))[:n]
    if len(entries) < n:
        raise DataError(f"{folder}: {len(entries)} signals, fewer than --images {n}; add signals or lower --images")
    extra = (f"data.size={size}",) if size else ()
    return [Signal(p.name, (f"data={domain}", f"data.path={p}", *extra)) for p in entries]


def piece_length(total: int, pieces: int, what: str) -> int:
    m = total // pieces
    if m < 1:
        raise DataError(f"--images: {what} has {total} {CUT_ALONG[what]}, too few for {pieces} pieces; lower --images")
    return m


def audio_pieces(pieces: int, out: Path, path: str | None, size: int | None) -> list[Signal]:
    """Crops of samples [k m, (k + 1) m) given as data.offset and data.duration (exact: whole samples)."""
    dm = AudioDataModule(path=path)
    t, rate = dm.shape[0], dm.rate
    m = piece_length(t, pieces, "audio")
    source = (f"data.path={path}",) if path else ()
    extra = (f"data.size={size}",) if size else ()
    return [
        Signal(
            f"samples {k * m}-{(k + 1) * m - 1}",
            ("data=audio", *source, f"data.offset={k * m / rate!r}", f"data.duration={m / rate!r}", *extra),
        )
        for k in range(pieces)
    ]


def video_pieces(pieces: int, out: Path, path: str | None, size: int | None) -> list[Signal]:
    """Frames [k m, (k + 1) m) of the clip (read at data.size), each piece a folder of .png frames."""
    clip = loaded(VideoDataModule(path=path, size=size))  # (T, H, W, C) uint8
    m = piece_length(clip.shape[0], pieces, "video")
    result = []
    for k in range(pieces):
        folder = out / f"{k:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(m):
            iio.imwrite(folder / f"{i:04d}.png", clip[k * m + i])
        result.append(Signal(f"frames {k * m}-{(k + 1) * m - 1}", ("data=video", f"data.path={folder}")))
    return result


def volume_pieces(pieces: int, out: Path, path: str | None, size: int | None) -> list[Signal]:
    """Slabs [k m, (k + 1) m) along depth of the volume (read at data.size), each an .npy: occupancy as bool,
    a numeric volume as its [0, 1] values (each slab is min-max scaled again when read)."""
    dm = VolumeDataModule(path=path, size=size)
    volume = loaded(dm)  # (D, H, W, C): occupancy 0/255 uint8, else float in [0, 1]
    occupancy = "iou" in dm.scores
    m = piece_length(volume.shape[0], pieces, "volume")
    out.mkdir(parents=True, exist_ok=True)
    result = []
    for k in range(pieces):
        slab = volume[k * m : (k + 1) * m]
        file = out / f"{k:02d}.npy"
        np.save(file, slab > 127 if occupancy else slab.astype(np.float32))
        result.append(Signal(f"depth {k * m}-{(k + 1) * m - 1}", ("data=volume", f"data.path={file}")))
    return result


def loaded(dm: GridDataModule) -> np.ndarray:
    dm.setup()
    return dm.signal.numpy()


def read_runs(dirs: list[Path], method: str, budget: int, task: str) -> Result:
    """The single runs of one method on the reported signals -> its Result: test PSNR and SSIM per signal, the
    domain's own scores (every other test/* metric: audio's snr, occupancy's iou), the mean steps/s, and the
    mean val PSNR against training time over the signals (each run's history.json)."""
    metrics = [json.loads((d / "metrics.json").read_text()) for d in dirs]
    keys = sorted({k for m in metrics for k in m if k.startswith("test/")} - {"test/psnr", "test/ssim"})
    rate = float(np.mean([m.get("perf/steps_per_s", float("nan")) for m in metrics]))
    curves = [{h["step"]: h["val/psnr"] for h in json.loads((d / "history.json").read_text())["val"]} for d in dirs]
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    return Result(
        method, budget, task, float(metrics[0]["model/params"]), [float(m["test/psnr"]) for m in metrics],
        [float(m["test/ssim"]) for m in metrics if "test/ssim" in m], rate,
        [(s / rate, float(np.mean([c[s] for c in curves]))) for s in steps],
        scores={k.split("/", 1)[1]: [float(m.get(k, float("nan"))) for m in metrics] for k in keys},
    )  # fmt: skip
