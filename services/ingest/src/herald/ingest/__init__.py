"""Herald ingest service."""
