# Hourglass in a container, one image for every role: `docker run IMAGE gateway|rollup|query|all`.
# docker-compose.yml builds it for the distributed stack.
#
# Two stages: better-sqlite3 compiles from source (python3, make, g++), which the runtime image
# does not need to carry; the runtime stage gets the built dist/ and production node_modules only.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY core ./core
COPY gateway ./gateway
COPY bus ./bus
COPY rollup ./rollup
COPY store ./store
COPY query ./query
COPY runtime ./runtime
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    STATSD_ADDRESS=0.0.0.0:8125 \
    HTTP_ADDRESS=0.0.0.0:8080
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# DATA_DIR holds the gateway spool (and the SQLite store of the all role). Owned by the
# unprivileged user the process runs as, so a named volume mounted there inherits it.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8125/udp 8125/tcp 8080/tcp
# /healthz on the HTTP port of HTTP_ADDRESS (every role serves it); the image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_ADDRESS || ':8080').split(':').pop() + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node as PID 1 receives SIGTERM itself; hourglass handles it (flush, then exit 0).
ENTRYPOINT ["node", "bin/hourglass.js"]
CMD ["all"]
