# One image for both roles (api, worker); docker-compose.yml picks the role by command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
USER node
EXPOSE 8080
CMD ["node", "--import", "tsx", "src/launcher/main.ts", "api"]
