"""Lightning modules."""
