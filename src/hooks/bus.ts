/**
 * The hook bus. Plugins and embedders observe and steer the kernel here: before-hooks may veto an
 * operation (throw, or return { veto }) or replace its arguments (return { args }); after-hooks observe.
 * Event names follow the syscall names (`syscall.before` carries `name`), plus lifecycle events. The seeds'
 * hook names (Hooks.BEFORE_AGENT_SPAWN …) map onto them.
 */
import { KernelError } from '../errors.js';
import { logger } from '../util/log.js';

const log = logger('hooks');

export interface HookEvents {
  'syscall.before': { pid: number; name: string; args: unknown; purpose?: string };
  'syscall.after': {
    pid: number;
    name: string;
    args: unknown;
    result?: unknown;
    error?: KernelError;
    ms: number;
    purpose?: string;
  };
  'proc.spawn.before': {
    parentPid: number | null;
    name: string;
    task: string;
    priority: number;
    model: string;
  };
  'proc.spawn.after': { pid: number; parentPid: number | null; name: string };
  'proc.state': { pid: number; from: string; to: string; waitOn?: string };
  'proc.step': { pid: number; stepNo: number; kind: string; record: unknown };
  'proc.exit': { pid: number; state: string; reason: string | null; result: unknown };
  'llm.before': { pid: number; model: string; messages: number; tools: number; purpose?: string };
  /** One delta of a streamed model call (text, reasoning or a tool-call fragment), as it arrives. */
  'llm.delta': { pid: number; stepNo: number; delta: { type: string; [k: string]: unknown } };
  'llm.after': {
    pid: number;
    model: string;
    usage: unknown;
    ms: number;
    error?: KernelError;
    purpose?: string;
  };
  'tool.before': { pid: number; tool: string; args: unknown };
  'tool.after': { pid: number; tool: string; ok: boolean; output: string; ms: number };
  'mem.page_fault': { pid: number; pageId?: string; query?: string };
  'approval.pending': { pid: number; id: string; tool: string };
  'kernel.boot': { nodeId: string };
  'kernel.shutdown': { nodeId: string };
}

export type HookName = keyof HookEvents;
export type BeforeResult<E> = void | undefined | { veto: string } | { args: E };
export type HookFn<K extends HookName> = (event: HookEvents[K]) => unknown | Promise<unknown>;

/** The seeds' names, accepted by `on()` as aliases. */
export const Hooks = {
  BEFORE_AGENT_SPAWN: 'proc.spawn.before',
  AFTER_AGENT_SPAWN: 'proc.spawn.after',
  BEFORE_SYSCALL: 'syscall.before',
  AFTER_SYSCALL: 'syscall.after',
  BEFORE_LLM_CALL: 'llm.before',
  AFTER_LLM_CALL: 'llm.after',
  BEFORE_TOOL_CALL: 'tool.before',
  AFTER_TOOL_CALL: 'tool.after',
  ON_STATE_CHANGE: 'proc.state',
  ON_STEP: 'proc.step',
  ON_AGENT_EXIT: 'proc.exit',
  ON_PAGE_FAULT: 'mem.page_fault',
  ON_APPROVAL_PENDING: 'approval.pending',
} as const satisfies Record<string, HookName>;

const BEFORE: ReadonlySet<HookName> = new Set([
  'syscall.before',
  'proc.spawn.before',
  'llm.before',
  'tool.before',
]);

export class HookBus {
  private readonly handlers = new Map<HookName, Array<{ fn: HookFn<HookName>; owner: string }>>();

  on<K extends HookName>(name: K, fn: HookFn<K>, owner = 'anonymous'): () => void {
    const list = this.handlers.get(name) ?? [];
    const entry = { fn: fn as HookFn<HookName>, owner };
    list.push(entry);
    this.handlers.set(name, list);
    return () => {
      const l = this.handlers.get(name);
      if (l)
        this.handlers.set(
          name,
          l.filter((e) => e !== entry),
        );
    };
  }

  has(name: HookName): boolean {
    return (this.handlers.get(name)?.length ?? 0) > 0;
  }

  /**
   * Runs before-hooks in registration order. Returns the (possibly replaced) event; throws EDENIED when a
   * hook vetoes. A hook that throws a non-KernelError vetoes too: a broken guard must not fail open.
   */
  async before<K extends HookName>(name: K, event: HookEvents[K]): Promise<HookEvents[K]> {
    if (!BEFORE.has(name)) throw new KernelError('EINVAL', `${name} is not a before-hook`);
    let cur = event;
    for (const { fn, owner } of this.handlers.get(name) ?? []) {
      let out: unknown;
      try {
        out = await fn(cur);
      } catch (err) {
        throw err instanceof KernelError
          ? err
          : new KernelError('EDENIED', `hook ${owner} on ${name} failed, operation refused: ${String(err)}`);
      }
      if (out && typeof out === 'object') {
        if ('veto' in out)
          throw new KernelError('EDENIED', `vetoed by hook ${owner} on ${name}: ${String(out.veto)}`);
        if ('args' in out) cur = out.args as HookEvents[K];
      }
    }
    return cur;
  }

  /** Fires after-hooks; their failures are logged, never propagated into the kernel's control flow. */
  emit<K extends HookName>(name: K, event: HookEvents[K]): void {
    for (const { fn, owner } of this.handlers.get(name) ?? []) {
      try {
        const r = fn(event);
        if (r instanceof Promise)
          r.catch((err) => log.warn(`hook ${owner} on ${name} failed`, { err: String(err) }));
      } catch (err) {
        log.warn(`hook ${owner} on ${name} failed`, { err: String(err) });
      }
    }
  }
}
