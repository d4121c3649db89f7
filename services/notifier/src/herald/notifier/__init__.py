"""Herald notifier service."""
