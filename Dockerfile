# One image for every Aviary service; docker-compose.yml (or a Kubernetes manifest) picks the
# service with its command: `node services/<service>/src/main.ts` (or the simulator,
# `node tools/kube-sim/src/main.ts`). Node 24 runs the TypeScript sources directly (type
# stripping), so there is no build step. test/packaging/compose.test.ts checks that every
# workspace's manifest is copied before `npm ci` (else npm would not link it).
FROM node:24-slim

ENV NODE_ENV=production
WORKDIR /app

# Manifests first, so that the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
COPY proto/package.json proto/
COPY packages/core/package.json packages/core/
COPY packages/decider/package.json packages/decider/
COPY packages/event-store/package.json packages/event-store/
COPY packages/judge/package.json packages/judge/
COPY packages/messaging/package.json packages/messaging/
COPY packages/platform/package.json packages/platform/
COPY services/orchestrator/package.json services/orchestrator/
COPY services/analyzer/package.json services/analyzer/
COPY services/cluster-agent/package.json services/cluster-agent/
COPY tools/cli/package.json tools/cli/
COPY tools/datadog-sim/package.json tools/datadog-sim/
COPY tools/kube-sim/package.json tools/kube-sim/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

COPY proto/ proto/
COPY packages/ packages/
COPY services/ services/
COPY tools/ tools/

USER node
CMD ["node", "services/orchestrator/src/main.ts"]
