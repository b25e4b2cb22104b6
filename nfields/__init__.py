"""nfields: config-driven neural fields on images."""

__version__ = "0.1.0"
