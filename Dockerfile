# syntax=docker/dockerfile:1
# One image for every leadfleet process: listener, workers, beat, flower, the metrics exporter,
# the `leadfleet` command and (demo only) the simulator. docker-compose.yml picks the command.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a virtualenv with the dependencies, then the project installed from /app ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/leadfleet
WORKDIR /app
# Dependencies first, from pyproject.toml alone, so a source change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/leadfleet/bin/pip install -r /tmp/requirements.txt
COPY . .
# Editable: the code reads config/ beside its packages, so it runs from /app, not site-packages.
RUN /opt/leadfleet/bin/pip install --no-deps -e . \
    && /opt/leadfleet/bin/python -m compileall -q shared cli listener workers analytics simulator

# -- runtime: the virtualenv and the source, owned by root, run as an unprivileged user ------------
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} leadfleet \
    && useradd --system --uid ${APP_UID} --gid leadfleet --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin leadfleet
COPY --from=build /opt/leadfleet /opt/leadfleet
COPY --from=build /app /app
# The only writable places; named volumes mounted here start with this ownership.
RUN mkdir -p /state/simulator /app/reports /app/logs /app/state \
    && chown -R leadfleet:leadfleet /state /app/reports /app/logs /app/state \
    && chmod 0755 /app/deploy/docker-entrypoint.sh
ENV PATH=/opt/leadfleet/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER leadfleet
# 9108 listener health and metrics, 9110 worker metrics exporter, 5555 flower,
# 8443 and 7443 the simulator (demo only).
EXPOSE 9108 9110 5555 8443 7443
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["leadfleet", "--help"]
