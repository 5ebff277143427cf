/**
 * One prom-client registry per kernel (not the global default, so several kernels — tests — can coexist).
 * Metric names are `aos_<subsystem>_<what>`; labels reuse syscall names (`noun.verb`).
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface KernelMetrics {
  registry: Registry;
  processes: Gauge<'state'>;
  runQueue: Gauge;
  slotsBusy: Gauge<'model'>;
  slotsTotal: Gauge<'model'>;
  schedLatency: Histogram;
  syscalls: Counter<'name' | 'outcome'>;
  syscallSeconds: Histogram<'name'>;
  tokens: Counter<'kind' | 'model' | 'purpose'>;
  ttft: Histogram<'model'>;
  streamRestarts: Counter<'model'>;
  steps: Counter;
  preemptions: Counter;
  quotaDenials: Counter<'kind'>;
  costUsd: Counter<'model'>;
  stepCommitSeconds: Histogram;
  /**
   * Sets gauges whose values another part holds (the scheduler's run queue and slots) when the registry
   * is read (a scrape, a test's get()) instead of on every change: a step grants and frees a slot.
   */
  onCollect(fill: () => void): void;
}

export function createKernelMetrics(opts: { defaultMetrics?: boolean } = {}): KernelMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'aos_node_' });
  const r = [registry];
  const fills: Array<() => void> = [];
  const collect = () => {
    for (const f of fills) f();
  };
  return {
    onCollect: (fill) => void fills.push(fill),
    registry,
    processes: new Gauge({
      name: 'aos_processes',
      help: 'Processes by state',
      labelNames: ['state'],
      registers: r,
    }),
    runQueue: new Gauge({
      name: 'aos_sched_run_queue_length',
      collect,
      help: 'Processes ready for an LLM slot',
      registers: r,
    }),
    slotsBusy: new Gauge({
      name: 'aos_sched_slots_busy',
      collect,
      help: 'LLM slots in use',
      labelNames: ['model'],
      registers: r,
    }),
    slotsTotal: new Gauge({
      name: 'aos_sched_slots_total',
      collect,
      help: 'LLM slots configured',
      labelNames: ['model'],
      registers: r,
    }),
    schedLatency: new Histogram({
      name: 'aos_sched_latency_seconds',
      help: 'Time from ready to running (waiting for an LLM slot)',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: r,
    }),
    syscalls: new Counter({
      name: 'aos_syscalls_total',
      help: 'Syscalls by name and outcome',
      labelNames: ['name', 'outcome'],
      registers: r,
    }),
    syscallSeconds: new Histogram({
      name: 'aos_syscall_seconds',
      help: 'Syscall duration',
      labelNames: ['name'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: r,
    }),
    tokens: new Counter({
      name: 'aos_llm_tokens_total',
      help: 'Model tokens by kind: input = every prompt token (cached or not, as `tokens in` in the CLI and API), cached = the cached subset of input, output; purpose = agent (a process step) or the internal caller (summary, lesson, embed, …)',
      labelNames: ['kind', 'model', 'purpose'],
      registers: r,
    }),
    ttft: new Histogram({
      name: 'aos_llm_ttft_seconds',
      help: 'Time to first token of a streamed model call (from the request to its first delta)',
      labelNames: ['model'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    }),
    streamRestarts: new Counter({
      name: 'aos_llm_stream_restarts_total',
      help: 'Streamed model calls cut after their first delta and made again as a whole (never committed half)',
      labelNames: ['model'],
      registers: r,
    }),
    steps: new Counter({ name: 'aos_steps_total', help: 'Committed steps', registers: r }),
    preemptions: new Counter({
      name: 'aos_sched_preemptions_total',
      help: 'Time-slice preemptions',
      registers: r,
    }),
    quotaDenials: new Counter({
      name: 'aos_quota_denials_total',
      help: 'Budget or quota denials',
      labelNames: ['kind'],
      registers: r,
    }),
    costUsd: new Counter({
      name: 'aos_llm_cost_usd_total',
      help: 'Model spend in USD (catalogue prices)',
      labelNames: ['model'],
      registers: r,
    }),
    stepCommitSeconds: new Histogram({
      name: 'aos_step_commit_seconds',
      help: 'Step commit transaction duration',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5],
      registers: r,
    }),
  };
}
