/**
 * Worker threads of the `gateway` bench suite (./gateway.ts), so the kernel's thread does nothing but the
 * kernel's work: role `sim` runs the LLM simulator (its own event loop, like a provider on another host);
 * role `load` runs the callers — official `openai` SDK clients, one per session, each session a sequential
 * conversation, like an agent. A caller either alternates a direct call to the simulator and the same call
 * through the gateway (pairs: added latency under the same load) or calls the gateway only.
 */
import { parentPort, workerData } from 'node:worker_threads';
import OpenAI from 'openai';
import type { SimulatorOptions } from '../../llm/simulated/engine.js';
import { createSimulator } from '../../llm/simulated/server.js';

export interface LoadSession {
  apiKey: string;
  session: string;
  tenant: string;
}

export interface LoadJob {
  gatewayUrl: string;
  directUrl: string;
  directKey: string;
  model: string;
  sessions: LoadSession[];
  /** Calls per session (per side when paired). */
  calls: number;
  /** Stop starting calls after this long (0: no limit). */
  durationMs: number;
  stream: boolean;
  paired: boolean;
  /** Pause between a session's calls (an agent's own work between model calls). */
  thinkMs: number;
  /**
   * Sessions start spread evenly over this long (default thinkMs). Agents do not synchronise: spread over
   * less than one cycle of a session (its calls + think), their calls bunch into part of each cycle.
   */
  spreadMs?: number;
  /** Take a snapshot of okByTenant this long after the start (fair share in the steady state). */
  snapshotAtMs?: number;
}

export interface LoadResult {
  /** Paired runs: per-pair latency, direct and through the gateway (ms; TTFT when streaming). */
  direct: number[];
  gateway: number[];
  /** Answered calls per tenant, and the moments (ms since start) they were answered. */
  okByTenant: Record<string, number>;
  /** okByTenant at job.snapshotAtMs (absent without it). */
  okByTenantAtSnapshot?: Record<string, number>;
  statuses: Record<string, number>;
  errors: string[];
  elapsedMs: number;
}

type Msg = { role: 'system' | 'user' | 'assistant'; content: string };

async function timedCall(
  c: OpenAI,
  model: string,
  messages: Msg[],
  stream: boolean,
): Promise<[number, string]> {
  const t0 = performance.now();
  if (!stream) {
    const r = await c.chat.completions.create({ model, messages });
    return [performance.now() - t0, r.choices[0]?.message.content ?? ''];
  }
  const s = await c.chat.completions.create({ model, messages, stream: true });
  let first = 0;
  let text = '';
  for await (const chunk of s) {
    const d = chunk.choices[0]?.delta?.content;
    if (d) {
      if (!first) first = performance.now() - t0;
      text += d;
    }
  }
  return [first || performance.now() - t0, text];
}

async function load(job: LoadJob): Promise<LoadResult> {
  const res: LoadResult = {
    direct: [],
    gateway: [],
    okByTenant: {},
    statuses: {},
    errors: [],
    elapsedMs: 0,
  };
  const direct = new OpenAI({ baseURL: job.directUrl, apiKey: job.directKey, maxRetries: 0 });
  const t0 = performance.now();
  const expired = () => job.durationMs > 0 && performance.now() - t0 > job.durationMs;
  const snap = job.snapshotAtMs
    ? setTimeout(() => {
        res.okByTenantAtSnapshot = { ...res.okByTenant };
      }, job.snapshotAtMs)
    : null;
  const note = (status: string) => {
    res.statuses[status] = (res.statuses[status] ?? 0) + 1;
  };
  await Promise.all(
    job.sessions.map(async (s, idx) => {
      const gw = new OpenAI({
        baseURL: job.gatewayUrl,
        apiKey: s.apiKey,
        maxRetries: 0,
        timeout: 600_000,
        defaultHeaders: { 'x-aos-session': s.session },
      });
      // Sessions start spread over one cycle, as independent agents are.
      const spread = job.spreadMs ?? job.thinkMs;
      if (spread) await sleep((idx * spread) / job.sessions.length);
      const messages: Msg[] = [
        { role: 'system', content: `You are bench agent ${s.session}. Answer briefly.` },
        { role: 'user', content: `Task of ${s.session}: say hello.` },
      ];
      for (let i = 0; i < job.calls && !expired(); i++) {
        try {
          if (job.paired) {
            const [d] = await timedCall(direct, job.model, messages, job.stream);
            const [g, text] = await timedCall(gw, job.model, messages, job.stream);
            res.direct.push(d);
            res.gateway.push(g);
            messages.push({ role: 'assistant', content: text }, { role: 'user', content: `Next, ${i}.` });
          } else {
            const [, text] = await timedCall(gw, job.model, messages, job.stream);
            messages.push({ role: 'assistant', content: text }, { role: 'user', content: `Next, ${i}.` });
          }
          res.okByTenant[s.tenant] = (res.okByTenant[s.tenant] ?? 0) + 1;
          note('200');
        } catch (err) {
          const status = (err as { status?: number }).status;
          note(status ? String(status) : 'error');
          if (res.errors.length < 5) res.errors.push(String((err as Error).message ?? err));
        }
        // A conversation grows, then a new one starts (keeps bodies bounded over long runs).
        if (messages.length > 14) messages.splice(2);
        if (job.thinkMs) await sleep(job.thinkMs);
      }
    }),
  );
  if (snap) clearTimeout(snap);
  res.elapsedMs = performance.now() - t0;
  return res;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const port = parentPort;
const data = workerData as { role: 'sim'; sim: SimulatorOptions } | { role: 'load' };
if (port && data?.role === 'sim') {
  const sim = await createSimulator(data.sim);
  port.on('message', (m: { type: string }) => {
    if (m.type === 'stats') {
      const { bodies: _bodies, ...stats } = sim.stats;
      port.postMessage({ type: 'stats', stats });
    } else if (m.type === 'close') void sim.close().then(() => port.close());
  });
  port.postMessage({ type: 'ready', url: sim.urlFor('openai') });
} else if (port && data?.role === 'load') {
  port.on('message', (m: { type: string; job?: LoadJob }) => {
    if (m.type === 'run' && m.job)
      load(m.job).then(
        (r) => port.postMessage({ type: 'result', result: r }),
        (err) => port.postMessage({ type: 'error', message: String(err) }),
      );
    else if (m.type === 'close') port.close();
  });
  port.postMessage({ type: 'ready' });
}
