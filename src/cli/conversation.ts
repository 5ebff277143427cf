/**
 * The CLI's side of a conversation (`aos chat`, `aos send`): start an agent or send it a message, then
 * wait for the end of its turn (its next exit) while showing its steps and offering its approvals. Over a
 * running server it speaks the REST API and the event stream; without one it runs the kernel in-process on
 * the configured storage (like `aos run`), so a stored conversation can be continued from a terminal.
 */
import type { ProcessInfo } from '../kernel/info.js';
import type { Kernel } from '../kernel/kernel.js';
import type { StepRecord } from '../kernel/program.js';
import { ApprovalPrompter, type PromptIo } from './approval-prompt.js';
import type { HttpClient, PendingApprovalView, ServerEvent } from './client.js';

export interface StartOptions {
  task: string;
  name?: string;
  agent?: string;
  system?: string;
  model?: string;
  maxSteps?: number;
}

/** What start() asks for, the same over HTTP (POST /processes) and in process (kernel.spawn). */
function spawnRequest(o: StartOptions) {
  return {
    task: o.task,
    ...(o.name ? { name: o.name } : {}),
    ...(o.agent ? { agent: o.agent } : {}),
    ...(o.system ? { system: o.system } : {}),
    ...(o.model ? { model: o.model } : {}),
    ...(o.maxSteps ? { args: { maxSteps: o.maxSteps } } : {}),
  };
}

export interface TurnEnd {
  info: ProcessInfo;
  ok: boolean;
}

export interface ConversationBackend {
  readonly target: string;
  start(o: StartOptions): Promise<number>;
  /** Sends `text` to `pid`; true when it continued an exited process. */
  send(pid: number, text: string): Promise<boolean>;
  /** Resolves at the process's next exit; `onStep` sees each committed step. */
  turn(pid: number, onStep: (stepNo: number, r: StepRecord) => void, prompt: PromptIo): Promise<TurnEnd>;
  close(): Promise<void>;
}

const exitedState = (s: string) => s === 'zombie' || s === 'terminated';

function endOf(info: ProcessInfo): TurnEnd {
  return { info, ok: info.exitReason === null };
}

/** Over a running server: REST for actions, one event stream for the whole session. */
export class ServerConversation implements ConversationBackend {
  private readonly ac = new AbortController();
  private readonly listeners = new Set<(e: ServerEvent) => void>();
  private readonly stream: Promise<void>;
  /** The step each process was at when its current turn began (steps after it belong to the turn). */
  private readonly turnFrom = new Map<number, number>();

  constructor(private readonly client: HttpClient) {
    this.stream = client
      .events((e) => {
        for (const l of this.listeners) l(e);
      }, this.ac.signal)
      .catch(() => undefined);
  }

  get target(): string {
    return this.client.target;
  }

  async start(o: StartOptions): Promise<number> {
    const body = spawnRequest(o);
    const pid = (await this.client.request<{ pid: number }>('POST', '/processes', body)).pid;
    this.turnFrom.set(pid, 0);
    return pid;
  }

  async send(pid: number, text: string): Promise<boolean> {
    this.turnFrom.set(pid, (await this.client.getProcess(pid)).stepNo);
    const r = await this.client.request<{ continued: boolean }>('POST', `/processes/${pid}/messages`, {
      text,
    });
    return r.continued;
  }

  async turn(pid: number, onStep: (stepNo: number, r: StepRecord) => void, io: PromptIo): Promise<TurnEnd> {
    const prompter = new ApprovalPrompter(io, async (id, d, reason) => {
      await this.client.decide(id, d, reason);
    });
    const offer = async () => {
      const mine = (await this.client.approvals()).filter((a: PendingApprovalView) => a.pid === pid);
      await prompter.offer(mine);
    };
    let wake: () => void = () => undefined;
    const from = this.turnFrom.get(pid) ?? 0;
    let shown = from;
    const show = (n: number, r: StepRecord) => {
      if (n <= shown) return;
      shown = n;
      onStep(n, r);
    };
    const listener = (e: ServerEvent) => {
      if (e.data.pid !== pid) return;
      if (e.event === 'proc.step')
        show(Number(e.data.stepNo), (e.data.record ?? { kind: 'step' }) as StepRecord);
      else if (e.event === 'approval.pending') void offer().catch(() => undefined);
      else if (e.event === 'proc.exit') wake();
    };
    this.listeners.add(listener);
    try {
      // The event stream is the live view; a poll every 2 s is the backstop if it drops.
      for (;;) {
        const p = await this.client.getProcess(pid);
        if (exitedState(p.state)) {
          // steps the event stream did not deliver (it connects while the first steps may already run)
          for (const st of await this.client.steps(pid))
            if (st.stepNo > shown) show(st.stepNo, st.record as StepRecord);
          return endOf(p);
        }
        if (p.state === 'waiting' && p.waitOn.startsWith('approval')) void offer().catch(() => undefined);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 2000);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
    } finally {
      this.listeners.delete(listener);
    }
  }

  async close(): Promise<void> {
    this.ac.abort();
    await this.stream;
  }
}

/** In-process: the kernel runs here, on the configured storage, for as long as the command does. */
export class LocalConversation implements ConversationBackend {
  constructor(
    private readonly kernel: Kernel,
    readonly target: string,
  ) {}

  start(o: StartOptions): Promise<number> {
    return this.kernel.spawn(spawnRequest(o));
  }

  async send(pid: number, text: string): Promise<boolean> {
    return (await this.kernel.send(pid, text, 'cli')).continued;
  }

  async turn(pid: number, onStep: (stepNo: number, r: StepRecord) => void, io: PromptIo): Promise<TurnEnd> {
    const k = this.kernel;
    const approvals = k.tools.approvals;
    const prompter = new ApprovalPrompter(io, async (id, d, reason) => {
      if (d === 'approve') await approvals.approve(id, 'cli', reason);
      else await approvals.deny(id, 'cli', reason);
    });
    const offStep = k.hooks.on('proc.step', (e) => {
      if (e.pid === pid) onStep(e.stepNo, e.record as StepRecord);
    });
    const offApproval = k.hooks.on('approval.pending', (e) => {
      if (e.pid !== pid) return;
      void prompter.offer(
        approvals.pending(pid).map((p) => ({
          ...p,
          createdAt: p.createdAt.toISOString(),
          expiresAt: p.expiresAt.toISOString(),
        })),
      );
    });
    try {
      await k.wait(pid);
      return endOf(await k.get(pid));
    } finally {
      offStep();
      offApproval();
    }
  }

  close(): Promise<void> {
    return this.kernel.shutdown();
  }
}
