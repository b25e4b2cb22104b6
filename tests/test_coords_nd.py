"""Cell-centre coordinates in d dimensions (nfields/core/coords.py) and the networks on d = 1 and d = 3 inputs."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from nfields.core.coords import cell_grid, flat_cell_coords, flat_pixel_coords, pixel_grid
from nfields.fields.networks.finer import Finer
from nfields.fields.networks.gauss import Gauss
from nfields.fields.networks.mlp import MLP
from nfields.fields.networks.siren import Siren
from nfields.fields.networks.wire import Wire


@pytest.mark.parametrize("h, w", [(1, 1), (5, 7), (20, 18), (13, 1)])
def test_the_image_case_is_pixel_grid_bit_for_bit(h: int, w: int) -> None:
    assert torch.equal(cell_grid((h, w)), pixel_grid(h, w))
    # pixel_grid is cell_grid's 2-D case: both hold the image convention, pixel (i, j) at ((j + .5) / w, (i + .5) / h)
    v, u = (torch.arange(h, dtype=torch.float32) + 0.5) / h, (torch.arange(w, dtype=torch.float32) + 0.5) / w
    assert torch.equal(pixel_grid(h, w), torch.stack(torch.meshgrid(u, v, indexing="xy"), dim=-1))
    flat = torch.randperm(h * w)[: max(1, h * w // 2)]
    assert torch.equal(flat_cell_coords(flat, (h, w)), flat_pixel_coords(flat, h, w))


def test_audio_coordinates_are_sample_centres() -> None:
    t = cell_grid((8,))
    assert t.shape == (8, 1) and t.dtype == torch.float32
    assert torch.allclose(t[:, 0], (torch.arange(8) + 0.5) / 8)


def test_video_and_volume_coordinates_run_last_axis_first() -> None:
    """(T, H, W) -> (u, v, t); (D, H, W) -> (x, y, z): coordinate k varies along array axis d - 1 - k only."""
    shape = (3, 4, 5)
    g = cell_grid(shape)
    assert g.shape == (3, 4, 5, 3)
    # cell (t, row, column) = (2, 1, 4) is at (u, v, t)
    assert torch.equal(g[2, 1, 4], torch.tensor([(4 + 0.5) / 5, (1 + 0.5) / 4, (2 + 0.5) / 3]))
    for k in range(3):
        axis = 2 - k
        varies = g[..., k].diff(dim=axis)
        assert (varies > 0).all() and torch.allclose(varies, torch.tensor(1 / shape[axis]))
        for other in {0, 1, 2} - {axis}:
            assert (g[..., k].diff(dim=other) == 0).all()
    # every frame of a video has the image's coordinates in its first two columns
    for t in range(3):
        assert torch.equal(g[t, ..., :2], pixel_grid(4, 5))


@pytest.mark.parametrize("shape", [(9,), (4, 6), (2, 3, 5), (2, 2, 3, 2)])
def test_flat_indices_give_the_grids_coordinates(shape: tuple[int, ...]) -> None:
    grid = cell_grid(shape).reshape(-1, len(shape))
    flat = torch.randperm(grid.shape[0])
    assert torch.equal(flat_cell_coords(flat, shape), grid[flat])
    assert ((grid > 0) & (grid < 1)).all()


def test_twice_the_density_averages_to_the_coarse_centres() -> None:
    """A 2^d block of a grid twice as dense averages to the centre of the coarse cell it covers (renders at 2x)."""
    fine = cell_grid((4, 6, 2))  # (T, H, W) of a 2 x 3 x 1 grid at twice the density
    blocks = fine.reshape(2, 2, 3, 2, 1, 2, 3).mean(dim=(1, 3, 5))
    torch.testing.assert_close(blocks, cell_grid((2, 3, 1)), atol=1e-7, rtol=0)


@pytest.mark.parametrize("shape", [(), (0,), (3, -1)])
def test_bad_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="one or more positive sizes"):
        cell_grid(shape)


NETS = {"mlp": MLP, "siren": Siren, "wire": partial(Wire, s_0=5.0), "gauss": partial(Gauss, s=1.0), "finer": Finer}


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("name", NETS)
def test_networks_take_d_dimensional_coordinates(name: str, d: int) -> None:
    """On raw coordinates (encoding=none: in_dim = d) each network builds, maps (..., d) -> (..., C), and passes
    finite, nonzero gradients to every parameter and to the coordinates."""
    torch.manual_seed(0)
    net = NETS[name](in_dim=d, out_dim=3, n_neurons=16, n_hidden_layers=2)
    x = (2 * cell_grid((5,) * d) - 1).reshape(-1, d).requires_grad_()  # the c = 2u - 1 the field hands them
    y = net(x)
    assert y.shape == (5**d, 3) and torch.isfinite(y).all()
    assert net(x.detach()[None].expand(2, -1, -1)).shape == (2, 5**d, 3)  # leading dims
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for n, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n
