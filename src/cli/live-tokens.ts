/**
 * Streamed tokens in the terminal (`aos run`, `aos logs -f`): each `llm.delta` of a step is printed the
 * moment it arrives — answer text plain, reasoning dim, a tool call by its name — under a `…` line that
 * the step's own summary (printed when it commits) follows. Agent text is escaped like every other agent
 * output (control characters as `\xNN`, see ./format.ts). An `llm.restart` ends the partial line and says
 * the call is being made again, so a user never mistakes a cut stream's text for the step's.
 */
import { style, termSafe } from './format.js';

export interface DeltaEvent {
  pid: number;
  stepNo: number;
  attempt?: number;
  delta: { type: string; delta?: unknown; name?: unknown; [k: string]: unknown };
}

export interface RestartEvent {
  pid: number;
  stepNo: number;
  attempt: number;
  reason: string;
  final: boolean;
}

export class LiveTokens {
  /** The step whose tokens are on screen (null: the line is closed). */
  private open: number | null = null;
  private kind: 'text' | 'reasoning' | 'tool' | null = null;

  constructor(private readonly out: (s: string) => void) {}

  delta(e: DeltaEvent): void {
    const d = e.delta;
    if (this.open !== e.stepNo) {
      this.end();
      this.open = e.stepNo;
      this.out(style.dim(`[step ${e.stepNo} …] `));
    }
    if (d.type === 'text' || d.type === 'reasoning') {
      const text = typeof d.delta === 'string' ? d.delta : '';
      if (!text) return;
      const kind = d.type;
      if (this.kind !== kind && this.kind !== null) this.out(' ');
      this.kind = kind;
      const safe = termSafe(text).replace(/\n/g, '\n  ');
      this.out(kind === 'reasoning' ? style.dim(safe) : safe);
    } else if (d.type === 'tool_call' && typeof d.name === 'string' && d.name) {
      this.out(`${this.kind ? ' ' : ''}${style.cyan(`→ ${termSafe(d.name)}`)}`);
      this.kind = 'tool';
    }
  }

  restart(e: RestartEvent): void {
    if (this.open === null) return;
    this.out('\n');
    this.open = null;
    this.kind = null;
    this.out(
      `  ${style.yellow(e.final ? 'stream cut' : 'stream cut — making the call again')} ${style.dim(termSafe(e.reason.replace(/\s+/g, ' ').slice(0, 160)))}\n`,
    );
  }

  /** Closes the partial line (before a step's summary or any other output). */
  end(): void {
    if (this.open === null) return;
    this.out('\n');
    this.open = null;
    this.kind = null;
  }
}
