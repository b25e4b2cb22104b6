"""Which quantiser each tensor of a field gets: one uniform quantiser at --bits for every tensor, or a
representation's own scheme where its paper has one.

`auto` (the default) gives 2-D Gaussians GaussianImage's (Zhang et al. 2024; Xinjie-Q/GaussianImage
gaussianimage_cholesky.py, `quantize=True`): positions in fp16 (its FakeQuantizationHalf on _xyz), the Cholesky
factors uniform at 6 bits (its UniformQuantizer(bits=6); one range for the tensor here, where it learns a scale
and offset per factor) and the colours by residual vector quantisation, 2 stages of 8 codewords (its
VectorQuantizer(codebook_size=8, num_quantizers=2)); every other field, and `uniform`, quantise every tensor
alike at --bits (16: fp16). --bits then sets nothing for the Gaussians.
"""

from __future__ import annotations

from nfields.analysis.codec.quantise import Spec
from nfields.core.errors import ConfigError
from nfields.fields.base import Field
from nfields.fields.gaussians import GaussianField

SCHEMES = ("auto", "uniform")
GAUSSIAN_IMAGE: dict[str, Spec] = {"xy": ("fp16",), "cholesky": ("uniform", 6), "colour": ("rvq", 2, 8)}


def tensor_specs(field: Field, scheme: str = "auto") -> dict[str, Spec]:
    """Parameter name -> its own quantiser; a name not listed is quantised uniformly at --bits."""
    if scheme not in SCHEMES:
        raise ConfigError("--scheme", scheme, f"must be one of {', '.join(SCHEMES)}")
    return dict(GAUSSIAN_IMAGE) if scheme == "auto" and isinstance(field, GaussianField) else {}
