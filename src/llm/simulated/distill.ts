/**
 * The simulator's answer to a lesson-distillation request (src/learning/model-distill.ts): rules, not a
 * language model. It reads the run's transcript lines (`- step N tool {args} → ok: … | error CODE`) and
 * writes what such a transcript shows — a failed call later done right (correction), the calls that
 * solved the task (recipe), how a failed run ended (pitfall) — one `<kind>: <lesson>` line each, after a
 * first line saying it is the simulator.
 */
import type { ChatMessage } from '../model.js';

/** First line of a distillation request's system prompt (the request is built in src/learning). */
export const DISTILL_MARKER = 'Distil lessons from an agent run.';

export function isDistillRequest(messages: readonly ChatMessage[]): boolean {
  const sys = messages.find((m) => m.role === 'system');
  return typeof sys?.content === 'string' && sys.content.startsWith(DISTILL_MARKER);
}

interface Line {
  step: number;
  tool: string;
  args: string;
  ok: boolean;
  code: string;
}

export function distillAnswer(messages: readonly ChatMessage[]): string {
  const user = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const text = typeof user === 'string' ? user : '';
  const outcome = /^outcome: (\w+)/m.exec(text)?.[1] ?? 'unknown';
  const lines: Line[] = [];
  for (const m of text.matchAll(/^- step (\d+) (\S+) (.*?) → (ok|error)(?::| ?)(\S*)/gm)) {
    lines.push({
      step: Number(m[1]),
      tool: m[2]!,
      args: m[3]!,
      ok: m[4] === 'ok',
      code: m[4] === 'ok' ? '' : m[5]!,
    });
  }
  const out = ['(simulated) lessons:'];
  for (const [i, l] of lines.entries()) {
    if (l.ok) continue;
    const fix = lines.slice(i + 1).find((x) => x.ok && x.tool === l.tool && x.args !== l.args);
    if (fix)
      out.push(
        `correction: call ${l.tool} with ${fix.args}, not ${l.args} (that failed with ${l.code || 'an error'}).`,
      );
  }
  const ok = lines.filter((l) => l.ok);
  if (outcome === 'done' && ok.length)
    out.push(`recipe: ${ok.map((l) => `${l.tool} ${l.args}`).join(', then ')}, then answer.`);
  if (outcome === 'failed') {
    const last = [...lines].reverse().find((l) => !l.ok);
    out.push(
      `pitfall: the run failed${last ? ` after ${last.tool} ${last.args} failed with ${last.code || 'an error'}` : ''}.`,
    );
  }
  return out.slice(0, 4).join('\n');
}
