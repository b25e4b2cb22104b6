"""Field.reusing: the passes of one step on the same points share the field's code-independent part (the encoded
coordinates; cond=film: the first layer's product on them; cond=concat: that of the first layer's feature columns
and of the skip), computed once, with the same results and gradients as computing it in every pass (a meta step:
k inner passes and the outer one)."""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from nfields.lit.tto import meta_codes
from nfields.run.build import build_datamodule, build_module
from tests.test_conditioning import B, N, make_field, perturb
from tests.test_meta import META, hand_meta_sgd, outer_grads, tiny_images


def counting(module: torch.nn.Module) -> list[int]:
    """A one-element list that counts the module's forward calls."""
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


class PointProducts(TorchDispatchMode):
    """Counts the matrix products that take the points' features: an input of `rows` points by `width` columns (the
    first layer's product, on F feature columns, or on F + P when the code is concatenated)."""

    def __init__(self, rows: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.rows, self.widths, self.count = rows, widths, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func in (torch.ops.aten.mm.default, torch.ops.aten.addmm.default):
            x = args[1] if func is torch.ops.aten.addmm.default else args[0]  # (rows, width) @ (width, out)
            self.count += x.shape[0] == self.rows and x.shape[1] in self.widths
        return func(*args, **(kwargs or {}))


COND = {  # the conditionings whose cond.inputs hold the first layer's product
    "film": ["cond=film", "cond.identity_init=false"],  # META's
    "concat": ["cond=concat"],  # with the mid-layer skip: its feature columns are shared too
}


def meta_module(make_cfg, cond: str):
    """META's module with cond, at float64; 24 neurons, so no hidden layer's product looks like the first one's
    (F = 16 features)."""
    torch.manual_seed(0)
    cfg = make_cfg(*[o for o in META if not o.startswith("cond")], *COND[cond], "network.n_neurons=24")
    return build_module(cfg, build_datamodule(cfg)).double()  # float64, as tiny_module


@pytest.mark.parametrize("cond", COND)
@pytest.mark.parametrize("first_order", [False, True])
def test_a_meta_step_sharing_its_first_layer_matches_a_hand_written_meta_sgd_step(
    make_cfg, first_order: bool, cond: str
) -> None:
    """The training objective (data_loss: the shared first-layer product) has the gradients of plain meta-SGD, one
    signal at a time, at float64, and encodes the points and takes the first layer's product on them once for the
    k inner passes and the outer one."""
    module = meta_module(make_cfg, cond)
    module.source.first_order = first_order
    obs = tiny_images()
    with torch.no_grad():  # distinct step sizes per entry, so a mix-up of entries shows
        module.source.step_sizes.copy_(torch.linspace(0.05, 0.5, module.source.code_dim))
    encoded, f = counting(module.field.encoding), module.field.encoding.out_dim
    b, n, k = *obs.values.shape[:2], module.source.inner_steps
    with PointProducts(b * n, (f, f + module.field.latent.point_dim)) as products:
        _, loss = module.data_loss({"observed": obs}, obs)
    assert encoded[0] == products.count == 1  # once, where every pass computes them outside the block (k + 1 times)
    assert module.field.kept_inputs is None and not module.field.reuse  # dropped with the step
    with PointProducts(b * n, (f, f + module.field.latent.point_dim)) as products:
        codes, _ = meta_codes(module.field, module.source, module.task, obs)  # outside the block
        module.task.loss(lambda c: module.field(c, codes), obs)
    assert products.count == k + 1  # what the count tells apart: a product in every pass
    ours = outer_grads(module, loss)
    theirs = outer_grads(module, hand_meta_sgd(module, obs, k, first_order))
    for name in ours:
        assert torch.allclose(ours[name], theirs[name], rtol=1e-9, atol=1e-12), name
    assert ours["field.network.hidden.0.weight"].ne(0).any()  # the shared product's weights learn
    if cond == "concat":
        assert ours["field.cond.mid.weight"].ne(0).any()  # and the skip's


def test_a_trainable_encoding_gets_the_gradient_of_every_pass(make_cfg) -> None:
    """encoding=hashgrid: its features are shared within the step's graph, not detached, so its tables get the
    same gradient as when every pass encodes the points itself."""
    torch.manual_seed(0)
    over = [o for o in META if not o.startswith("encoding.")]  # the Fourier keys: a hash grid has none
    cfg = make_cfg(*over, "encoding=hashgrid", "encoding.n_levels=2", "encoding.log2_hashmap_size=6")
    module = build_module(cfg, build_datamodule(cfg)).double()
    obs = tiny_images()
    _, shared = module.data_loss({"observed": obs}, obs)
    codes, _ = meta_codes(module.field, module.source, module.task, obs)  # outside the block: every pass encodes
    apart = module.task.loss(lambda c: module.field(c, codes), obs)
    ours, theirs = outer_grads(module, shared), outer_grads(module, apart)
    tables = [k for k in ours if k.startswith("field.encoding.")]
    assert tables and all(ours[k].ne(0).any() for k in tables)
    for k in ours:
        assert torch.allclose(ours[k], theirs[k], rtol=1e-9, atol=1e-12), k


@pytest.mark.parametrize("cond", ["film", "film_shift_only", "concat", "hypernet"])
def test_passes_in_a_block_give_what_they_give_outside_it(cond: str) -> None:
    """Same coordinates, other codes: the same outputs as without the block, the inputs computed once;
    coordinates changed in place, or the same coordinates with another number of codes, are computed afresh."""
    field = make_field(cond, "global")
    perturb(field)
    coords, other = torch.rand(B, N, 2), torch.rand(B, N, 2)
    flat = other[0]  # (N, 2): one grid for every code
    codes = [torch.randn(B, field.code_dim) for _ in range(3)]
    expect = [field(coords, z) for z in codes]
    expect_moved, expect_flat = field(coords + 0.25, codes[0]), field(flat, codes[1][:2])
    encoded = counting(field.encoding)
    with field.reusing():
        got = [field(coords, z) for z in codes]
        assert encoded[0] == 1
        with torch.no_grad():
            coords.add_(0.25)  # in place: the kept inputs are stale
        assert torch.equal(field(coords, codes[0]), expect_moved)
        field(flat, codes[0])  # kept for 3 codes
        assert torch.equal(field(flat, codes[1][:2]), expect_flat)  # 2 codes: computed afresh
        assert encoded[0] == 4
    for a, b in zip(got, expect, strict=True):
        assert torch.equal(a, b)


def test_inputs_computed_without_their_graph_are_not_kept() -> None:
    """A pass under no_grad inside the block (a render) does not hand a later training pass inputs without a graph:
    the first layer still gets its gradient."""
    field = make_field("film", "global")
    coords, z = torch.rand(B, N, 2), torch.randn(B, field.code_dim)
    with field.reusing():
        with torch.no_grad():
            field(coords, z)
        field(coords, z).sum().backward()
    assert field.network.hidden[0].weight.grad is not None and field.network.hidden[0].weight.grad.ne(0).any()
