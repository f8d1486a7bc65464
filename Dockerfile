# The session gateway, with GraphiQL's assets baked in (no CDN needed at run time).
#   docker build -t session-gateway .
#   docker run -p 8000:8000 -e GATEWAY_JWT_SECRET=... -v gateway-data:/data session-gateway
# On PostgreSQL: -e GATEWAY_DATABASE_URL=postgresql://... ; two replicas behind nginx: compose.yaml.

FROM node:20-bookworm-slim AS node

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# npm fetches GraphiQL's pinned assets; install-graphiql checks them against their SRI hashes.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN python -m venv /venv \
    && /venv/bin/pip install . \
    && /venv/bin/gateway install-graphiql --dir /graphiql \
    && rm -rf /graphiql/package.json /graphiql/package-lock.json /root/.npm

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000 \
    GATEWAY_DATABASE_URL=/data/gateway.db \
    GATEWAY_GRAPHIQL_DIR=/app/graphiql \
    GATEWAY_GRAPHIQL_CDN=false
COPY --from=build /venv /venv
COPY --from=build /graphiql /app/graphiql
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin gateway \
    && mkdir /data && chown gateway /data
USER gateway
WORKDIR /app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8000')}/readyz\", timeout=2)"]
CMD ["gateway", "serve"]
