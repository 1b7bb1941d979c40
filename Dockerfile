# cursor-api in a container (README, Runbook):
#   docker build -t cursor-api .
#   docker run -d -p 3000:3000 -e AUTH_TOKEN=... -v cursor-api:/data --stop-timeout 40 cursor-api
FROM python:3.12-slim AS build
WORKDIR /src
COPY setup.cfg pyproject.toml README.md LICENSE .env-example .token.example ./
COPY cursor_api ./cursor_api
COPY pages ./pages
COPY static ./static
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json \
    SHUTDOWN_GRACE_S=30
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 cursor-api \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin cursor-api \
    && mkdir /data \
    && chown cursor-api:cursor-api /data
# The token files and /config state: keep them in a volume across upgrades.
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]
CMD ["cursor-api"]
