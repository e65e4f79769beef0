# syntax=docker/dockerfile:1
# Multi-stage build: compile TypeScript, then a slim runtime image with production dependencies only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY client ./client
COPY scripts/build-client.mjs ./scripts/
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/client/dist ./client/dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY public ./public
COPY config ./config
USER node
EXPOSE 8080 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.DAISI_WS_SERVER_HTTP_PORT||8080)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
# V8's young generation at 2 MB (README, "Memory"); a NODE_OPTIONS of the deployment replaces it.
ENV NODE_OPTIONS=--max-semi-space-size=2
ENTRYPOINT ["node", "bin/daisi-ws.js"]
CMD ["start"]
