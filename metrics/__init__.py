"""slawatch.metrics."""
