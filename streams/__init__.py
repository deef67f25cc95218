"""slawatch.streams."""
