# syntax=docker/dockerfile:1
# agent-os-kernel: one kernel node per container (docs/deploy.md).
#   build:  docker build -t agent-os-kernel .        (or: podman build -t agent-os-kernel .)
#   run:    docker run -p 7878:7878 -v aos-data:/var/lib/aos agent-os-kernel
# The kernel runs as the unprivileged user "aos" (uid 10001); tools run in bubblewrap sandboxes inside the
# container, which needs the container started with user namespaces and /proc unmasked for bwrap — see
# docs/deploy.md "The sandbox inside a container" — or AOS_SANDBOX=none (tools then run unsandboxed,
# confined only by the container).
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

# ── build: the whole dev toolchain compiles dist/ (kernel + dashboard), then only runtime deps are kept ──
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts/
COPY src ./src/
COPY web ./web/
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && mkdir /app && mv package.json node_modules dist /app/

# ── runtime: node, bubblewrap, tini; no compiler, no dev dependencies, no root ──
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap ripgrep tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/aos --shell /usr/sbin/nologin aos \
 && install -d -o aos -g aos -m 0700 /var/lib/aos /var/lib/aos/kernel /var/lib/aos/workspace \
 && ln -s /app/dist/cli/main.js /usr/local/bin/aos
# One COPY of the built app (few layers: a copy-on-write-less storage driver such as vfs copies every layer whole)
COPY --from=build /app /app
COPY deploy/config.yaml /etc/aos/config.yaml
ENV NODE_ENV=production \
    AOS_CONFIG=/etc/aos/config.yaml
USER aos
WORKDIR /var/lib/aos
VOLUME /var/lib/aos
EXPOSE 7878
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:7878/api/v1/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# tini reaps the sandboxes' orphans and forwards SIGTERM, on which the kernel shuts down gracefully.
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["start", "--no-demo"]
