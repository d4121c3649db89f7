"""Herald shared library: contracts, configuration schema and service plumbing."""
