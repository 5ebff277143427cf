/** `agent-os-kernel/api`: the HTTP server, its tokens and roles, the event hub and the OpenAPI document. */

export { type Principal, ROLES, type Role, roleAllows, type TokenInfo, TokenStore } from './auth.js';
export { type ErrorBody, httpStatus, toHttpError } from './errors.js';
export { EVENT_TYPES, EventHub, type EventType } from './events.js';
export { buildOpenApi, openApiMarkdown } from './openapi.js';
export { type ApiServer, createServer, isLoopback, type ServerOptions } from './server.js';
export { type Summary as MetricsSummary, summarize as metricsSummary } from './summary.js';
