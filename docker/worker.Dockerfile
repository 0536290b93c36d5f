# syntax=docker/dockerfile:1
# The GPU worker image: relearn with the `worker` extra (torch with CUDA), running one
# Celery worker (solo pool) per container.
#
#   docker build -f docker/worker.Dockerfile -t relearn-worker .
#   docker run --gpus all -e RELEARN_DATABASE_URL=... -e RELEARN_BROKER_URL=... relearn-worker
#
# One container drives one GPU (docker-compose.yml reserves one): for more GPUs on one
# machine add worker services pinned with `device_ids`, or run workers on more machines,
# all against the same database, broker and bucket.
#
# The CUDA libraries come with the torch wheel (the nvidia-* packages from the PyTorch
# index); the nvidia/cuda *base* image adds the NVIDIA container runtime settings and
# the driver requirement label without a second copy of those libraries. To change the
# CUDA version, change both build arguments together (e.g. 12.6.3 with .../whl/cu126).

ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04

FROM ${CUDA_IMAGE}
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_REQUIREMENT="torch>=2.4,<3"
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    RELEARN_HOME=/var/lib/relearn \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# Ubuntu 24.04's Python is 3.12 (relearn needs >= 3.11); a venv, as PEP 668 asks.
# Unpinned on purpose: the release's current (security-patched) packages.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/relearn --create-home relearn

# torch with CUDA from the PyTorch index first (PyPI's default build may differ), then
# the rest; the `worker` extra's torch requirement is then already satisfied. Pin it
# with --build-arg TORCH_REQUIREMENT=torch==X.Y.Z for reproducible images.
# hadolint ignore=DL3013
RUN pip install --index-url "${TORCH_INDEX_URL}" "${TORCH_REQUIREMENT}"

WORKDIR /srv/relearn
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['worker']))" > /tmp/requirements.txt \
 && pip install --extra-index-url "${TORCH_INDEX_URL}" -r /tmp/requirements.txt

# Editable, as in the API image: the worker checks the database's schema revision
# against `alembic/`, which must sit beside the `app` package.
COPY README.md alembic.ini ./
COPY alembic ./alembic
COPY app ./app
COPY worker ./worker
RUN pip install --no-deps -e . \
 && python -m compileall -q app worker alembic

USER 10001:10001
# RELEARN_DEVICE=auto: the container's first visible GPU, else the CPU.
# `relearn worker` replaces itself with Celery (exec), so Celery gets SIGTERM directly
# and shuts down warmly: the running job finishes (give it time: stop_grace_period).
CMD ["relearn", "worker", "--loglevel", "INFO"]
