# metrics-service: `metrics-service serve` as a non-root user, data in the /var/lib/metrics-service volume.
# HOST is 0.0.0.0 here, so authentication is on by default (README: Security): the container refuses to
# start until it gets JWT_SECRET (openssl rand -hex 32), JWT_PUBLIC_KEY, JWT_JWKS_URL or API_KEYS_FILE.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /app
COPY pyproject.toml README.md rules.yaml ./
COPY engine ./engine
COPY server ./server
COPY console ./console
COPY demo ./demo
COPY dashboards ./dashboards
# Installed in place: the engine finds the shipped rules.yaml and dashboards/ next to its packages.
RUN /opt/venv/bin/pip install -e . && /opt/venv/bin/python -m compileall -q /app

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 metrics \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/metrics-service --no-create-home \
       --shell /usr/sbin/nologin metrics \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/metrics-service
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/metrics-service \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/var/lib/metrics-service \
    NODE_ENV=production
USER 10001:10001
WORKDIR /var/lib/metrics-service
VOLUME ["/var/lib/metrics-service"]
EXPOSE 3000
# slim has no curl: the image's own Python asks /livez (open without credentials unless METRICS_AUTH).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["metrics-service", "serve"]
