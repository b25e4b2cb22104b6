"""Input encodings: map coordinates (..., in_dim) in [0, 1]^d (nfields/core/coords.py) to features (..., out_dim)."""

from nfields.fields.encodings.base import Encoding

__all__ = ["Encoding"]
