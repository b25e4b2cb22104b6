"""Callbacks: timing, image panels, the progress GIF and metrics.json."""
