# streamproc worker image.
#
#   docker build -t streamproc:local .
#   docker run --rm -e STREAMPROC_KAFKA_BOOTSTRAP=kafka:9092 -e STREAMPROC_REDACTION__KEY=... \
#       -v streamproc-data:/var/lib/streamproc streamproc:local            # = streamproc worker
#
# Every dependency ships a manylinux wheel for CPython 3.11 (confluent-kafka, rocksdict, orjson,
# fastavro, ...), so no compiler is installed. Settings are STREAMPROC_* environment variables;
# see docs/OPERATIONS.md.

ARG PYTHON_IMAGE=python:3.11.15-slim

# ----------------------------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, read from pyproject.toml and pinned by constraints.txt (the tested set):
# a source change reuses this layer.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
    && pip check

# --------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STREAMPROC_DATADIR=/var/lib/streamproc

RUN groupadd --system --gid "${UID}" streamproc \
    && useradd --system --uid "${UID}" --gid streamproc --no-create-home \
        --home-dir /var/lib/streamproc --shell /usr/sbin/nologin streamproc \
    && mkdir -p /var/lib/streamproc /app/config \
    && chown streamproc:streamproc /var/lib/streamproc

COPY --from=build /opt/venv /opt/venv

# The default STREAMPROC_PIPELINES, config/pipelines.yaml, is relative to this directory.
WORKDIR /app
COPY config/ /app/config/

# Numeric, so runtimes that require a non-root UID (runAsNonRoot) can verify it.
USER ${UID}:${UID}

# RocksDB tables (rebuilt from the changelog topics when empty). Mount a volume.
VOLUME ["/var/lib/streamproc"]

# /metrics (Prometheus), /livez, /readyz
EXPOSE 6066

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('STREAMPROC_WEB_PORT', '6066'), timeout=4)"]

ENTRYPOINT ["streamproc"]
CMD ["worker"]
