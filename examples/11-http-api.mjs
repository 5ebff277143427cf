// 11 — the kernel as a service: the HTTP API that `aos start` serves, driven with fetch. Boots a kernel
// (memory storage, the built-in simulator), serves it on a free loopback port, reads the first-start admin
// token from its file, creates a viewer token, spawns an agent, follows its steps over server-sent events
// and reads its step log, context map and audit trail.
//   npm run build && node examples/11-http-api.mjs
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernel, createServer } from 'agent-os-kernel';

const dir = mkdtempSync(join(tmpdir(), 'aos-example-api-'));
const kernel = await createKernel({
  storage: 'memory://',
  config: { data_dir: dir, security: { sandbox: 'none', workspace: join(dir, 'workspace') } },
  plugins: false,
});
const server = await createServer(kernel, { host: '127.0.0.1', port: 0 });
const admin = readFileSync(server.adminTokenFile, 'utf8').trim(); // never print a token
console.log(`serving ${server.url}; admin token in ${server.adminTokenFile}`);

const api = async (method, path, token, body) => {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${json.error.code} ${json.error.message}`);
  return json;
};

try {
  const viewer = (await api('POST', '/tokens', admin, { name: 'example-viewer', role: 'viewer' })).token;
  console.log('whoami (viewer):', await api('GET', '/whoami', viewer));
  const denied = await api('POST', '/processes', viewer, { name: 'x', task: 'y' }).catch((e) => e.message);
  console.log('a viewer spawning →', denied);

  // Follow events before spawning, so no step is missed.
  const ac = new AbortController();
  const events = await fetch(`${server.url}/api/v1/events?types=proc.step,proc.exit`, {
    headers: { authorization: `Bearer ${viewer}` },
    signal: ac.signal,
  });
  const { pid } = await api('POST', '/processes', admin, { name: 'calc', task: 'What is (12 + 30) * 2?' });
  console.log(`spawned pid ${pid}; events:`);
  const reader = events.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (let exited = false; !exited; ) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const type = /^event: (.+)$/m.exec(frame)?.[1];
      const data = /^data: (.+)$/m.exec(frame)?.[1];
      if (!type || !data) continue;
      const ev = JSON.parse(data);
      if (ev.pid !== pid) continue;
      if (type === 'proc.step') {
        const calls = (ev.record?.toolCalls ?? []).map(
          (c) => `${c.name}(${c.arguments}) → ${String(c.output).replace(/\s+/g, ' ')}`,
        );
        console.log(`  step ${ev.stepNo} [${ev.kind}] ${calls.join('; ')}`);
      } else {
        console.log(`  exit: ${ev.state}, result: ${JSON.stringify(ev.result)}`);
        exited = true;
      }
    }
  }
  ac.abort();

  const ctx = await api('GET', `/processes/${pid}/context`, viewer);
  console.log(
    `context: ${ctx.pages.length} pages, ${ctx.used}/${ctx.budget} tokens, cached prefix ${ctx.cachedPrefixTokens} tokens`,
  );
  for (const p of ctx.pages)
    console.log(
      `  ${p.id.padEnd(8)} ${p.kind.padEnd(12)} ${String(p.tokens).padStart(5)} tok${p.cachedPrefix ? '  cached' : ''}`,
    );
  const audit = await api('GET', `/processes/${pid}/audit`, viewer);
  console.log(`audit: ${audit.items.map((e) => e.kind).join(', ')}`);
  console.log('audit chains intact:', (await api('POST', '/audit/verify', viewer, {})).ok);
  const summary = await api('GET', '/metrics/summary', viewer);
  console.log(
    `summary: ${summary.processes.total} process(es), ${summary.steps} steps, tokens in ${summary.tokens.input}`,
  );
} finally {
  await server.close();
  await kernel.shutdown();
}
