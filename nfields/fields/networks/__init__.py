"""Coordinate networks, one module per configs/network option: an Activation (the non-linearity after each hidden
layer and its initialisation) on FieldNetwork's layers (base.py), with in_dim from the encoding."""
