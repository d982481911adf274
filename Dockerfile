# syntax=docker/dockerfile:1
# depositaja: one image for the API (`node dist/main.js [--no-processors]`) and the processors
# (`node dist/processor.js [--balance] [--threshold] [--flagger]`). See docs/docker.md.
ARG NODE_IMAGE=node:26-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Install scripts are skipped, as package.json's allowScripts denies them under npm 11: every
# native dependency (classic-level, @swc/core, esbuild, buf) ships a prebuilt binary.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json nest-cli.json ./
COPY scripts/build.ts ./scripts/
COPY scripts/lib/build-inputs.ts scripts/lib/class-names.ts ./scripts/lib/
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
# NODE_OPTIONS and MALLOC_ARENA_MAX: the node options and environment of src/config/node-flags.ts,
# which npm start passes.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=32 \
    MALLOC_ARENA_MAX=2 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
# The image's own Node runs the service: the copy of Node that npm ci installs for npm scripts
# (package.json's node-linux-* packages) is removed, 200 MB the image does not need.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
 && rm -rf node_modules/node-linux-* node_modules/.bin/node
COPY --from=build /app/dist ./dist
# A named volume mounted on /data starts with this folder's owner, so the service can write it;
# dist/.code-cache is where a start leaves V8's compiled code for the next (src/code-cache.ts).
RUN mkdir -p /data dist/.code-cache && chown node:node /data dist/.code-cache
# The image's unprivileged "node" user, by number so that the runtime needs no name lookup.
USER 1000:1000
EXPOSE 8080
# No curl in slim images; Node has fetch.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health/live').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
