"""Pictures of signals that are not images, for panels and the progress GIF: each -> (h, w, C) in [0, 1].

    audio  (T, C)          the waveform: per pixel column, the range of the samples it covers (channel 0)
    video  (T, H, W, C)    up to `frames` frames evenly spaced in time, side by side (each <= 512 wide)
    volume (D, H, W, C)    the middle slice across each axis (along depth, rows, columns), side by side

An image (H, W, C) is its own picture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nfields.core.media import as_float

GAP = 2  # pixels between the tiles of a strip
FRAME_WIDTH = 512  # a video frame's widest in a picture


def strip(tiles: list[torch.Tensor]) -> torch.Tensor:
    """(h_i, w_i, C) tiles side by side, top-aligned, on white -> (max h, sum w + gaps, C)."""
    h, c = max(t.shape[0] for t in tiles), tiles[0].shape[-1]
    w = sum(t.shape[1] for t in tiles) + GAP * (len(tiles) - 1)
    out = torch.ones(h, w, c)
    x = 0
    for t in tiles:
        out[: t.shape[0], x : x + t.shape[1]] = t.float()
        x += t.shape[1] + GAP
    return out


def waveform(samples: torch.Tensor, width: int = 512, height: int = 128) -> torch.Tensor:
    """(T, C) in [0, 1] -> (height, width, 1): dark where the samples of each column's time span lie (channel 0),
    value 1 at the top; a mid-grey line marks 0.5 (silence of [-1, 1] audio)."""
    x = samples[:, 0].float().clamp(0, 1)
    t = x.shape[0]
    width = max(1, min(width, t))
    edges = torch.linspace(0, t, width + 1).long()  # (width + 1,) sample boundaries of each column
    img = torch.ones(height, width, 1)
    img[round((height - 1) * 0.5), :, 0] = 0.75
    for col in range(width):
        part = x[edges[col] : max(edges[col + 1], edges[col] + 1)]
        top, bottom = (round((height - 1) * (1 - float(v))) for v in (part.max(), part.min()))
        img[top : bottom + 1, col, 0] = 0.0
    return img


def frame_picks(t: int, frames: int = 4) -> list[int]:
    """The frames of a clip of t frames that frames_strip shows: min(t, frames), evenly spaced in time, first and
    last included (so the picks of the picked frames are all of them: a picture of those frames alone is the same)."""
    k = min(frames, t)
    return [round(i * (t - 1) / max(1, k - 1)) for i in range(k)]


def shrink(frame: torch.Tensor, max_width: int = FRAME_WIDTH) -> torch.Tensor:
    """(H, W, C) uint8 or in [0, 1] -> the frame in [0, 1], area-averaged to at most `max_width` columns (aspect
    kept); narrower ones as they are. One frame at a time: a uint8 clip is never converted to float whole."""
    h, w = frame.shape[:2]
    frame = as_float(frame).float()
    if w <= max_width:
        return frame
    size = (max(1, round(h * max_width / w)), max_width)
    return F.interpolate(frame.permute(2, 0, 1)[None], size=size, mode="area")[0].permute(1, 2, 0)


def frames_strip(video: torch.Tensor, frames: int = 4, max_width: int = FRAME_WIDTH) -> torch.Tensor:
    """(T, H, W, C) -> up to `frames` frames at evenly spaced times, side by side, each at most `max_width`
    columns wide (a panel of 1280x720 frames would otherwise be 5126 pixels wide and cost ~45 MB per picture)."""
    return strip([shrink(video[i], max_width) for i in frame_picks(video.shape[0], frames)])


def middle_slices(volume: torch.Tensor) -> torch.Tensor:
    """(D, H, W, C) -> the middle slice across depth (H, W), rows (D, W) and columns (D, H), side by side."""
    d, h, w = volume.shape[:3]
    return strip([volume[d // 2].float(), volume[:, h // 2].float(), volume[:, :, w // 2].float()])


def view(signal: torch.Tensor, domain: str) -> torch.Tensor:
    """A picture of `signal` (*shape, C) in [0, 1] or uint8 of `domain` (audio, image, video, volume) -> (h, w, C)
    in [0, 1] (a video's frames are converted one by one)."""
    if domain == "video":
        return frames_strip(signal)
    signal = as_float(signal)
    if domain == "audio":
        return waveform(signal)
    if domain == "volume":
        return middle_slices(signal)
    return signal


def picture_rows(n: int, domain: str) -> list[int] | None:
    """The indices along array axis 0 (of n) that the picture of a `domain` signal reads: a video's shown frames
    (its picture is view() of those frames alone); None: every one (audio, images, volumes)."""
    return frame_picks(n) if domain == "video" else None


def column(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    """(h1, w1, 3) above (h2, w2, 3), left-aligned on white -> (h1 + gap + h2, max w, 3)."""
    out = torch.ones(top.shape[0] + GAP + bottom.shape[0], max(top.shape[1], bottom.shape[1]), 3)
    out[: top.shape[0], : top.shape[1]] = top
    out[top.shape[0] + GAP :, : bottom.shape[1]] = bottom
    return out
