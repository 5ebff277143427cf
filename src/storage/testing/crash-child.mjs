// Child process for crash.test.ts. Opens storage at argv[2] (schema argv[3] for Postgres) and either
//   mode "steps": creates a process and commits steps forever, printing "COMMITTED n" after each commit;
//   mode "hold":  prints "READY" and keeps the storage open until killed.
import { createStorage } from '../storage.js';

const [url, mode, schema] = process.argv.slice(2);
const storage = await createStorage(url, schema ? { schema, migrate: true } : {});
if (mode === 'hold') {
  // the handler goes in before READY: the parent may signal as soon as it reads the line
  process.on('SIGTERM', async () => {
    await storage.close();
    process.exit(0);
  });
  setInterval(() => undefined, 1_000);
  process.stdout.write(`READY ${process.pid}\n`);
} else {
  const p = await storage.state.createProcess({ name: 'crash-victim', leaseEpoch: 1 });
  process.stdout.write(`PID ${p.pid}\n`);
  for (let n = 1; ; n++) {
    await storage.state.commitStep({
      pid: p.pid,
      stepNo: n,
      kind: 'llm',
      record: { n, text: 'x'.repeat(200) },
      usage: { tokensIn: n },
      processPatch: { programState: { n }, state: 'running' },
      expectEpoch: 1,
    });
    process.stdout.write(`COMMITTED ${n}\n`);
  }
}
