"""Tasks decide what is observed (training pixels) and what is evaluated."""
