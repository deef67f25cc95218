"""slawatch.agents."""
