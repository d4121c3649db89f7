"""Herald correlator service."""
