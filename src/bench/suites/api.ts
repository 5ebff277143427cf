/**
 * API bench: what the HTTP layer adds over calling the kernel directly — a process listing over
 * loopback HTTP (auth, validation, JSON) beside the same listing through the library; a token-checked
 * route beside the open /health; and the latency of one event from the hook bus to an SSE client.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rowInfo } from '../../api/routes/processes.js';
import { createServer } from '../../api/server.js';
import { createKernel } from '../../kernel/kernel.js';
import { type BenchCase, collect, defineBench } from '../harness.js';

export const apiBench = defineBench({
  name: 'api',
  subsystem: 'api',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'aos-bench-api-'));
    const k = await createKernel({
      storage: 'memory://',
      config: { data_dir: dir, security: { sandbox: 'none', workspace: join(dir, 'ws') } },
      plugins: false,
    });
    const server = await createServer(k, { host: '127.0.0.1', port: 0, dashboardDir: null });
    const token = readFileSync(server.adminTokenFile, 'utf8').trim();
    const auth = { authorization: `Bearer ${token}` };
    const n = ctx.quick ? 200 : 2_000;
    const cases: BenchCase[] = [];
    try {
      // 200 stored (exited) processes: rows written directly, so no agent runs during the measurement.
      for (let i = 0; i < 200; i++) {
        await k.storage.state.createProcess({
          name: `p${i}`,
          task: 'bench',
          state: 'terminated',
          model: 'sim-react',
        });
      }
      ctx.log('listing 50 of 200 processes: HTTP vs library');
      const lib = await collect(n, async () => {
        const rows = await k.storage.state.listProcesses({ limit: 50, offset: 0 });
        JSON.stringify(rows.map((r) => rowInfo(k, r)));
      });
      const http = await collect(n, async () => {
        const r = await fetch(`${server.url}/api/v1/processes?limit=50`, { headers: auth });
        await r.json();
      });
      cases.push({
        name: 'GET /api/v1/processes?limit=50 (200 stored)',
        unit: 'ms',
        baseline: { label: 'library call + JSON', samples: lib },
        ours: { label: 'HTTP over loopback', samples: http },
        notes: 'ratio < 1 is the cost of HTTP + auth + validation; the listing also runs a count(*)',
      });

      ctx.log('token-checked route vs open route');
      const open = await collect(n, async () => {
        const r = await fetch(`${server.url}/api/v1/health`);
        await r.json();
      });
      const authed = await collect(n, async () => {
        const r = await fetch(`${server.url}/api/v1/whoami`, { headers: auth });
        await r.json();
      });
      cases.push({
        name: 'bearer-token check (whoami vs health)',
        unit: 'ms',
        baseline: { label: '/health (no auth)', samples: open },
        ours: { label: '/whoami (token verified, cached)', samples: authed },
        target: { ours: 'median < 1 ms' },
      });

      ctx.log('hook bus → SSE client latency');
      const ac = new AbortController();
      const res = await fetch(`${server.url}/api/v1/events?types=proc.state`, {
        headers: auth,
        signal: ac.signal,
      });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      const waitFor = async (marker: string) => {
        while (!buf.includes(marker)) {
          const { value, done } = await reader.read();
          if (done) throw new Error('event stream ended');
          buf += dec.decode(value, { stream: true });
        }
        buf = buf.slice(buf.indexOf(marker) + marker.length);
      };
      const sse = await collect(ctx.quick ? 100 : 1_000, async (i) => {
        const marker = `"waitOn":"bench-${i}"`;
        k.hooks.emit('proc.state', { pid: 1, from: 'ready', to: 'running', waitOn: `bench-${i}` });
        await waitFor(marker);
      });
      ac.abort();
      await reader.cancel().catch(() => undefined);
      cases.push({
        name: 'event latency: hook emit → SSE client',
        unit: 'ms',
        ours: { label: 'one proc.state event, loopback', samples: sse },
        target: { ours: 'p99 < 10 ms' },
      });
    } finally {
      await server.close();
      await k.shutdown();
    }
    return cases;
  },
});
