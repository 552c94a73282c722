export { buildApp, type GatewayDeps } from './app.js';
export { configSchema, type GatewayConfig } from './config.js';
export { ownerOf, listGroups, SERVICES, type ServiceName } from './route-table.js';
export { verifierFor, createTokenVerifier, extractAccessToken, TOKEN_AUDIENCE, TOKEN_ISSUER } from './access-token.js';
