# The service as an image: `docker compose up --build` (compose.yaml) or `docker build -t alipay-service .`.
# Build stage: install from the lockfile under the project's install-script policy, compile with tsc, drop dev deps.
# Runtime stage: the compiled JS, production node_modules and package.json, run as the unprivileged `node` user.
# test/e2e/container-image.test.ts checks this file and runs its build and its CMD without a container engine
# (and builds and starts the image itself where an engine runs).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Node 20 bundles npm 10, which predates package.json "allowScripts" and would run every dependency's install
# script; the project's policy (and --strict-allow-scripts) needs npm 11.
RUN npm install -g npm@11.19.1
COPY package.json package-lock.json ./
RUN npm ci --strict-allow-scripts
COPY tsconfig.json tsconfig.build.json mikro-orm.config.ts ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
# HOST=0.0.0.0: the service listens on 127.0.0.1 by default, which nothing outside the container can reach.
# DATA_DIR holds generated keys for the local Alipay (and the embedded PostgreSQL when DATABASE_URL is unset).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/app/.data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 4000
# No curl in slim images: Node's fetch asks /readyz (200 once the service serves and PostgreSQL answers).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1: it handles SIGTERM (docker stop) by draining HTTP and closing the database pool.
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
