# syntax=docker/dockerfile:1
#
# One image per service, one target per service:
#
#   docker build --target ingest     -t herald-ingest .
#   docker build --target correlator -t herald-correlator .
#   docker build --target notifier   -t herald-notifier .
#   docker build --target statuspage -t herald-statuspage .
#
# Each image holds only its own workspace package and herald-shared, installed from
# uv.lock (`uv sync --frozen`), without dev dependencies, as a non-editable venv.
# tests/deploy/test_compose.py checks that the targets, ports and probes below agree
# with compose.yaml and the Kubernetes manifests.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# ---------------------------------------------------------------------------------------
# builder: third-party dependencies first (cached until uv.lock or a pyproject changes),
# then the workspace packages themselves.
FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/herald/venv
WORKDIR /src
# uv resolves the whole workspace from the lock, so every member's pyproject.toml is needed,
# but only the sources of the package being installed.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml
COPY cli/pyproject.toml cli/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/correlator/pyproject.toml services/correlator/pyproject.toml
COPY services/notifier/pyproject.toml services/notifier/pyproject.toml
COPY services/statuspage/pyproject.toml services/statuspage/pyproject.toml

FROM builder AS build-ingest
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package herald-ingest
COPY shared/src shared/src
COPY services/ingest/src services/ingest/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package herald-ingest

FROM builder AS build-correlator
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package herald-correlator
COPY shared/src shared/src
COPY services/correlator/src services/correlator/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package herald-correlator

FROM builder AS build-notifier
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package herald-notifier
COPY shared/src shared/src
COPY services/notifier/src services/notifier/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package herald-notifier

FROM builder AS build-statuspage
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package herald-statuspage
COPY shared/src shared/src
COPY services/statuspage/src services/statuspage/src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package herald-statuspage

# ---------------------------------------------------------------------------------------
# runtime: the same Python as the builder (the venv links to it), no uv, no compiler,
# an unprivileged user, a read-only-friendly filesystem (bytecode compiled at build time).
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 herald \
    && useradd --system --uid 10001 --gid herald --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin herald
ENV PATH=/opt/herald/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HERALD_HOST=0.0.0.0 \
    HERALD_CONFIG=/etc/herald/herald.yaml \
    NATS_URL=nats://nats:4222 \
    REDIS_URL=redis://redis:6379/0
WORKDIR /opt/herald
USER 10001:10001
STOPSIGNAL SIGTERM

FROM runtime AS ingest
COPY --from=build-ingest /opt/herald/venv /opt/herald/venv
ENV HERALD_INGEST_PORT=8081
# the internal port: /healthz, /readyz, /metrics (never on the public one)
ENV HERALD_INGEST_INTERNAL_PORT=9081
EXPOSE 8081
EXPOSE 9081
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9081/healthz', timeout=2)"]
CMD ["python", "-m", "herald.ingest"]

FROM runtime AS correlator
COPY --from=build-correlator /opt/herald/venv /opt/herald/venv
ENV HERALD_CORRELATOR_PORT=8082
# the internal port: /healthz, /readyz, /metrics (never on the public one)
ENV HERALD_CORRELATOR_INTERNAL_PORT=9082
EXPOSE 8082
EXPOSE 9082
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9082/healthz', timeout=2)"]
CMD ["python", "-m", "herald.correlator"]

FROM runtime AS notifier
COPY --from=build-notifier /opt/herald/venv /opt/herald/venv
ENV HERALD_NOTIFIER_PORT=8083
# the internal port: /healthz, /readyz, /metrics (never on the public one)
ENV HERALD_NOTIFIER_INTERNAL_PORT=9083
EXPOSE 8083
EXPOSE 9083
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9083/healthz', timeout=2)"]
CMD ["python", "-m", "herald.notifier"]

FROM runtime AS statuspage
COPY --from=build-statuspage /opt/herald/venv /opt/herald/venv
ENV HERALD_STATUSPAGE_PORT=8080
# the internal port: /healthz, /readyz, /metrics (never on the public one)
ENV HERALD_STATUSPAGE_INTERNAL_PORT=9080
EXPOSE 8080
EXPOSE 9080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9080/healthz', timeout=2)"]
CMD ["python", "-m", "herald.statuspage"]
