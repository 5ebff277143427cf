/**
 * OpenTelemetry traces of a real agent run, received the way a collector would: a small OTLP/HTTP receiver
 * on loopback (this test's own HTTP server, decoding the JSON export request) is the kernel's
 * telemetry.otlp_endpoint. The built-in ReAct agent answers "What is 17 * 23 + 4?" with the simulator (a
 * calculator call, then the answer); the test asserts the spans (a step span per step, a `chat` span per
 * model call, an `execute_tool` span per tool call, all in the process's one trace, calls under their
 * step), their GenAI attributes against the usage the kernel stored, and that each audit entry of a call
 * names its span.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel } from '../../src/kernel/kernel.js';
import { processTraceId } from '../../src/metrics/otel.js';

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: AnyValue[] };
};
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  status?: { code?: number; message?: string };
  attributes: Array<{ key: string; value: AnyValue }>;
}
interface Received {
  resource: Record<string, unknown>;
  span: OtlpSpan;
  attrs: Record<string, unknown>;
}

function value(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return v.arrayValue.values.map(value);
  return undefined;
}
const root = new URL('../../', import.meta.url).pathname;
const attrsOf = (a: Array<{ key: string; value: AnyValue }>) =>
  Object.fromEntries(a.map((x) => [x.key, value(x.value)]));

describe('OpenTelemetry: spans of a real agent run, exported over OTLP/HTTP', () => {
  let receiver: Server;
  let url: string;
  const spans: Received[] = [];
  const contentTypes: string[] = [];
  let kernel: Kernel;
  let dir: string;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        contentTypes.push(String(req.headers['content-type']));
        if (req.url !== '/v1/traces' || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: AnyValue }> };
            scopeSpans: Array<{ spans: OtlpSpan[] }>;
          }>;
        };
        for (const rs of body.resourceSpans)
          for (const ss of rs.scopeSpans)
            for (const span of ss.spans)
              spans.push({
                resource: attrsOf(rs.resource.attributes),
                span,
                attrs: attrsOf(span.attributes),
              });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const addr = receiver.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}/v1/traces`;
    dir = mkdtempSync(join(tmpdir(), 'aos-otel-'));
    kernel = await createKernel({
      config: {
        data_dir: dir,
        storage: { url: 'memory://' },
        security: { sandbox: 'none', workspace: join(dir, 'ws') },
        telemetry: { otlp_endpoint: url, service_name: 'otel-e2e' },
      },
      recover: false,
      plugins: false,
    });
  }, 60_000);

  afterAll(async () => {
    await kernel?.shutdown();
    await new Promise((r) => receiver?.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exports a step span per step, a chat span per model call and a tool span per call, correlated with the audit log', async () => {
    const pid = await kernel.spawn({ name: 'calc', task: 'What is 17 * 23 + 4?' });
    const st = await kernel.wait(pid, 60_000);
    expect(String(st.result)).toContain('395');
    const steps = await kernel.steps(pid);
    const audit = await kernel.audit.list({ stream: `proc:${pid}`, limit: 1000 });
    const info = await kernel.get(pid);
    const row = await kernel.storage.state.getProcess(pid);
    await kernel.shutdown(); // flushes the batch processor
    expect(contentTypes.every((c) => c.startsWith('application/json'))).toBe(true);

    const mine = spans.filter((s) => s.attrs['aos.pid'] === pid);
    const stepSpans = mine.filter((s) => s.span.name === 'invoke_agent calc');
    const chats = mine.filter((s) => s.span.name.startsWith('chat '));
    const tools = mine.filter((s) => s.span.name.startsWith('execute_tool '));
    expect(stepSpans.map((s) => s.attrs['aos.step_no'])).toEqual(steps.map((s) => s.stepNo));
    expect(chats).toHaveLength(steps.length);
    expect(tools.map((s) => s.attrs['gen_ai.tool.name'])).toEqual(['calculator']);

    // one trace per process, derived from it; calls hang under their step's span
    const traceIds = new Set(mine.map((s) => s.span.traceId));
    expect([...traceIds]).toEqual([processTraceId(pid, row!.createdAt.getTime())]);
    expect(mine.every((s) => s.resource['service.name'] === 'otel-e2e')).toBe(true);
    const stepOf = new Map(stepSpans.map((s) => [s.attrs['aos.step_no'], s.span.spanId]));
    for (const c of [...chats, ...tools])
      expect(c.span.parentSpanId).toBe(stepOf.get(c.attrs['aos.step_no']));
    expect(stepSpans.every((s) => !s.span.parentSpanId)).toBe(true);

    // GenAI attributes match what the kernel stored for each step
    for (const s of steps) {
      const chat = chats.find((c) => c.attrs['aos.step_no'] === s.stepNo)!;
      const u = s.usage as { tokensIn: number; tokensOut: number; tokensCached: number; cost: number };
      expect(chat.attrs['gen_ai.operation.name']).toBe('chat');
      expect(chat.attrs['gen_ai.request.model']).toBe(info.model);
      expect(typeof chat.attrs['gen_ai.response.model']).toBe('string');
      expect(chat.attrs['gen_ai.usage.input_tokens']).toBe(u.tokensIn);
      expect(chat.attrs['gen_ai.usage.output_tokens']).toBe(u.tokensOut);
      expect(chat.attrs['gen_ai.usage.cache_read.input_tokens']).toBe(u.tokensCached);
      expect(chat.attrs['aos.usage.cost_usd']).toBe(u.cost);
      expect(chat.attrs['gen_ai.conversation.id']).toBe(String(pid));
      const step = stepSpans.find((x) => x.attrs['aos.step_no'] === s.stepNo)!;
      expect(step.attrs['gen_ai.usage.input_tokens']).toBe(u.tokensIn);
      expect(step.attrs['aos.step.outcome']).toBe(s.stepNo === steps.at(-1)!.stepNo ? 'done' : 'continue');
    }
    // the second step's prompt hit the simulator's prefix cache: cached tokens are reported, not zero
    expect(
      chats.find((c) => c.attrs['aos.step_no'] === 2)!.attrs['gen_ai.usage.cache_read.input_tokens'],
    ).toBeGreaterThan(0);

    // audit entry → span: every model and tool call's entry names its span, by id
    const byId = new Map(mine.map((s) => [s.span.spanId, s]));
    const llmEntries = audit.filter((e) => e.kind === 'llm.chat');
    const toolEntries = audit.filter((e) => e.kind === 'io.tool_call');
    expect(llmEntries).toHaveLength(steps.length);
    expect(toolEntries).toHaveLength(1);
    for (const e of [...llmEntries, ...toolEntries]) {
      const ref = (e.payload as { otel?: { traceId: string; spanId: string } }).otel;
      expect(ref?.traceId).toBe([...traceIds][0]);
      const span = byId.get(ref!.spanId);
      expect(span?.span.name).toBe(e.kind === 'llm.chat' ? `chat ${info.model}` : 'execute_tool calculator');
      expect(span?.attrs['aos.step_no']).toBe((e.payload as { stepNo: number }).stepNo);
    }
  });

  // Zero cost when off: a fresh node boots the built kernel and runs an agent under a loader hook that lists
  // every module it loads — without telemetry no OpenTelemetry module loads; with it, they do.
  const built = existsSync(join(root, 'dist/kernel/kernel.js'));
  it.skipIf(!built)(
    'loads no OpenTelemetry module unless telemetry.otlp_endpoint is set',
    () => {
      const tmp = mkdtempSync(join(tmpdir(), 'aos-otel-lazy-'));
      try {
        const hook = join(tmp, 'hook.mjs');
        const reg = join(tmp, 'register.mjs');
        writeFileSync(
          hook,
          'export async function load(u, c, next) { process.stderr.write("MOD " + u + "\\n"); return next(u, c); }\n',
        );
        writeFileSync(
          reg,
          `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hook}`)});\n`,
        );
        const loaded = (telemetry: unknown) => {
          const body = `
          const { createKernel } = await import(${JSON.stringify(`file://${join(root, 'dist/kernel/kernel.js')}`)});
          const k = await createKernel({ recover: false, plugins: false, config: {
            data_dir: ${JSON.stringify(tmp)}, storage: { url: 'memory://' },
            security: { sandbox: 'none', workspace: ${JSON.stringify(join(tmp, 'ws'))} },
            telemetry: ${JSON.stringify(telemetry)} } });
          const pid = await k.spawn({ name: 'c', task: 'What is 2 + 2?' });
          console.log(JSON.stringify((await k.wait(pid, 60000)).result));
          await k.shutdown();`;
          const r = spawnSync(
            process.execPath,
            ['--import', `file://${reg}`, '--input-type=module', '-e', body],
            {
              cwd: tmp,
              env: { ...process.env, AOS_LOG: 'silent', NODE_OPTIONS: '' },
              encoding: 'utf8',
            },
          );
          expect(r.status, r.stderr).toBe(0);
          expect(r.stdout).toContain('4');
          return r.stderr.split('\n').filter((l) => l.startsWith('MOD ') && l.includes('@opentelemetry'));
        };
        expect(loaded({})).toEqual([]);
        // the receiver of this file is gone by now: an unreachable endpoint only fails the export, not the run
        expect(loaded({ otlp_endpoint: 'http://127.0.0.1:9/v1/traces' }).length).toBeGreaterThan(0);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
