/**
 * Where learning meets a process's life: at spawn, the lessons for its task become part of the built-in
 * agent's system prompt (the stable prefix, so the prompt cache holds); at exit, its trajectory is
 * distilled and the lessons it was given are settled by its outcome. Both are no-ops unless
 * `learning.enabled` is set; a failure here is logged and never fails the process.
 */
import type { AosConfig } from '../config/schema.js';
import { logger } from '../util/log.js';
import type { Learning } from './learning.js';
import { type Lesson, lessonsPage } from './lessons.js';

const log = logger('learning');

/** What the built-in agent receives in its spawn args: the lesson page and the ids to settle at exit. */
export interface LessonArgs {
  lessons?: { page: string; ids: string[] };
}

export async function lessonArgs(
  learning: Learning,
  cfg: AosConfig['learning'],
  program: string,
  task: string,
  args: unknown,
): Promise<unknown> {
  const a = (args ?? {}) as Record<string, unknown> & {
    profile?: string;
    tenant?: string;
    learning?: boolean;
  };
  if (!(a.learning ?? cfg.enabled) || program !== 'react' || cfg.lessons_k === 0) return args;
  try {
    const found = await learning.lessonsFor(task, {
      k: cfg.lessons_k,
      maxChars: cfg.max_chars,
      minSimilarity: cfg.min_similarity,
      ...(typeof a.profile === 'string' ? { profile: a.profile } : {}),
      ...(typeof a.tenant === 'string' ? { tenant: a.tenant } : {}),
    });
    if (found.length === 0) return args;
    return { ...a, lessons: { page: lessonsPage(found), ids: found.map((l) => l.id) } } satisfies LessonArgs;
  } catch (err) {
    log.warn(`lesson retrieval failed; the process starts without lessons: ${String(err)}`);
    return args;
  }
}

/**
 * Before a process's exit commits: its own model writes lessons about the run, through `chat` — the
 * kernel's gate as `llm.chat` with purpose 'learning', charged to the process. Returns [] (and the
 * extractive lessons stand alone) for a killed process, a simulated model, or any failure.
 */
export async function modelLessonsAtExit(
  learning: Learning,
  pid: number,
  exit: { outcome: 'done' | 'failed' | 'killed'; result: unknown; exitReason: string | null },
  chat:
    | ((req: {
        messages: Array<{ role: 'system' | 'user'; content: string }>;
        maxOutputTokens: number;
      }) => Promise<{ content: string }>)
    | null,
): Promise<Lesson[]> {
  if (!chat || exit.outcome === 'killed') return [];
  try {
    return await learning.writeLessons(pid, { ...exit, outcome: exit.outcome }, chat);
  } catch (err) {
    log.warn(`process ${pid}: its model wrote no lessons, keeping the extractive ones: ${String(err)}`);
    return [];
  }
}

export async function learnFromExit(
  learning: Learning,
  pid: number,
  programState: unknown,
  written: readonly Lesson[] = [],
): Promise<void> {
  const used = ((programState ?? {}) as { lessonIds?: string[] }).lessonIds ?? [];
  try {
    await learning.onExit(pid, { usedLessons: used, written });
  } catch (err) {
    log.warn(`learning from process ${pid} failed: ${String(err)}`);
  }
}

/** Whether learning is on for a process: its profile's `learning`, else the config's `learning.enabled`. */
export function learningOn(cfg: AosConfig['learning'], programState: unknown): boolean {
  const own = ((programState ?? {}) as { learning?: unknown }).learning;
  return typeof own === 'boolean' ? own : cfg.enabled;
}
