"""The whole Herald stack on one machine, for `make run` and the end-to-end tests.

Not shipped in any image: containers and Kubernetes run each service on its own.
"""
