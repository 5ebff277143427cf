/**
 * The hook bus. Plugins and embedders observe and steer the kernel here: before-hooks may veto an
 * operation (throw, or return { veto }) or replace its arguments (return { args }); after-hooks observe.
 * Every syscall has a before- and an after-hook named after it (`mem.store.before`, `io.tool_call.after`),
 * each fired exactly once per call, typed with that syscall's arguments (the kernel adds those types in
 * src/kernel/syscall-hooks.ts); `syscall.before/after` fire for every syscall, plus lifecycle events. Older
 * names are aliases (HOOK_ALIASES: `tool.before` is `io.tool_call.before`, `llm.after` is `llm.chat.after`
 * and `llm.embed.after`), and the seeds' hook names (Hooks.BEFORE_AGENT_SPAWN …) map onto them.
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
  /** Alias of `llm.chat.before`. */
  'llm.before': { pid: number; model: string; messages: number; tools: number; purpose?: string };
  /**
   * One delta of a streamed model call (text, reasoning or a tool-call fragment), as it arrives. `attempt`
   * counts whole-call restarts within the step (1 = the first).
   */
  'llm.delta': {
    pid: number;
    stepNo: number;
    attempt?: number;
    delta: { type: string; [k: string]: unknown };
  };
  /**
   * A streamed call was cut after deltas went out: they are void. `final: false` — the call is being made
   * again now (attempt n); `final: true` — the error went up (the step is parked or fails, never committed).
   */
  'llm.restart': { pid: number; stepNo: number; attempt: number; reason: string; final: boolean };
  /** Alias of `llm.chat.after` and `llm.embed.after`. */
  'llm.after': {
    pid: number;
    model: string;
    usage: unknown;
    ms: number;
    error?: KernelError;
    purpose?: string;
  };
  /** A tool call (an agent's `io.tool_call`, or the API's): fired by the executor with the parsed arguments. */
  'io.tool_call.before': { pid: number; tool: string; args: unknown };
  'io.tool_call.after': { pid: number; tool: string; ok: boolean; output: string; ms: number };
  /** Alias of `io.tool_call.before`. */
  'tool.before': { pid: number; tool: string; args: unknown };
  /** Alias of `io.tool_call.after`. */
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
  BEFORE_LLM_CALL: 'llm.chat.before',
  AFTER_LLM_CALL: 'llm.after',
  BEFORE_TOOL_CALL: 'io.tool_call.before',
  AFTER_TOOL_CALL: 'io.tool_call.after',
  ON_STATE_CHANGE: 'proc.state',
  ON_STEP: 'proc.step',
  ON_AGENT_EXIT: 'proc.exit',
  ON_PAGE_FAULT: 'mem.page_fault',
  ON_APPROVAL_PENDING: 'approval.pending',
} as const satisfies Record<string, HookName>;

/** Earlier names of syscall-named hooks: a handler on an alias is a handler on the names it stands for. */
export const HOOK_ALIASES: Readonly<Partial<Record<HookName, readonly HookName[]>>> = {
  'tool.before': ['io.tool_call.before'],
  'tool.after': ['io.tool_call.after'],
  'llm.before': ['llm.chat.before'],
  'llm.after': ['llm.chat.after', 'llm.embed.after'],
};

const names = (name: HookName): readonly HookName[] => HOOK_ALIASES[name] ?? [name];

export class HookBus {
  private readonly handlers = new Map<HookName, Array<{ fn: HookFn<HookName>; owner: string }>>();

  on<K extends HookName>(name: K, fn: HookFn<K>, owner = 'anonymous'): () => void {
    const entry = { fn: fn as HookFn<HookName>, owner };
    for (const n of names(name)) this.handlers.set(n, [...(this.handlers.get(n) ?? []), entry]);
    return () => {
      for (const n of names(name)) {
        const l = this.handlers.get(n);
        if (l)
          this.handlers.set(
            n,
            l.filter((e) => e !== entry),
          );
      }
    };
  }

  has(name: HookName): boolean {
    return names(name).some((n) => (this.handlers.get(n)?.length ?? 0) > 0);
  }

  /**
   * Runs before-hooks in registration order. Returns the (possibly replaced) event; throws EDENIED when a
   * hook vetoes. A hook that throws a non-KernelError vetoes too: a broken guard must not fail open.
   */
  async before<K extends HookName>(name: K, event: HookEvents[K]): Promise<HookEvents[K]> {
    const [canonical, ...more] = names(name);
    if (!canonical!.endsWith('.before') || more.length)
      throw new KernelError('EINVAL', `${name} is not a before-hook`);
    let cur = event;
    for (const { fn, owner } of this.handlers.get(canonical!) ?? []) {
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
    // A canonical name is its one list (per streamed delta: no array built); an alias, its names' lists.
    const ns = names(name);
    const list = ns.length === 1 ? this.handlers.get(ns[0]!) : ns.flatMap((n) => this.handlers.get(n) ?? []);
    if (!list) return;
    // The lists are replaced, never changed in place (on/off): a handler added by a handler runs next time.
    for (const { fn, owner } of list) {
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
