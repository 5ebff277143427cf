/**
 * The built-in agent program: a tool-calling ReAct loop. One step = think (one LLM call over the paged
 * context) → act (the tool calls it asked for) → observe (results appended as pages). The answer is the
 * `final_answer` tool's argument, or plain text when the model calls no tool. State is plain JSON: the
 * context manager's exported page table travels inside it, so any step can be checkpointed and resumed.
 */
import { USER_TOPIC } from '../abi.js';
import { KernelError } from '../errors.js';
import type { ChatResponse } from '../llm/model.js';
import {
  DEFAULT_MAX_STEPS,
  REACT_MAX_MALFORMED as MAX_MALFORMED,
  REACT_OBSERVATION_MAX_CHARS,
} from '../param.js';
import { type AgentProgram, continueWith, done, fail, type StepRecord } from './program.js';

export interface ReactState {
  task: string;
  name: string;
  maxSteps: number;
  steps: number;
  /** Exported context (page table + resident pages); null before the first step. */
  ctx: unknown;
  lastObservation: string;
  /** Consecutive answers with malformed tool-call JSON (the process fails after MAX_MALFORMED). */
  malformed: number;
  /** The lessons this run was given, settled by its outcome at exit. */
  lessonIds?: string[];
  /** The agent profile it was spawned from. */
  profile?: string;
  learning?: boolean;
  /** Steps since the last user turn (the step limit is per turn: a conversation may go on). */
  turnSteps?: number;
  /** User messages taken as turns (conversations). */
  turns?: number;
}

export interface ReactArgs {
  maxSteps?: number;
  /** Replaces the built-in instructions entirely. */
  system?: string;
  /** A persona/system prompt placed ahead of the built-in instructions (spawn's `system`, a profile's). */
  persona?: string;
  /** Lessons from earlier runs (src/learning), appended to the system prompt: the stable prefix. */
  lessons?: { page: string; ids: string[] };
  /** The agent profile it was spawned from (config `agents:`), kept so trajectories can be grouped by it. */
  profile?: string;
  /** The profile's learning switch (lessons at spawn, distillation at exit); absent: learning.enabled. */
  learning?: boolean;
}

export const REACT_SYSTEM_PROMPT = [
  'You are an agent running as a process inside agent-os-kernel.',
  'Work step by step. Use the tools offered to gather facts and act; tool results are observations.',
  'Some earlier context may have been paged out and replaced by a stub with a page id: call `recall`',
  'with that id (or a query) to bring it back when you need it.',
  'When you have the answer, call `final_answer` with it (or reply with the answer and no tool call).',
].join('\n');

export const reactProgram: AgentProgram<ReactState & { system: string }> = {
  name: 'react',
  conversational: true,

  init({ task, name, args }) {
    const a = (args ?? {}) as ReactArgs;
    const base = a.system ?? (a.persona ? `${a.persona}\n\n${REACT_SYSTEM_PROMPT}` : REACT_SYSTEM_PROMPT);
    return {
      task,
      name,
      system: a.lessons?.page ? `${base}\n\n${a.lessons.page}` : base,
      ...(a.lessons?.ids.length ? { lessonIds: a.lessons.ids } : {}),
      ...(typeof a.profile === 'string' ? { profile: a.profile } : {}),
      ...(typeof a.learning === 'boolean' ? { learning: a.learning } : {}),
      maxSteps: a.maxSteps ?? DEFAULT_MAX_STEPS,
      steps: 0,
      ctx: null,
      lastObservation: '',
      malformed: 0,
    };
  },

  async step(state, sys) {
    const ctx = sys.context;
    let malformed = false;
    if (!ctx.isOpen()) {
      if (state.ctx) ctx.import(state.ctx);
      else {
        const tools = await sys.call('io.tools', {});
        ctx.open({ system: state.system, tools, task: state.task });
      }
    }
    let lastObservation = state.lastObservation;
    let turnSteps = state.turnSteps ?? state.steps;
    let turns = state.turns ?? 0;
    const said: string[] = [];
    if (sys.userMessages) {
      // A user's follow-up: appended as a user turn (append-only, the cached prefix survives).
      for (const m of await sys.call('ipc.recv', { topic: USER_TOPIC, limit: 20 })) {
        const text = userText(m.body);
        if (!text) continue;
        ctx.append({ kind: 'user', content: text });
        said.push(text);
        lastObservation = text;
        turnSteps = 0;
        turns += 1;
      }
    }
    await ctx.prepare(lastObservation || state.task);
    const prompt = ctx.render();
    let res: ChatResponse;
    try {
      res = await sys.call('llm.chat', { messages: prompt.messages, tools: prompt.tools });
    } catch (err) {
      // Malformed tool-call JSON is the model's mistake, not the process's: keep the answer and let the
      // tool executor return a structured argument error the model reads and corrects next step.
      const partial = KernelError.is(err, 'EINVAL')
        ? (err.details.response as ChatResponse | undefined)
        : undefined;
      if (!partial || state.malformed >= MAX_MALFORMED) throw err;
      res = partial;
      malformed = true;
    }
    ctx.observeUsage(res.usage, prompt.tokens);
    // The reasoning is part of the process's state: DeepSeek/Kimi/Anthropic/MiniMax want it back.
    ctx.append({
      kind: 'assistant',
      content: res.content,
      ...(res.toolCalls.length ? { toolCalls: res.toolCalls } : {}),
      ...(res.reasoning ? { reasoning: res.reasoning } : {}),
      ...(res.reasoningBlocks?.length ? { reasoningBlocks: res.reasoningBlocks } : {}),
    });

    const record: StepRecord = {
      kind: 'react',
      thought: res.reasoning ?? (res.toolCalls.length && res.content.trim() ? res.content : undefined),
      ...(res.reasoning ? { reasoning: res.reasoning } : {}),
      text: res.toolCalls.length ? undefined : res.content,
      toolCalls: [],
      usage: res.usage,
      promptTokens: prompt.tokens,
    };
    if (said.length) record.user = said;
    const next: ReactState & { system: string } = {
      ...state,
      steps: state.steps + 1,
      malformed: malformed ? state.malformed + 1 : 0,
    };
    if (turns > 0) Object.assign(next, { lastObservation, turns, turnSteps: turnSteps + 1 });

    if (res.toolCalls.length === 0) {
      if (res.finishReason === 'length' && !res.content.trim()) {
        next.ctx = ctx.export();
        return fail(next, 'the model hit its output limit without answering', record);
      }
      next.ctx = ctx.export();
      return done(next, res.content, { ...record, kind: 'answer' });
    }

    let answer: string | null = null;
    const observations: string[] = [];
    for (const call of res.toolCalls) {
      if (call.name === 'final_answer') {
        answer = parseAnswer(call.arguments);
        ctx.appendToolResult({ toolCallId: call.id, name: call.name, output: 'answer recorded' });
        record.toolCalls!.push({ ...call, ok: true, output: answer });
        continue;
      }
      const out = await sys.call('io.tool_call', call);
      ctx.appendToolResult({
        toolCallId: call.id,
        name: call.name,
        output: out.output,
        ...(out.ok ? {} : { isError: true }),
      });
      record.toolCalls!.push({
        ...call,
        ok: out.ok,
        output:
          out.output.length > REACT_OBSERVATION_MAX_CHARS
            ? `${out.output.slice(0, REACT_OBSERVATION_MAX_CHARS)}…`
            : out.output,
      });
      observations.push(out.output);
    }
    next.lastObservation = observations.join('\n').slice(0, REACT_OBSERVATION_MAX_CHARS);
    next.ctx = ctx.export();
    if (answer !== null) return done(next, answer, { ...record, kind: 'answer', text: answer });
    if ((next.turns ? next.turnSteps! : next.steps) >= next.maxSteps) {
      return fail(next, `step limit reached (${next.maxSteps} steps) without a final answer`, record);
    }
    return continueWith(next, record);
  },
};

/** The text of a user message body: `{ text }` from Kernel.send, or a bare string. */
function userText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (body && typeof body === 'object' && typeof (body as { text?: unknown }).text === 'string')
    return (body as { text: string }).text;
  return '';
}

function parseAnswer(raw: string): string {
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const a = o.answer ?? o.result ?? o.text;
      if (typeof a === 'string') return a;
      return JSON.stringify(v);
    }
    return String(v);
  } catch {
    return raw;
  }
}
