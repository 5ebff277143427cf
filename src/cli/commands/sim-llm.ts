/** `aos sim-llm`: run the LLM simulator (OpenAI + Anthropic wire formats) on loopback until Ctrl-C. */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import { PRESETS } from '../../llm/presets.js';
import { createSimulator } from '../../llm/simulated/server.js';
import { SIM_DEFAULT_PORT } from '../../param.js';

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0)
    throw new KernelError('EINVAL', `--${name} must be a non-negative number, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('sim-llm')
    .description('run the LLM simulator (a simulator, not a model) on 127.0.0.1 until Ctrl-C')
    .option('-p, --port <port>', 'port to listen on (0 = any free port)', String(SIM_DEFAULT_PORT))
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--latency-ms <ms>', 'time to first token')
    .option('--per-token-ms <ms>', 'delay per output token')
    .option('--rpm <n>', 'requests per minute before 429')
    .option('--tpm <n>', 'prompt tokens per minute before 429')
    .option('--concurrency <n>', 'requests served at once (the rest queue)')
    .option('--fail-rate <p>', 'probability (0..1) of an injected 500/503 per request')
    .option('--seed <n>', 'seed for the policy and injected failures', '1')
    .action(async (o: Record<string, string | undefined>) => {
      const failRate = num('fail-rate', o.failRate);
      if (failRate !== undefined && failRate > 1)
        throw new KernelError('EINVAL', `--fail-rate is a probability between 0 and 1, got ${failRate}`);
      const rpm = num('rpm', o.rpm);
      const tpm = num('tpm', o.tpm);
      const sim = await createSimulator({
        host: o.host ?? '127.0.0.1',
        port: num('port', o.port) ?? SIM_DEFAULT_PORT,
        seed: num('seed', o.seed) ?? 1,
        latency: {
          ttftMs: num('latency-ms', o.latencyMs) ?? 0,
          perTokenMs: num('per-token-ms', o.perTokenMs) ?? 0,
        },
        ...(rpm || tpm ? { rateLimit: { ...(rpm ? { rpm } : {}), ...(tpm ? { tpm } : {}) } } : {}),
        ...(o.concurrency ? { concurrency: num('concurrency', o.concurrency)! } : {}),
        ...(failRate ? { failures: { rate: failRate } } : {}),
      });
      const out = process.stdout;
      out.write(`LLM simulator (rule-based, NOT a language model) listening on ${sim.url}\n`);
      out.write(
        `  OpenAI:    ${sim.url}/v1   (chat/completions, models, embeddings: a concept lexicon, not a model)\n`,
      );
      out.write(`  Anthropic: ${sim.url}      (/v1/messages)\n`);
      out.write(
        `  Per-vendor dialects: ${sim.url}/p/<preset>/v1 — ${PRESETS.filter(
          (p) => p.kind === 'openai-compatible',
        )
          .map((p) => p.name)
          .join(', ')}\n`,
      );
      out.write('Ctrl-C to stop.\n');
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await sim.close();
      const s = sim.stats;
      out.write(
        `\nserved ${s.completed}/${s.requests} requests, ${s.rateLimited} rate-limited, prompt ${s.promptTokens} tokens (${s.cachedTokens} cached), output ${s.outputTokens}\n`,
      );
    });
}
