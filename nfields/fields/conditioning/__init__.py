"""Conditioning a field on a latent code: concat, FiLM, hypernetwork (cond=none: no conditioning)."""
