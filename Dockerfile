# The session gateway on the embedded SQLite store.
#   docker build -t session-gateway .
#   docker run -p 8000:8000 -e GATEWAY_JWT_SECRET=... -v gateway-data:/data session-gateway
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000 \
    GATEWAY_DATABASE_URL=/data/gateway.db

WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app gateway \
    && mkdir /data && chown gateway /data

USER gateway
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}/healthz\", timeout=2)"]
CMD ["gateway", "serve"]
