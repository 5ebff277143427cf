/**
 * Model-written lessons: the finished process's own model reads a compact transcript of its run and
 * writes at most MODEL_LESSONS_MAX lessons, one per line as `<kind>: <lesson>`. The kernel sends the
 * request through the syscall gate as `llm.chat` with `purpose: 'learning'` (audited, charged to the
 * process); the extractive distillation (./lessons.ts) always runs as well and is the fallback when the
 * model is the in-process simulator, fails or answers nothing usable. Model output is untrusted text:
 * only well-formed lines of a known kind survive, each bounded in length.
 */
// The first line of the request's system prompt, which is also how the project's simulator recognises it.
import { DISTILL_MARKER } from '../llm/simulated/distill.js';
import { MODEL_LESSON_MAX_CHARS, MODEL_LESSON_TRANSCRIPT_MAX_CHARS, MODEL_LESSONS_MAX } from '../param.js';
import type { Lesson, LessonKind } from './lessons.js';
import type { Trajectory } from './trajectory.js';

const KINDS: readonly LessonKind[] = ['correction', 'recipe', 'pitfall'];

export { DISTILL_MARKER };

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The run as the model reads it: task, outcome, one line per tool call with its key argument and result. */
export function transcript(t: Trajectory): string {
  const lines = [`task: ${t.task}`, `outcome: ${t.outcome}${t.exitReason ? ` (${t.exitReason})` : ''}`];
  for (const s of t.steps) {
    for (const c of s.toolCalls) {
      if (c.name === 'final_answer') continue;
      const res = c.ok
        ? `ok: ${clip(c.output.replace(/\s+/g, ' '), 120)}`
        : `error ${c.errorCode ?? ''}`.trim();
      lines.push(`- step ${s.stepNo} ${c.name} ${clip(JSON.stringify(c.arguments ?? {}), 200)} → ${res}`);
    }
  }
  if (t.result !== null && t.result !== undefined)
    lines.push(`answer: ${clip(typeof t.result === 'string' ? t.result : JSON.stringify(t.result), 400)}`);
  return clip(lines.join('\n'), MODEL_LESSON_TRANSCRIPT_MAX_CHARS);
}

export function distillRequest(t: Trajectory): {
  messages: Array<{ role: 'system' | 'user'; content: string }>;
  maxOutputTokens: number;
} {
  return {
    messages: [
      {
        role: 'system',
        content: `${DISTILL_MARKER}
Write at most ${MODEL_LESSONS_MAX} lessons that would make a later run of a similar task succeed sooner or avoid a failure. One per line, as "correction: …" (what to do instead of what failed), "recipe: …" (the sequence that worked) or "pitfall: …" (what to avoid). Name exact paths, tools and arguments; nothing else, no preamble.`,
      },
      { role: 'user', content: transcript(t) },
    ],
    maxOutputTokens: 300,
  };
}

/** The model's answer as lessons: well-formed `<kind>: <text>` lines of a known kind, bounded. */
export function parseModelLessons(text: string, t: Trajectory): Lesson[] {
  const out: Lesson[] = [];
  const seen = new Set<string>();
  for (const raw of text.split('\n')) {
    const m = /^\s*(?:[-*\d.)\s]+)?\s*(correction|recipe|pitfall)\s*:\s*(.+?)\s*$/i.exec(raw);
    if (!m) continue;
    const kind = m[1]!.toLowerCase() as LessonKind;
    // eslint-style control-character strip: the text goes into later prompts and terminals
    const body = m[2]!.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
    if (!KINDS.includes(kind) || body.length < 8) continue;
    const lesson = clip(body, MODEL_LESSON_MAX_CHARS);
    if (seen.has(lesson)) continue;
    seen.add(lesson);
    out.push({
      kind,
      text: lesson,
      stepNo: t.steps.at(-1)?.stepNo ?? 0,
      confidence: t.success ? 0.6 : 0.4,
      origin: 'model',
    });
    if (out.length >= MODEL_LESSONS_MAX) break;
  }
  return out;
}
