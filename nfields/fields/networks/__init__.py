"""Coordinate networks: MLP (ReLU) and SIREN (sine), built with in_dim from the encoding."""
