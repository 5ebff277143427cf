/**
 * Experience accumulation. When a process ends its trajectory is distilled into lessons — a correction
 * (a call that failed and the variant that then worked), the tool sequence that solved the task, or the
 * pitfall that ended a failed run — stored as memories (owner `lessons:<tenant>`, namespace `lessons`) with
 * provenance (pid, step), the task they came from and a confidence. A new process with a similar task gets
 * the best lessons, within a token budget, in the stable part of its prompt. Outcomes feed back: a lesson
 * used by a run that succeeds gains confidence, one used by a run that fails loses it and is forgotten
 * below LESSON_MIN_CONFIDENCE. The distillation here is extractive (no model call); see docs/learning.md.
 */
import { LESSON_MIN_CONFIDENCE, LESSONS_K, LESSONS_MAX_CHARS, LESSONS_MIN_SIMILARITY } from '../param.js';
import type { MemoryRecord, MemoryStore } from '../storage/memory/memory-store.js';
import { cosine, type Embedder } from '../util/embedder.js';
import type { Trajectory, TrajectoryToolCall } from './trajectory.js';

export const LESSON_NAMESPACE = 'lessons';

export type LessonKind = 'correction' | 'recipe' | 'pitfall';

export interface Lesson {
  kind: LessonKind;
  text: string;
  /** The step the lesson was learned at. */
  stepNo: number;
  confidence: number;
  /** Who wrote it: the extractive distiller (default) or the process's own model (./model-distill.ts). */
  origin?: 'extractive' | 'model';
}

export interface StoredLesson extends Lesson {
  id: string;
  pid: number;
  agent: string;
  profile: string | null;
  task: string;
  outcome: string;
  uses: number;
  wins: number;
  createdAt: string;
}

export interface RetrievedLesson extends StoredLesson {
  similarity: number;
}

export const lessonOwner = (tenant: string | null | undefined) => `lessons:${tenant || 'default'}`;

function primaryArg(c: TrajectoryToolCall): string | null {
  const a = c.arguments;
  if (typeof a === 'string') return a;
  if (a && typeof a === 'object') {
    const o = a as Record<string, unknown>;
    for (const k of ['path', 'url', 'command', 'file', 'query'])
      if (typeof o[k] === 'string') return o[k] as string;
    const first = Object.values(o).find((v) => typeof v === 'string');
    if (typeof first === 'string') return first;
  }
  return null;
}

/** [badDir/, goodDir/] when two paths name the same file in different directories. */
function moved(bad: string, good: string): [string, string] | null {
  const b = bad.split('/');
  const g = good.split('/');
  if (b.length < 2 || g.length < 2 || b.at(-1) !== g.at(-1)) return null;
  return [`${b.slice(0, -1).join('/')}/`, `${g.slice(0, -1).join('/')}/`];
}

const short = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Extractive distillation: lessons a later run can act on, each traceable to a step. */
export function distill(t: Trajectory): Lesson[] {
  const out: Lesson[] = [];
  const calls: Array<{ stepNo: number; c: TrajectoryToolCall }> = [];
  for (const s of t.steps)
    for (const c of s.toolCalls) if (c.name !== 'final_answer') calls.push({ stepNo: s.stepNo, c });

  // Corrections: a failed call followed later by a successful call of the same tool with another argument.
  const seen = new Set<string>();
  calls.forEach(({ c }, i) => {
    if (c.ok) return;
    const bad = primaryArg(c);
    if (bad === null) return;
    const fix = calls.slice(i + 1).find((x) => x.c.ok && x.c.name === c.name && primaryArg(x.c) !== bad);
    const good = fix ? primaryArg(fix.c) : null;
    if (!fix || good === null) return;
    // Same file name in another directory: the lesson is about the directory, so it carries to the
    // family's other files (notes/a.txt → data/a.txt teaches "data/ instead of notes/").
    const [from, to] = moved(bad, good) ?? [bad, good];
    const key = `${c.name}:${from}→${to}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({
      kind: 'correction',
      text: `${c.name}: use ${to} instead of ${from} (${bad} failed with ${c.errorCode ?? 'an error'}; ${good} worked).`,
      stepNo: fix.stepNo,
      confidence: t.success ? 0.7 : 0.5,
    });
  });

  if (t.success && calls.length > 0) {
    const okCalls = calls
      .filter((x) => x.c.ok)
      .map((x) => `${x.c.name}(${short(primaryArg(x.c) ?? '', 60)})`);
    if (okCalls.length)
      out.push({
        kind: 'recipe',
        text: `Solved in ${t.totals.steps} steps with: ${okCalls.slice(0, 6).join(' → ')}.`,
        stepNo: t.steps.at(-1)?.stepNo ?? 0,
        confidence: 0.6,
      });
  }
  if (!t.success && t.outcome === 'failed') {
    const lastErr = [...calls].reverse().find((x) => !x.c.ok);
    out.push({
      kind: 'pitfall',
      text: `A run of this task failed (${short(t.exitReason ?? 'unknown reason')})${
        lastErr
          ? `; ${lastErr.c.name}(${short(primaryArg(lastErr.c) ?? '', 60)}) failed with ${lastErr.c.errorCode}`
          : ''
      }.`,
      stepNo: t.steps.at(-1)?.stepNo ?? 0,
      confidence: 0.4,
    });
  }
  return out;
}

function toStored(r: MemoryRecord): StoredLesson {
  const m = r.metadata as Record<string, unknown>;
  return {
    id: r.id,
    kind: (m.kind as LessonKind) ?? 'recipe',
    text: r.content,
    stepNo: Number(m.step ?? 0),
    confidence: Number(m.confidence ?? 0.5),
    pid: Number(m.pid ?? 0),
    agent: String(m.agent ?? ''),
    profile: (m.profile as string | null) ?? null,
    task: String(m.task ?? ''),
    outcome: String(m.outcome ?? ''),
    uses: Number(m.uses ?? 0),
    wins: Number(m.wins ?? 0),
    origin: m.origin === 'model' ? 'model' : 'extractive',
    createdAt: r.createdAt.toISOString(),
  };
}

function metadataOf(l: Omit<StoredLesson, 'id' | 'text' | 'createdAt'>): Record<string, unknown> {
  return {
    kind: l.kind,
    step: l.stepNo,
    confidence: Math.round(l.confidence * 1000) / 1000,
    pid: l.pid,
    agent: l.agent,
    profile: l.profile,
    task: l.task,
    outcome: l.outcome,
    uses: l.uses,
    wins: l.wins,
    origin: l.origin ?? 'extractive',
  };
}

/** Lessons as memories: store, retrieve by task similarity, reinforce or decay, list, delete. */
export class LessonBook {
  constructor(private readonly memory: MemoryStore) {}

  private get embedder(): Embedder {
    return this.memory.embedder;
  }

  /** Distils and stores a finished trajectory's lessons; returns what was stored. */
  async learn(
    t: Trajectory,
    tenant?: string | null,
    written: readonly Lesson[] = [],
  ): Promise<StoredLesson[]> {
    const lessons = [...distill(t)];
    for (const l of written) if (!lessons.some((x) => x.text === l.text)) lessons.push(l);
    if (lessons.length === 0) return [];
    const owner = lessonOwner(tenant);
    const recs = await this.memory.storeMany(
      lessons.map((l) => ({
        owner,
        namespace: LESSON_NAMESPACE,
        // The task is part of the stored text so full-text search finds lessons by task words too.
        content: l.text,
        metadata: metadataOf({
          ...l,
          pid: t.pid,
          agent: t.agent,
          profile: t.profile,
          task: t.task,
          outcome: t.outcome,
          uses: 0,
          wins: 0,
        }),
      })),
    );
    return recs.map(toStored);
  }

  /**
   * The lessons for a new task: candidates by hybrid search over lesson text, then ranked by the cosine
   * similarity of their source task to this one times their confidence; at most `k`, within `maxChars`.
   */
  async retrieve(
    task: string,
    o: {
      tenant?: string | null;
      k?: number;
      maxChars?: number;
      minSimilarity?: number;
      profile?: string | null;
    } = {},
  ): Promise<RetrievedLesson[]> {
    const all = await this.list({ tenant: o.tenant ?? null, limit: 500 });
    if (all.length === 0) return [];
    const candidates = o.profile ? all.filter((l) => l.profile === o.profile || l.profile === null) : all;
    const [qv, ...tv] = await this.embedder.embed([task, ...candidates.map((c) => c.task)]);
    const min = o.minSimilarity ?? LESSONS_MIN_SIMILARITY;
    const ranked = candidates
      .map((c, i) => ({ ...c, similarity: cosine(qv!, tv[i]!) }))
      .filter((c) => c.similarity >= min)
      .sort((a, b) => b.similarity * b.confidence - a.similarity * a.confidence || a.id.localeCompare(b.id));
    const out: RetrievedLesson[] = [];
    let chars = 0;
    const maxChars = o.maxChars ?? LESSONS_MAX_CHARS;
    const texts = new Set<string>();
    for (const r of ranked) {
      if (out.length >= (o.k ?? LESSONS_K)) break;
      if (texts.has(r.text)) continue;
      if (chars + r.text.length > maxChars) continue;
      texts.add(r.text);
      chars += r.text.length;
      out.push(r);
    }
    return out;
  }

  /** Feedback from a run that used these lessons: success reinforces, failure decays (and forgets). */
  async feedback(ids: readonly string[], success: boolean): Promise<{ kept: number; forgotten: number }> {
    let kept = 0;
    let forgotten = 0;
    for (const id of ids) {
      const r = await this.memory.get(id);
      if (!r) continue;
      const l = toStored(r);
      const confidence = success ? l.confidence + (1 - l.confidence) * 0.2 : l.confidence * 0.6;
      if (confidence < LESSON_MIN_CONFIDENCE) {
        await this.memory.delete(id);
        forgotten++;
        continue;
      }
      await this.memory.store({
        id,
        owner: r.owner,
        namespace: r.namespace,
        content: r.content,
        metadata: metadataOf({ ...l, confidence, uses: l.uses + 1, wins: l.wins + (success ? 1 : 0) }),
      });
      kept++;
    }
    return { kept, forgotten };
  }

  async list(o: { tenant?: string | null; limit?: number } = {}): Promise<StoredLesson[]> {
    const recs = await this.memory.list({
      owner: lessonOwner(o.tenant),
      namespace: LESSON_NAMESPACE,
      limit: o.limit ?? 200,
    });
    return recs.map(toStored);
  }

  async delete(id: string): Promise<boolean> {
    return this.memory.delete(id);
  }
}

/** The pinned page text a process starts with (part of its system prompt, so the prefix cache holds). */
export function lessonsPage(lessons: readonly Lesson[]): string {
  if (lessons.length === 0) return '';
  return [
    'Lessons from earlier runs of similar tasks (follow them unless the task says otherwise):',
    ...lessons.map((l) => `- ${l.text}`),
  ].join('\n');
}
