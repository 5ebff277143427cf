/**
 * Health, identity and kernel-wide views: /health and /ready (no auth), whoami, API tokens (admin),
 * models, scheduler, metrics summary and the effective configuration with secrets redacted.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { embedderInfo } from '../../kernel/embeddings.js';
import type { Kernel } from '../../kernel/kernel.js';
import { LLMProviderFactory } from '../../llm/factory.js';
import { REDACTED, redactString } from '../../util/redact.js';
import type { TokenStore } from '../auth.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';
import { summarize } from '../summary.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const VERSION = packageVersion();

const SECRET_KEY =
  /(api[_-]?keys?|secret|password|passwd|authorization|cookie|credential|private[_-]?key|^token$|_token$|^env$|^headers$)/i;

/**
 * The config with every string under a secret-looking key masked (api_keys, headers, env, …) and
 * secret-looking values masked anywhere. Unlike util/redact, numbers stay: `time_slice_tokens: 32000` is
 * a count, not a credential.
 */
export function redactConfig(v: unknown, secret = false): unknown {
  if (typeof v === 'string') return secret && v ? REDACTED : redactString(v);
  if (Array.isArray(v)) return v.map((x) => redactConfig(x, secret));
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v).map(([key, x]) => [key, redactConfig(x, secret || SECRET_KEY.test(key))]),
    );
  }
  return v;
}

export function systemRoutes(k: Kernel, tokens: TokenStore, startedAt: number): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/health',
      access: 'public',
      tag: 'system',
      summary: 'Liveness (no auth), which embedder memory search uses, and whether commands are isolated',
      response: z.object({
        ok: z.boolean(),
        version: z.string(),
        uptimeMs: z.number(),
        /** `lexical`: the hashing embedder (words, not meanings); `provider`: config's `embeddings:` model. */
        memory: z.object({ embedder: z.string(), kind: z.enum(['provider', 'lexical', 'custom']) }),
        /** The sandbox commands run in; `warning` says why they are not isolated (e.g. auto fell back to none). */
        sandbox: z.object({ name: z.string(), isolated: z.boolean(), warning: z.string().nullable() }),
      }),
      async handler() {
        const e = embedderInfo(k.memory.embedder);
        const sb = k.devices.sandboxStatus;
        return {
          ok: true,
          version: VERSION,
          uptimeMs: Date.now() - startedAt,
          memory: { embedder: e.model, kind: e.kind },
          sandbox: { name: sb.name, isolated: sb.isolated, warning: sb.warning },
        };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/ready',
      access: 'public',
      tag: 'system',
      summary: 'Readiness (no auth): the kernel is booted and its storage answers',
      response: z.object({ ready: z.boolean() }),
      async handler({ reply }) {
        let ready = !k.isStopping();
        if (ready) ready = await k.storage.state.ping();
        reply.code(ready ? 200 : 503);
        return { ready };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/nodes',
      access: 'viewer',
      tag: 'system',
      summary: 'The kernel nodes on this storage with their health and load, and the cluster-wide limits',
      response: S.nodesSchema,
      async handler() {
        return k.nodes();
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/budgets/:pool/limit',
      access: 'admin',
      tag: 'system',
      summary:
        "Set a budget's limit for every node at once (no restart): raised, paused processes go on; audited",
      params: S.budgetParams,
      body: S.budgetLimitBody,
      response: S.budgetLimitSchema,
      async handler({ params, body, principal }) {
        const r = await k.cpu.budgets.setLimit(params.pool, body.limit);
        await k.storage.audit.append({
          stream: 'kernel',
          kind: 'budget.limit',
          actor: `api:${principal.name}`,
          payload: { pool: r.name, limit: r.limit, used: r.used, node: k.nodeId },
        });
        return r;
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/whoami',
      access: 'viewer',
      tag: 'auth',
      summary: 'The token the request was made with',
      response: S.principalSchema,
      async handler({ principal }) {
        return principal;
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/tokens',
      access: 'admin',
      tag: 'auth',
      summary: 'API tokens (never their secrets)',
      response: S.listOf(S.tokenInfoSchema),
      async handler() {
        return { items: await tokens.list() };
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/tokens',
      access: 'admin',
      tag: 'auth',
      summary: 'Create a token; its secret is in this response only',
      body: S.tokenBody,
      status: 201,
      response: S.tokenInfoSchema.extend({ token: z.string() }),
      async handler({ body, principal }) {
        const { token, info } = await tokens.create({
          name: body.name,
          role: body.role,
          createdBy: principal.id,
          ...(body.tenant ? { tenant: body.tenant } : {}),
        });
        return { ...info, token };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/tokens/:id',
      access: 'admin',
      tag: 'auth',
      summary: 'Revoke a token',
      params: S.idParams,
      response: S.tokenInfoSchema,
      async handler({ params }) {
        return tokens.revoke(params.id);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/models',
      access: 'viewer',
      tag: 'system',
      summary:
        'Configured models and the simulator, with context windows, prices and whether a key is present',
      response: S.listOf(S.modelSchema),
      async handler() {
        const list = LLMProviderFactory.fromConfig(k.config).list();
        return { items: list.map((m) => ({ ...m, simulated: m.provider === 'simulated' })) };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/scheduler',
      access: 'viewer',
      tag: 'system',
      summary: 'Scheduler snapshot: policy, run queue, slots per model, rate-limit buckets',
      response: z.record(z.string(), z.unknown()),
      async handler() {
        return k.cpu.snapshot();
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/metrics/summary',
      access: 'viewer',
      tag: 'system',
      summary: 'Counts by state, tokens, cost, cache hit ratio, slot use',
      response: S.summarySchema,
      async handler() {
        return summarize(k);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/config',
      access: 'admin',
      tag: 'system',
      summary: 'The effective configuration, secrets redacted',
      response: z.object({ file: z.string().nullable(), config: z.record(z.string(), z.unknown()) }),
      async handler() {
        return { file: k.configFile, config: redactConfig(k.config) };
      },
    }),
  ];
}
