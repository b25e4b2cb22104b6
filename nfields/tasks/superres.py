"""task=superres: train on an area-downsampled image, render at full resolution, score vs the original.

The low-res image averages `factor` x `factor` blocks. The forward model is the same box
filter applied to the field: a low-res pixel observes the mean of the field at the
factor^2 full-resolution pixel centres of its block (the standard box forward model of
super-resolution), so the field is trained as the continuous image whose block means are
the observation, not as an image whose value at each block centre is the block mean. Bicubic upsampling of the low-res
image is reported beside the field as `<stage>/psnr_bicubic` (same pixels).
Every pixel is unobserved at full resolution: val/* and test/* score two disjoint
random halves of the covered area, the floor(H/f)*f x floor(W/f)*f pixels under whole
blocks. When H or W is not a multiple of f, the border rows/columns past the last block
are observed by no low-res pixel (extrapolation, not super-resolution), so like the SR
literature's crop to a multiple of the scale they are left out of psnr and psnr_bicubic
(both on the same pixels); psnr_all and ssim still see the whole image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nfields.core.checks import check_arg, integer
from nfields.core.errors import ConfigError
from nfields.tasks.base import FieldFn, Observation, Task, split_mask
from nfields.tasks.interpolate import nearest_up


class SuperRes(Task):
    name = "superres"
    # accepts_uint8 stays False (the Task default): it computes with colours (block means of floats in [0, 1])

    def __init__(self, factor: int = 2, seed: int = 0) -> None:
        check_arg("task.factor", factor, integer(lo=1))  # 2.5 is refused, not truncated: blocks are whole pixels
        super().__init__(seed)
        self.factor = factor

    def forward_model(self, field_fn: FieldFn, obs: Observation) -> torch.Tensor:
        """The field averaged over each low-res pixel's footprint: obs.coords (..., N, 2) block centres,
        obs.footprint (f*f, 2) -> (..., N, C), the mean of the field at the f^2 full-resolution pixel
        centres of each block."""
        coords, footprint = obs.points(), obs.footprint
        k = footprint.shape[0]
        pts = coords.unsqueeze(-2) + footprint.to(coords)  # (..., N, k, 2)
        out = field_fn(pts.flatten(-3, -2))  # (..., N*k, C)
        return out.unflatten(-2, (coords.shape[-2], k)).mean(-2)  # (..., N, C)

    def observe(self, image: torch.Tensor, key: int = 0) -> Observation:
        h, w, c = image.shape
        f = self.factor
        hl, wl = h // f, w // f
        if hl < 1 or wl < 1:
            raise ConfigError("task.factor", f, f"is larger than the image ({h}x{w}); use a smaller factor")
        x = image[: hl * f, : wl * f].permute(2, 0, 1)[None]  # (1, C, hl*f, wl*f): whole blocks only
        low = F.avg_pool2d(x, f)  # (1, C, hl, wl)
        v = (torch.arange(hl, dtype=torch.float32) * f + f / 2) / h  # block centres, full-image frame
        u = (torch.arange(wl, dtype=torch.float32) * f + f / 2) / w
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        coords = torch.stack([uu, vv], -1).reshape(-1, 2)  # (hl*wl, 2)
        a = torch.arange(f, dtype=torch.float32) + 0.5 - f / 2  # full-res pixel centres around a block centre
        dv, du = torch.meshgrid(a / h, a / w, indexing="ij")
        footprint = torch.stack([du, dv], -1).reshape(-1, 2)  # (f*f, 2) offsets in this image's frame
        small = low[0].permute(1, 2, 0)  # (hl, wl, C)
        bicubic = F.interpolate(low, size=(hl * f, wl * f), mode="bicubic", align_corners=False).clamp(0, 1)
        bicubic = F.pad(bicubic, (0, w - wl * f, 0, h - hl * f), mode="replicate")[0].permute(1, 2, 0)  # (h, w, C)
        covered = torch.zeros(h, w, dtype=torch.bool)  # (h, w): the pixels under whole blocks
        covered[: hl * f, : wl * f] = True
        val, test = split_mask(covered, self.generator(key))  # the same split as before when f divides h and w
        return Observation(
            values=small.reshape(-1, c),  # (hl*wl, C) block means, in the order of coords
            coords=coords,
            footprint=footprint,
            display=_pad_display(small, f, h, w),
            eval_mask=test,
            val_mask=val,
            baselines={"bicubic": bicubic},
        )


def _pad_display(small: torch.Tensor, f: int, h: int, w: int) -> torch.Tensor:
    """(h', w', C) -> (h, w, C) nearest upsampled; a border not covered by whole blocks stays black."""
    out = torch.zeros(h, w, small.shape[-1])
    up = nearest_up(small, f, h, w)
    out[: up.shape[0], : up.shape[1]] = up
    return out
