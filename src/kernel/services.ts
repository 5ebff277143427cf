/**
 * The mechanisms behind the syscall table. Handlers here receive already-validated arguments (see
 * ./syscalls.ts) and the calling process's PCB. Blocking calls (ipc.recv, proc.wait) put the process in
 * `waiting` and hold no LLM slot; outgoing mail is buffered in the step and committed with it.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { KernelError } from '../errors.js';
import { findModel } from '../llm/catalog.js';
import { LLMProviderFactory } from '../llm/factory.js';
import { callUsage, type EmbeddingModel, type LlmUsage } from '../llm/model.js';
import { countTokens } from '../llm/tokenizer.js';
import { IPC_RECV_DEFAULT_LIMIT, MEM_SEARCH_DEFAULT_K } from '../param.js';
import type { BudgetSpend } from '../storage/coordination/budget-grants.js';
import { sha256Hex } from '../util/canonical.js';
import { logger } from '../util/log.js';
import { budgetBinding, budgetSpend } from './budget-binding.js';
import { deferRecord, journalSlot } from './call-journal.js';
import { isClustered } from './cluster.js';
import type { KernelCore } from './core.js';
import { onceInStep } from './effects.js';
import { holdLease } from './lease-guard.js';
import { infoOf, reap, waitFor } from './lifecycle.js';
import { streamedCall } from './llm-stream.js';
import { isLive, type Pcb, type WaitReason } from './pcb.js';
import { prepareSpawn } from './spawn.js';
import { account } from './syscall-gate.js';
import {
  type MailMessage,
  type ProcStatus,
  parseSyscallArgs,
  type StepContext,
  type KernelServices as SyscallHandlers,
  USER_TOPIC,
} from './syscalls.js';

export type { ProcStatus, StepContext, Sys } from './syscalls.js';

const log = logger('kernel');
type Priced = { usage: LlmUsage; costUsd: number };

export type KernelServices = SyscallHandlers & {
  /** Wakes a process blocked in ipc.recv (called after the sender's step commits). */
  wakeMailbox(pid: number): void;
};

export function createServices(k: KernelCore): KernelServices {
  const mailWaiters = new Map<number, Set<() => void>>();
  const cacheKey = promptCacheKeyPrefix(k);
  const { reserveBudget, recordSpend } = budgetBinding(k);
  const embedders = new Map<string, EmbeddingModel>();
  /** The embedding model named `name`: a configured model's provider, else the catalogue's, else `sim-*`. */
  const embedder = (name: string, dimensions: number | undefined): EmbeddingModel => {
    const id = `${name}/${dimensions ?? ''}`;
    let em = embedders.get(id);
    if (em) return em;
    const entry = k.config.llms.models.find((m) => m.name === name);
    const provider =
      entry?.provider ?? findModel(name)?.provider ?? (name.startsWith('sim-') ? 'simulated' : null);
    if (!provider)
      throw new KernelError(
        'ENOTFOUND',
        `The model \`${name}\` does not exist or is not configured for embeddings (llms.models in config.yaml)`,
        { details: { param: 'model' } },
      );
    em = LLMProviderFactory.fromConfig(k.config).factory.embeddings({
      provider,
      model: name,
      ...(entry?.api_key ? { api_key: entry.api_key } : {}),
      ...(entry?.base_url ? { base_url: entry.base_url } : {}),
      ...(dimensions ? { dimensions } : {}),
    });
    embedders.set(id, em);
    return em;
  };

  const wakeMailbox = (pid: number): void => {
    const set = mailWaiters.get(pid);
    if (!set) return;
    mailWaiters.delete(pid);
    for (const w of set) w();
  };
  // Other nodes' commits arrive as NOTIFY hints; the mailbox table stays the source of truth.
  void k.storage.driver
    .listen('aos_mailbox', (payload) => {
      const pid = Number(payload);
      if (Number.isInteger(pid)) wakeMailbox(pid);
    })
    .catch((e) => log.warn(`mailbox LISTEN unavailable: ${String(e)}`));

  /** Runs `fn` with the process in waiting(reason), restoring running afterwards. */
  async function blocked<T>(pcb: Pcb, reason: WaitReason, fn: () => Promise<T>): Promise<T> {
    const pc = k.procs.live(pcb.pid);
    k.procs.setState(pc, 'waiting', reason);
    try {
      return await fn();
    } finally {
      if (pcb.state === 'waiting') k.procs.setState(pc, 'running');
    }
  }

  /** Messages taken by this step are acknowledged in its commit; until then they are only leased to it. */
  const taken = new WeakMap<StepContext, Set<string>>();

  return {
    wakeMailbox,

    async 'llm.embed'(pcb, step, args, caller) {
      const pc = k.procs.live(pcb.pid);
      const purpose = caller.purpose ? { purpose: caller.purpose } : {};
      if (k.hooks.has('llm.embed.before')) {
        const ev = { pid: pcb.pid, name: 'llm.embed' as const, args, model: args.model, ...purpose };
        args = parseSyscallArgs('llm.embed', (await k.hooks.before('llm.embed.before', ev)).args);
      }
      const em = embedder(args.model, args.dimensions);
      let tokens = 0;
      for (const t of args.input) tokens += countTokens(t);
      const price = findModel(args.model)?.price?.input ?? 0;
      const costUsd = (tokens * price) / 1_000_000;
      // Its tokens are known before the call: that is what it reserves and spends of the budgets.
      const budget = await reserveBudget(pcb, { tokens, costUsd }, step.signal);
      const t0 = performance.now();
      let vectors: number[][];
      try {
        vectors = await em.embed(args.input, step.signal);
      } catch (err) {
        k.cpu.budgets.settle(budget, null);
        throw err;
      }
      const ms = performance.now() - t0;
      const spent = k.cpu.budgets.spendOf(budget, { tokens, costUsd });
      try {
        await k.cpu.budgets.spendDirect(spent);
      } finally {
        k.cpu.budgets.settle(budget, spent);
      }
      account(
        k,
        pc,
        { tokensIn: tokens, apiCalls: 1, cost: costUsd, llmMs: ms },
        args.model,
        caller.purpose ?? 'embed',
      );
      k.hooks.emit('llm.embed.after', {
        pid: pcb.pid,
        name: 'llm.embed',
        model: args.model,
        usage: null,
        tokens,
        ms,
        ...purpose,
      });
      return { model: args.model, vectors, tokens, costUsd };
    },

    async 'llm.chat'(pcb, step, args, caller) {
      const pc = k.procs.live(pcb.pid);
      const model = k.models.resolve(pcb.model);
      const purpose = caller.purpose ? { purpose: caller.purpose } : {};
      if (k.hooks.has('llm.chat.before')) {
        const ev = await k.hooks.before('llm.chat.before', {
          pid: pcb.pid,
          name: 'llm.chat',
          args,
          model: pcb.model,
          messages: args.messages.length,
          tools: args.tools?.length ?? 0,
          ...purpose,
        });
        args = parseSyscallArgs('llm.chat', ev.args);
      }
      const { stream: wanted, onCut, ...request } = args;
      model.validate(request); // the adapter's refusals, before budget, slot and rate tokens are taken
      const slot = await journalSlot(k, pc, step, request);
      if (slot.replay) {
        // The interrupted run of this step already had this answer (and is charged for it): no second call.
        k.hooks.emit('llm.chat.after', {
          pid: pcb.pid,
          name: 'llm.chat',
          model: pcb.model,
          usage: slot.replay.usage,
          ms: 0,
          ...purpose,
        });
        return slot.replay;
      }
      // Kernel-wide and tenant budgets: the call's estimate is reserved before it is made (./budgets.ts).
      const budget = await reserveBudget(pcb, k.cpu.estimate(pcb.model, args), step.signal);
      let spent: BudgetSpend[] | null = null;
      // Granted at once, or queued: then the process is waiting(slot), not running, until its turn.
      const pending = k.cpu.acquire(pc, args, step.signal).catch((err: unknown) => {
        k.cpu.budgets.settle(budget, null);
        throw err;
      });
      const grant =
        pcb.state === 'running' && k.cpu.queued(pcb.pid)
          ? await blocked(pcb, { on: 'slot', model: pcb.model, since: Date.now() }, () => pending)
          : await pending;
      const t0 = performance.now();
      let usage = { input: 0, cachedInput: 0, cacheWrite: 0, output: 0, reasoning: 0 };
      // Agent steps stream by default (config can turn it off per model or provider); internal calls
      // (summaries, lessons) have no one watching their tokens and do not.
      const stream = wanted ?? (!caller.purpose && k.models.streams(pcb.model));
      try {
        // After the wait for a slot, right before the call: a node that lost its lease meanwhile stops here.
        await holdLease(k, pc, 'model call');
        const req = {
          ...request,
          // An internal caller's prompt shares no prefix with the agent's: its own cache key.
          promptCacheKey: caller.purpose
            ? `${cacheKey}-${pcb.pid}:${caller.purpose}`
            : `${cacheKey}-${pcb.pid}`,
          signal: caller.signal ? AbortSignal.any([step.signal, caller.signal]) : step.signal,
          tags: { pid: pcb.pid, step: step.stepNo, ...purpose },
          ...(stream && onCut !== 'fail' ? { restartable: true } : {}),
        } as Parameters<typeof model.chat>[0];
        const res = stream
          ? await streamedCall(k, model, req, { pid: pcb.pid, stepNo: step.stepNo, model: pcb.model, t0 })
          : await model.chat(req);
        usage = res.usage;
        const ms = performance.now() - t0;
        spent = k.cpu.budgets.spendOf(budget, budgetSpend(res.usage, res.costUsd));
        const forwards = k.programs.get(pcb.program).forwardsAnswers === true;
        const rec = () => slot.record(res.usage, res.costUsd, ms, res, spent ?? []);
        // No spend to move and no other node to redo the step: the row goes with the step's commit, or
        // before its next effect (./held-calls.ts); the gateway's too (one statement per call). With spend,
        // a forwarding program's row is written off its caller's path; its commit waits (./call-journal.ts).
        if (slot.journaled && !spent.length && !isClustered(k)) slot.hold(res.usage, res.costUsd, ms, res);
        else if (slot.journaled && forwards) deferRecord(step, recordSpend(slot, spent, rec));
        else await recordSpend(slot, spent, rec);
        account(k, pc, callUsage(res.usage, { cost: res.costUsd, llmMs: ms }), pcb.model, caller.purpose);
        k.hooks.emit('llm.chat.after', {
          pid: pcb.pid,
          name: 'llm.chat',
          model: pcb.model,
          usage: res.usage,
          ms,
          ...purpose,
        });
        return res;
      } catch (err) {
        const kerr = KernelError.wrap(err, 'EPROVIDER', `model ${pcb.model}`);
        // A malformed answer (or a stream failed after its first delta: ./llm-stream.ts) still cost tokens.
        const partial = (kerr.details.response ?? kerr.details.partialUsage) as Partial<Priced> | undefined;
        if (partial?.usage) usage = partial.usage;
        if (partial?.usage && spent === null) {
          const part = k.cpu.budgets.spendOf(budget, budgetSpend(usage, partial.costUsd ?? 0));
          spent = part;
          await recordSpend(slot, part, () =>
            slot.record(usage, partial.costUsd ?? 0, performance.now() - t0, null, part),
          ).catch(() => undefined);
        }
        account(
          k,
          pc,
          callUsage(usage, { cost: partial?.costUsd ?? 0, llmMs: performance.now() - t0 }),
          pcb.model,
          caller.purpose,
        );
        k.hooks.emit('llm.chat.after', {
          pid: pcb.pid,
          name: 'llm.chat',
          model: pcb.model,
          usage: null,
          ms: performance.now() - t0,
          error: kerr,
          ...purpose,
        });
        throw kerr;
      } finally {
        k.cpu.release(grant, usage, pcb);
        k.cpu.budgets.settle(budget, spent);
      }
    },

    async 'io.tool_call'(pcb, step, args, caller) {
      const pc = k.procs.live(pcb.pid);
      const callIndex = step.callIndex++;
      account(k, pc, { toolCalls: 1 }, pcb.model);
      // io.tool_call.before (parsed arguments) and .after fire once, in the executor (./device-binding.ts).
      return blocked(pcb, { on: 'tool', name: args.name }, () =>
        k.tools.execute(pc, step, callIndex, args, caller.auditTags),
      );
    },

    async 'io.tools'(pcb, _step, args) {
      return k.tools.specsFor(pcb, args.filter);
    },

    async 'mem.store'(pcb, step, args) {
      return onceInStep(k, k.procs.live(pcb.pid), step, 'mem.store', args, async (tx) => {
        const rec = await k.storage.memory.store(
          {
            owner: memOwner(pcb),
            namespace: memNamespace(pcb),
            content: args.content,
            metadata: { ...args.metadata, pid: pcb.pid },
          },
          tx,
        );
        return { id: rec.id };
      });
    },

    async 'mem.search'(pcb, _step, args) {
      const hits = await k.storage.memory.search({
        owner: memOwner(pcb),
        namespace: memNamespace(pcb),
        query: args.query,
        k: args.k ?? MEM_SEARCH_DEFAULT_K,
      });
      return hits.map((h) => ({ id: String(h.id), content: h.content, score: h.score }));
    },

    async 'mem.recall'(pcb, _step, args) {
      if (!args.pageId && !args.query)
        throw new KernelError('EINVAL', 'mem.recall needs a pageId or a query');
      k.hooks.emit('mem.page_fault', {
        pid: pcb.pid,
        ...(args.pageId ? { pageId: args.pageId } : {}),
        ...(args.query ? { query: args.query } : {}),
      });
      const content = await k.context.recall(pcb.pid, args);
      return { content };
    },

    async 'proc.spawn'(pcb, step, args) {
      // The child and the parent step's record commit together; the child starts once they have.
      let start: (() => void) | null = null;
      const res = await onceInStep(k, k.procs.live(pcb.pid), step, 'proc.spawn', args, async (tx) => {
        const child = await prepareSpawn(
          k,
          {
            name: args.name,
            task: args.task,
            priority: args.priority ?? pcb.priority,
            model: args.model ?? pcb.model,
            program: args.program ?? 'react',
            parentPid: pcb.pid,
            policy: pcb.policy,
          },
          tx,
        );
        start = child.start;
        return { pid: child.pid };
      });
      (start as (() => void) | null)?.();
      return res;
    },

    async 'proc.wait'(pcb, step, args) {
      const target = await infoOf(k, args.pid);
      if (target.parentPid !== pcb.pid) {
        throw new KernelError(
          'EPERM',
          `process ${pcb.pid} may only wait on its own children; ${args.pid} is not one`,
        );
      }
      const pc = k.procs.live(pcb.pid);
      const st: ProcStatus = isLive(target.state)
        ? await blocked(pcb, { on: 'child', pid: args.pid }, async () => {
            k.cpu.inherit(pcb.pid, args.pid);
            try {
              return await raceAbort(waitFor(k, args.pid, args.timeoutMs), step.signal);
            } finally {
              k.cpu.uninherit(pcb.pid, args.pid);
            }
          })
        : {
            pid: target.pid,
            name: target.name,
            state: target.state,
            result: target.result,
            exitReason: target.exitReason,
          };
      await reap(k, args.pid);
      void pc;
      return { ...st, state: st.state === 'zombie' ? 'terminated' : st.state };
    },

    async 'proc.status'(pcb, _step, args) {
      const p = await infoOf(k, args.pid ?? pcb.pid);
      return { pid: p.pid, name: p.name, state: p.state, result: p.result, exitReason: p.exitReason };
    },

    async 'ipc.send'(pcb, step, args) {
      const target = await infoOf(k, args.to).catch(() => null);
      if (!target) throw new KernelError('ENOPROC', `ipc.send: no process ${args.to}`);
      step.outbox.push({ to: args.to, topic: args.topic ?? null, body: args.body ?? null });
      void pcb;
      return { queued: true };
    },

    async 'ipc.recv'(pcb, step, args) {
      const limit = args.limit ?? IPC_RECV_DEFAULT_LIMIT;
      // Cleared before the poll: a message sent after it sets the hint again (./conversation.ts).
      if (args.topic === USER_TOPIC) k.procs.live(pcb.pid).userMail = false;
      const seen = taken.get(step) ?? new Set<string>();
      taken.set(step, seen);
      const poll = async (): Promise<MailMessage[]> => {
        const msgs = await k.storage.coordination.peek(String(pcb.pid), {
          limit: limit + seen.size,
          ...(args.topic ? { topic: args.topic } : {}),
        });
        const fresh = msgs.filter((m) => !seen.has(String(m.id))).slice(0, limit);
        for (const m of fresh) seen.add(String(m.id));
        if (fresh.length) step.acks.push(...fresh.map((m) => m.id));
        return fresh.map((m) => ({ id: m.id, from: Number(m.from) || null, topic: m.topic, body: m.body }));
      };
      let got = await poll();
      if (got.length || !args.timeoutMs) return got;
      const deadline = Date.now() + args.timeoutMs;
      return blocked(
        pcb,
        { on: 'message', ...(args.topic ? { topic: args.topic } : {}), deadline },
        async () => {
          while (Date.now() < deadline && !step.signal.aborted) {
            await new Promise<void>((resolve) => {
              const set = mailWaiters.get(pcb.pid) ?? new Set<() => void>();
              const done = () => {
                clearTimeout(t);
                step.signal.removeEventListener('abort', done);
                set.delete(done);
                resolve();
              };
              const t = setTimeout(done, Math.max(0, deadline - Date.now()));
              step.signal.addEventListener('abort', done);
              set.add(done);
              mailWaiters.set(pcb.pid, set);
            });
            got = await poll();
            if (got.length) return got;
          }
          if (step.signal.aborted) throw new KernelError('EABORTED', 'ipc.recv aborted');
          return [];
        },
      );
    },

    async 'ipc.kv_get'(pcb, step, args) {
      // Recorded like an effect: a re-run step reads what the interrupted run read and takes its path.
      return onceInStep(k, k.procs.live(pcb.pid), step, 'ipc.kv_get', args, async (tx) => {
        const e = await k.storage.state.kvGet(args.ns ?? 'shared', args.key, tx);
        return e ? { value: e.value, version: e.version } : null;
      });
    },

    async 'ipc.kv_cas'(pcb, step, args) {
      return onceInStep(k, k.procs.live(pcb.pid), step, 'ipc.kv_cas', args, async (tx) => {
        const version = await k.storage.state.kvCas(
          args.ns ?? 'shared',
          args.key,
          args.expectedVersion,
          args.value,
          tx,
        );
        return { version };
      });
    },
  };
}

/**
 * The prompt-cache routing key's kernel part: a hash of host, data dir and node id, stable for one kernel
 * instance and distinct between kernels (a bare pid would give every fresh kernel's first agent the key
 * "1", routing all users' and nodes' first agents to one cache). Documented in docs/llm.md.
 */
export function promptCacheKeyPrefix(k: KernelCore): string {
  return `aos-${sha256Hex(`${hostname()}|${resolve(k.config.data_dir)}|${k.nodeId}`).slice(0, 12)}`;
}

/** Long-term memory belongs to the agent's name, so a restarted or restored agent keeps what it learned. */
function memOwner(pcb: Pcb): string {
  const o = pcb.policy.memory_owner;
  return typeof o === 'string' && o ? o : `agent:${pcb.name}`;
}

function memNamespace(pcb: Pcb): string {
  const ns = pcb.policy.memory_namespace;
  return typeof ns === 'string' && ns ? ns : 'default';
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new KernelError('EABORTED', 'aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new KernelError('EABORTED', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
