"""Support for the end-to-end test with real Prometheus and Alertmanager (test_prometheus.py):
the shipped deploy/ rules and routing, time-compressed; the processes; a recording relay in
front of ingest; a timestamped recorder for SSE events, pages and deliveries."""
