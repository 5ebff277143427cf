/**
 * What `aos run` does when its agent asks for an approval: on a terminal it asks inline (y/n) and sends
 * the decision; otherwise it prints the pending call and the exact command that decides it. Requests
 * are handled one at a time and each id once, however the event stream and the poll backstop interleave.
 */
import { createInterface } from 'node:readline';
import type { Decision, PendingApprovalView } from './client.js';
import { describeCall, SHORT_ID } from './commands/approvals.js';
import { style } from './format.js';

export interface PromptIo {
  /**
   * ask: a terminal is attached, ask y/n. print: show the command that decides it (a server holds the
   * approval, any shell can answer). deny: nobody can answer (no terminal, no server), so say so and deny.
   */
  mode: 'ask' | 'print' | 'deny';
  /** One JSON object per line instead of text (`aos run --json`). */
  json?: boolean;
  out: (s: string) => void;
  /** The CLI invocation that reaches the same kernel, e.g. `aos -c cfg.yaml`. */
  aos: string;
  /** Asks y/n (default: a readline of its own on stdin; `aos chat` passes its prompt's). */
  ask?: (question: string) => Promise<boolean>;
}

export class ApprovalPrompter {
  private readonly seen = new Set<string>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly io: PromptIo,
    private readonly send: (id: string, d: Decision, reason?: string) => Promise<void>,
  ) {}

  /** Handles each pending approval once, in arrival order. */
  offer(items: PendingApprovalView[]): Promise<void> {
    for (const a of items) {
      if (this.seen.has(a.id)) continue;
      this.seen.add(a.id);
      this.chain = this.chain
        .then(() => this.handle(a))
        .catch((err: unknown) => {
          this.io.out(`${style.red('approval:')} ${(err as Error).message}\n`);
        });
    }
    return this.chain;
  }

  private async handle(a: PendingApprovalView): Promise<void> {
    const { out } = this.io;
    const short = a.id.slice(0, SHORT_ID);
    if (this.io.json) {
      const deny = this.io.mode === 'deny';
      if (deny) await this.send(a.id, 'deny', 'no terminal to ask and no server to approve through');
      out(
        `${JSON.stringify({ event: 'approval', id: a.id, pid: a.pid, tool: a.tool, args: a.args, ...(deny ? { decision: 'denied' } : { approveWith: `${this.io.aos} approve ${a.id}` }) })}\n`,
      );
      return;
    }
    out(`  ${style.yellow('waiting')} for approval ${short}: ${describeCall(a, 200)}\n`);
    if (this.io.mode === 'ask') {
      const yes = await (this.io.ask ?? ask)(`  approve? [y/N] `);
      await this.send(a.id, yes ? 'approve' : 'deny', yes ? undefined : 'denied at the terminal');
      out(`  ${yes ? style.green('approved') : style.red('denied')} ${short}\n`);
      return;
    }
    if (this.io.mode === 'print') {
      out(
        `  ${style.dim('decide with')} ${this.io.aos} approve ${short}   ${style.dim('or')}   ${this.io.aos} deny ${short} --reason "…"\n`,
      );
      return;
    }
    const why =
      'no terminal to ask and no server to approve through; run attached to a terminal, or with `aos start` running (then decide with `aos approve <id>`)';
    await this.send(a.id, 'deny', why);
    out(`  ${style.red('denied')} ${short}: ${why}\n`);
  }
}

/** Whether a y/n answer is yes: y or yes, any case; anything else is no. */
export function isYes(answer: string): boolean {
  return /^\s*y(es)?\s*$/i.test(answer);
}

/** One y/n line from the terminal; anything but y/yes is no. */
function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  return new Promise<boolean>((resolve) => {
    let answered = false;
    rl.question(question, (a) => {
      answered = true;
      rl.close();
      resolve(isYes(a));
    });
    rl.on('close', () => {
      if (!answered) resolve(false); // Ctrl-D / Ctrl-C: no
    });
  });
}
