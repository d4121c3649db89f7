"""Herald statuspage service."""
