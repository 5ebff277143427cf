/**
 * Per-tool rate limits (token bucket per process and tool) and circuit breakers (per tool, across
 * processes: a tool that keeps failing is switched off for a while, then probed once). Clocks are
 * injectable so tests are deterministic.
 */
import { KernelError } from '../errors.js';
import * as P from '../param.js';

export interface ToolLimitOptions {
  /** Calls per minute per (process, tool); a per-tool override map. */
  ratePerMinute?: number;
  perTool?: Record<string, { ratePerMinute?: number }>;
  failureThreshold?: number;
  openMs?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

interface Circuit {
  failures: number;
  openUntil: number;
  probing: boolean;
}

export class ToolLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly circuits = new Map<string, Circuit>();
  private readonly now: () => number;

  constructor(private readonly opts: ToolLimitOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  private rate(tool: string): number {
    return this.opts.perTool?.[tool]?.ratePerMinute ?? this.opts.ratePerMinute ?? P.TOOL_RATE_PER_MINUTE;
  }

  /** Takes one token for (pid, tool) and checks the tool's circuit; throws ERATELIMIT / ECIRCUIT. */
  acquire(pid: number, tool: string): void {
    const t = this.now();
    const c = this.circuits.get(tool);
    let halfOpen = false;
    if (c && c.openUntil > 0) {
      if (t < c.openUntil) {
        throw new KernelError(
          'ECIRCUIT',
          `tool "${tool}" failed ${c.failures} times in a row and is paused; retry in ${Math.ceil((c.openUntil - t) / 1000)} s`,
          {
            retryable: true,
            details: { tool, retryAfterMs: c.openUntil - t },
          },
        );
      }
      if (c.probing) {
        throw new KernelError(
          'ECIRCUIT',
          `tool "${tool}" is being probed after repeated failures; retry shortly`,
          {
            retryable: true,
            details: { tool },
          },
        );
      }
      halfOpen = true;
    }
    const rate = this.rate(tool);
    const key = `${pid}\u0000${tool}`;
    const b = this.buckets.get(key) ?? { tokens: rate, at: t };
    b.tokens = Math.min(rate, b.tokens + ((t - b.at) / 60_000) * rate);
    b.at = t;
    if (b.tokens < 1) {
      const waitMs = Math.ceil(((1 - b.tokens) / rate) * 60_000);
      this.buckets.set(key, b);
      throw new KernelError(
        'ERATELIMIT',
        `tool "${tool}" is limited to ${rate} calls per minute; retry in ${waitMs} ms`,
        {
          retryable: true,
          details: { tool, retryAfterMs: waitMs },
        },
      );
    }
    b.tokens -= 1;
    this.buckets.set(key, b);
    if (halfOpen && c) c.probing = true; // half-open: exactly one call goes through
  }

  /** Reports the outcome of a call that acquire() let through. */
  record(tool: string, ok: boolean): void {
    const c = this.circuits.get(tool) ?? { failures: 0, openUntil: 0, probing: false };
    if (ok) {
      this.circuits.delete(tool);
      return;
    }
    c.failures++;
    c.probing = false;
    if (c.failures >= (this.opts.failureThreshold ?? P.TOOL_CIRCUIT_FAILURES)) {
      c.openUntil = this.now() + (this.opts.openMs ?? P.TOOL_CIRCUIT_OPEN_MS);
    }
    this.circuits.set(tool, c);
  }

  /** Forgets a process's buckets (it exited). */
  forget(pid: number): void {
    for (const k of this.buckets.keys()) if (k.startsWith(`${pid}\u0000`)) this.buckets.delete(k);
  }
}
