# One image for every role (migrate, api, worker); docker-compose.yml picks the role by command.
# Node 24 is the current LTS line.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
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
