import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ContextManager } from './manager.js';
import { registerContextMetrics } from './metrics.js';

describe('context metrics', () => {
  it('reports per-process and global figures, and exposes them to Prometheus', async () => {
    const cm = new ContextManager();
    cm.open(1, { contextWindow: 20_000, system: 'You are an agent. '.repeat(100), task: 'task' });
    for (let i = 0; i < 10; i++) {
      cm.append(1, { kind: 'user', content: `message ${i} ${'word '.repeat(100)}` });
      await cm.prepare(1);
      cm.render(1);
    }
    const m = cm.metrics(1);
    expect(m.renders).toBe(10);
    expect(m.cache.requests).toBe(10);
    expect(m.cache.openaiHitRatio).toBeGreaterThan(0.5);
    expect(m.cache.openaiCached).toBeLessThanOrEqual(m.cache.ceiling);
    expect(m.cost.relative).toBeLessThan(1);
    expect(m.cost.priced).toBe(false);
    expect(m.utilisation).toBeCloseTo(m.tokens / m.budget, 10);

    const reg = new Registry();
    registerContextMetrics(reg, cm);
    const text = await reg.metrics();
    expect(text).toMatch(/aos_context_prefix_hit_ratio_openai\{pid="1"\} 0\.\d+/);
    expect(text).toMatch(/aos_context_budget_tokens\{pid="1"\} \d+/);

    cm.open(2, { contextWindow: 20_000, model: 'gpt-4o-mini', system: 'sys', task: 'task' });
    cm.append(2, { kind: 'user', content: 'hi' });
    cm.render(2);
    expect(cm.metrics(2).cost.priced).toBe(true);
    await cm.close(1);
    await cm.close(2);
    const g = cm.globalMetrics();
    expect(g.processes).toBe(0);
    expect(g.renders).toBe(11);
    expect(g.cache.requests).toBe(11);
    expect(cm.pids()).toEqual([]);
  });
});
