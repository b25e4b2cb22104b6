"""Input encodings: map coordinates (..., 2) in [0, 1]^2 to features (..., out_dim)."""

from nfields.fields.encodings.base import Encoding

__all__ = ["Encoding"]
