"""A fitted field as a file: per-tensor quantisation, entropy coding and the .nfc container (docs/compression.md)."""
