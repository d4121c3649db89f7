"""The `herald` operator command."""
