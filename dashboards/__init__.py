"""slawatch.dashboards."""
