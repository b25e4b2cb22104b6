"""task=fit: represent the image itself (train and evaluate on every pixel)."""

from nfields.tasks.base import Task as Fit

__all__ = ["Fit"]
