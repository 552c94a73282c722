# syntax=docker/dockerfile:1
# The image of every service, built from the repository root with the service's folder name:
#   docker build --build-arg SERVICE=patients -t pep/patients .
#   docker build --build-arg SERVICE=gateway --build-arg PORT=3000 -t pep/gateway .
# PORT is where the service listens and what the image exposes (8080 unless given; the gateway's is 3000).
# docker-compose.yml passes both. A new service needs no Dockerfile of its own.

# Node 24, the LTS line, pinned to a release so that rebuilding a commit gives the runtime it was tested on.
# Raise it on purpose (and the minimum in package.json's engines if the code starts to need it).
ARG NODE_IMAGE=node:24.21.0-trixie-slim

# npm ci needs every workspace's package.json (the lockfile covers them all). This stage
# keeps only those, so the install layers below are rebuilt when dependencies change and
# not on every source edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages ./packages
COPY services ./services
RUN find packages services -type f ! -regex '\(packages\|services\)/[^/]*/package\.json' -delete \
 && find packages services -depth -mindepth 1 -type d -empty -delete

# Dependencies' install scripts only fetch Prisma's native engines, which nothing here
# uses: generate runs without them and the client talks to Postgres via a driver adapter.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /app ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM deps AS build
ARG SERVICE
ENV NX_DAEMON=false \
    NX_NO_CLOUD=true
RUN test -n "${SERVICE}" && test -f "services/${SERVICE}/package.json" \
 || { echo "build with --build-arg SERVICE=<a folder in services/>" >&2; exit 1; }
COPY nx.json tsconfig.base.json ./
COPY scripts ./scripts
COPY packages ./packages
COPY services/${SERVICE} ./services/${SERVICE}
RUN npx nx run "@pep/${SERVICE}:build" --outputStyle=static
# Only compiled output of the workspaces the service runs on, and its committed SQL
# migrations (applied by dist/migrate.js without any Prisma tool), go into the image.
RUN workspaces="$(node scripts/production-dependencies.mjs workspaces "services/${SERVICE}")" \
 && for dir in $workspaces; do mkdir -p "/out/$dir" && cp -R "$dir/dist" "/out/$dir/" || exit 1; done \
 && if [ -d "services/${SERVICE}/prisma" ]; then cp -R "services/${SERVICE}/prisma" "/out/services/${SERVICE}/"; fi

# The service's production dependencies and nothing else: no Prisma CLI, TypeScript, Prisma
# internals, PGlite or test helpers (scripts/production-dependencies.mjs says why npm ci alone
# keeps some of them).
FROM manifests AS prod-deps
ARG SERVICE
COPY scripts/production-dependencies.mjs ./scripts/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace "services/${SERVICE}" \
 && node scripts/production-dependencies.mjs prune "services/${SERVICE}" \
 && rm -r scripts

FROM ${NODE_IMAGE} AS runtime
ARG SERVICE
ARG PORT=8080
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=${PORT}
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
WORKDIR /app
# Files stay owned by root: the process can read its code but never rewrite it.
COPY --from=prod-deps /app ./
COPY --from=build /out ./
# The service's folder, so its entry points are dist/main.js and dist/migrate.js whichever service this is.
WORKDIR /app/services/${SERVICE}
# Numeric, so Kubernetes can verify runAsNonRoot without resolving the name.
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/main.js"]
