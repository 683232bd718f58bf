# One image for every role (migrate, api, worker); docker-compose.yml picks the role by command.
# Node 24 is the current LTS line.
# The console's bundle needs the dev dependencies (Vite): it is built in a stage of its own and
# only dist/console is copied into the image.
FROM node:24-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY web ./web
RUN npm run build:console

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY --from=console /app/dist/console ./dist/console
# The workflow bundle is built once here, so a worker starts without webpack (WORKFLOW_BUNDLE).
RUN node --import tsx src/cli/build-workflow-bundle.ts /app/dist/workflow-bundle.js
ENV WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
# DATA_DIR (assets, generated secrets) must exist and belong to the runtime user: a named volume
# mounted here starts as a copy of this directory, owner and mode included.
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
ENV DATA_DIR=/data
VOLUME ["/data"]
USER node
EXPOSE 8080
CMD ["node", "--import", "tsx", "src/launcher/main.ts", "api"]
