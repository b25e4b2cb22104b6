"""Latent codes for conditional fields: layouts (global, local, hybrid) and sources (autodecoder, encoder, meta)."""
