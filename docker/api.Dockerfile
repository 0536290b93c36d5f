# syntax=docker/dockerfile:1
# The API image: FastAPI, the relearn CLI and the migrations. No torch, no CUDA.
#
#   docker build -f docker/api.Dockerfile -t relearn-api .
#   docker run -p 8000:8000 -e RELEARN_DATABASE_URL=... relearn-api
#   docker run relearn-api relearn db upgrade        # the one-shot migration
#
# The API refuses to start against a database that is not at the latest migration: run
# `relearn db upgrade` first (docker-compose.yml does, in its `migrate` service).

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /srv/relearn

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they
# change, not on every code change. The base dependencies only: no `worker` extra, so
# no torch.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# Then the code. Installed editable on purpose: `app.db.migrate` finds `alembic/` and
# `alembic.ini` beside the `app` package, which a regular install into site-packages
# would leave behind (and `relearn db upgrade` would find no migrations).
COPY README.md ./
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app
COPY worker ./worker
RUN pip install --no-deps -e . \
 && python -m compileall -q app alembic


FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    RELEARN_HOME=/var/lib/relearn
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/relearn --create-home relearn
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv/relearn /srv/relearn
WORKDIR /srv/relearn
USER 10001:10001

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# The ASGI app from its factory, as `relearn serve` runs it but without the embedded
# worker and migration: in a scaled deployment workers are their own containers and the
# schema is migrated by `relearn db upgrade`.
CMD ["uvicorn", "--factory", "app.api.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "30"]
