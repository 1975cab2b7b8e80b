# syntax=docker/dockerfile:1
# A jobledger worker image, built once: `docker compose build` (or `docker build -t jobledger .`).
# The job types come from a configuration module mounted at /app/jobledger.config.mjs (see
# docker-compose.yml and examples/docker/); an application usually builds FROM its own code instead.

FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src src
COPY migrations migrations
# No `npm prune --omit=dev`: MikroORM is a peer dependency of the package, installed here as a dev
# one, and the worker needs it.
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY bin bin
USER node
# Exec form: the worker is the process Docker signals (with `init: true`, the direct child of the
# init process), so SIGTERM reaches it and it drains. Never `sh -c "... && node ..."` or npx.
CMD ["node", "bin/jobledger.js", "worker"]
