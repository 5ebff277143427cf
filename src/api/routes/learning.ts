/**
 * The learning layer over HTTP: trajectories (JSON or JSONL export), analysis with suggestions and their
 * evidence, lessons (list, delete), profile changes from suggestions (operator-only apply and revert,
 * audited; A/B with a share and a report), and eval history for charts. Reads go through src/learning, never SQL.
 */
import { z } from 'zod';
import { evalHistory } from '../../learning/eval.js';
import type { Learning, TrajectoryFilter } from '../../learning/learning.js';
import type { ProfileOptimizer } from '../../learning/optimizer.js';
import { toJsonl } from '../../learning/trajectory.js';
import { type AnyRoute, route } from '../route.js';
import * as S from '../schemas.js';

const filterQuery = z.object({
  agent: z.string().min(1).max(200).optional(),
  program: z.string().min(1).max(64).optional(),
  profile: z.string().min(1).max(200).optional(),
  family: z.string().min(1).max(2000).optional().describe('a task text: trajectories of similar tasks'),
  limit: S.limitField,
  format: z.enum(['json', 'jsonl']).default('json'),
});

const suggestionBody = z.object({
  profile: z.string().min(1).max(200),
  suggestion: z.object({
    id: z.string().min(1).max(300),
    title: z.string().max(2000),
    evidence: z.record(z.string(), z.union([z.number(), z.string()])),
    change: z.object({
      key: z.string().min(1).max(200),
      op: z.enum(['set', 'add']),
      value: z.unknown(),
      from: z.unknown().optional(),
    }),
  }),
  /** The value to use where the suggestion names a placeholder (`<a model …>`). */
  value: z.unknown().optional(),
  /** A/B: the share of the profile's new processes that get the change (default 1: all). */
  share: z.number().gt(0).max(1).optional(),
});

export interface LearningRouteDeps {
  learning: Learning;
  optimizer: ProfileOptimizer;
  /** Where `aos eval` keeps its history (<data_dir>/evals). */
  evalDir: string;
}

function filterOf(q: z.infer<typeof filterQuery>): TrajectoryFilter {
  return {
    limit: q.limit,
    ...(q.agent ? { agent: q.agent } : {}),
    ...(q.program ? { program: q.program } : {}),
    ...(q.profile ? { profile: q.profile } : {}),
    ...(q.family ? { family: q.family } : {}),
  };
}

export function learningRoutes(d: LearningRouteDeps): AnyRoute[] {
  return [
    route({
      method: 'GET',
      path: '/api/v1/trajectories',
      access: 'viewer',
      tag: 'learning',
      summary:
        'Trajectories (a view over the step log), newest first; format=jsonl exports one line per step',
      query: filterQuery,
      async handler({ query, reply }) {
        const ts = await d.learning.trajectories(filterOf(query));
        if (query.format === 'jsonl') {
          reply.header('content-type', 'application/x-ndjson; charset=utf-8');
          return toJsonl(ts);
        }
        return {
          items: ts.map((t) => ({
            pid: t.pid,
            agent: t.agent,
            program: t.program,
            task: t.task,
            outcome: t.outcome,
            failureMode: t.failureMode,
            exitReason: t.exitReason,
            steps: t.totals.steps,
            tokens: t.totals.tokensIn + t.totals.tokensOut,
            cost: t.totals.cost,
            cacheHit: t.totals.tokensIn ? t.totals.tokensCached / t.totals.tokensIn : null,
            createdAt: t.createdAt,
          })),
        };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/trajectories/:pid',
      access: 'viewer',
      tag: 'learning',
      summary: "One process's trajectory: phases, reasoning, tool calls, tokens, cost, cache hit, outcome",
      params: S.pidParams,
      async handler({ params }) {
        return d.learning.trajectory(params.pid);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/learning/analysis',
      access: 'viewer',
      tag: 'learning',
      summary: 'Success rate, distributions, ranked failure modes and suggestions with their evidence',
      query: filterQuery.omit({ format: true }),
      async handler({ query }) {
        return d.learning.analyze(filterOf({ ...query, format: 'json' }));
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/lessons',
      access: 'viewer',
      tag: 'learning',
      summary: 'Lessons distilled from finished processes (memories with provenance and confidence)',
      query: z.object({ limit: S.limitField, task: z.string().min(1).max(2000).optional() }),
      async handler({ query }) {
        if (query.task) return { items: await d.learning.lessonsFor(query.task, { k: query.limit }) };
        return { items: await d.learning.lessons.list({ limit: query.limit }) };
      },
    }),
    route({
      method: 'DELETE',
      path: '/api/v1/lessons/:id',
      access: 'operator',
      tag: 'learning',
      summary: 'Forget a lesson',
      params: S.idParams,
      async handler({ params }) {
        return { deleted: await d.learning.lessons.delete(params.id) };
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/learning/profiles/:name',
      access: 'viewer',
      tag: 'learning',
      summary: 'Changes applied to a profile from suggestions (with evidence, who, when, reverted or not)',
      params: S.nameParams,
      async handler({ params }) {
        return d.optimizer.overrides(params.name);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/learning/apply',
      access: 'operator',
      tag: 'learning',
      summary: 'Apply a suggestion to a profile (audited with its evidence; revert with /learning/revert)',
      body: suggestionBody,
      status: 201,
      async handler({ body, principal }) {
        return d.optimizer.apply(body.profile, body.suggestion, `token:${principal.name}`, {
          ...(body.value !== undefined ? { value: body.value } : {}),
          ...(body.share !== undefined ? { share: body.share } : {}),
        });
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/learning/ab/:id',
      access: 'viewer',
      tag: 'learning',
      summary:
        "An A/B change's report: its arms' finished processes compared (success, steps, tokens, cost) with 95 % intervals",
      params: S.idParams,
      async handler({ params }) {
        return d.learning.abReport(params.id);
      },
    }),
    route({
      method: 'POST',
      path: '/api/v1/learning/revert',
      access: 'operator',
      tag: 'learning',
      summary: 'Revert a profile change (the newest in force when no changeId is given); audited',
      body: z.object({
        profile: z.string().min(1).max(200),
        changeId: z.string().min(1).max(100).optional(),
      }),
      async handler({ body, principal }) {
        return d.optimizer.revert(body.profile, `token:${principal.name}`, body.changeId);
      },
    }),
    route({
      method: 'GET',
      path: '/api/v1/evals/:name',
      access: 'viewer',
      tag: 'learning',
      summary: "An eval suite's run history (summaries, oldest first) for charts",
      params: S.nameParams,
      async handler({ params }) {
        return { items: evalHistory(d.evalDir, params.name) };
      },
    }),
  ];
}
