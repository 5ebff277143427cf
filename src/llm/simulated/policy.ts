/**
 * The simulator's rule-based policy, for demos and benchmarks: it reads the task (the last user message)
 * and the offered tools and behaves like a small tool-using agent — arithmetic goes to a calculator tool,
 * a path goes to read_file / list_dir, a tool the task names gets called, then it answers (through a
 * `final_answer` tool when one is offered, else as text) using what the tools returned. Deterministic:
 * the same conversation and seed give the same turn. It is rules, not a language model, and says so: a task
 * beyond its rules gets a plain "beyond the simulator's rules" answer (./knowledge.ts), never a guess.
 */
import { SIM_MAX_TOOL_ROUNDS } from '../../param.js';
import { sha256Hex } from '../../util/canonical.js';
import { findModel } from '../catalog.js';
import type { ChatMessage, ToolCall, ToolSpec } from '../model.js';
import { distillAnswer, isDistillRequest } from './distill.js';
import { applyReplacements, instructedReplacements, recoverMissingFile } from './instructions.js';
import { beyondRules, glossaryAnswer, LIST_TASK, listingAnswer } from './knowledge.js';
import type { SimRequest } from './scenario.js';

export interface SimTurn {
  content: string;
  reasoning?: string;
  toolCalls: ToolCall[];
  /** The request's stop sequence that ended `content` (cut before it, as a vendor does). */
  stopSequence?: string;
}

export type Policy = (req: SimRequest, seed: number) => SimTurn;

const FINISH_TOOLS = ['final_answer', 'finish', 'answer', 'submit'];
const ARITH =
  /(?:[a-z]{2,6}\(|\()?-?\d+(?:\.\d+)?\)?(?:\s*(?:[-+*/^%×÷]|\*\*)\s*(?:[a-z]{2,6}\(|\()?-?\d+(?:\.\d+)?\)?)+/g;
/** A command the task quotes in backticks: `ls -la`, run by a shell tool when one is offered. */
const COMMAND = /`([^`\n]+)`/g;
/** …or names after a colon: "run the shell command: echo hi", "execute: ls -la" (to the end of the line). */
const COMMAND_AFTER = /\b(?:command|run|execute|exec)\s*:\s*([^\n`]*[^\s.`])\.?\s*$/im;
const SHELL_TOOLS = /^(shell|bash|sh|exec|run_command|terminal)$/i;

/** The commands a task asks a shell to run: backticked ones, else one after "command:" / "run:". */
function commandsIn(task: string): string[] {
  const quoted = [...task.matchAll(COMMAND)].map((m) => m[1]!.trim());
  if (quoted.length) return quoted;
  const after = COMMAND_AFTER.exec(task)?.[1]?.trim();
  return after ? [after] : [];
}
const LISTERS = ['list_dir', 'list_directory', 'ls', 'fs_list'];
const PATH = /(?:^|[\s"'`(])((?:\.{1,2}\/|\/|~\/)?[\w@.-]+(?:\/[\w@.-]+)*\/?)(?=$|[\s"'`),;:!?])/g;

interface Seen {
  calls: Array<{ name: string; args: string }>;
  results: Array<{ name: string; content: string; args: string }>;
  rounds: number;
}

function sinceTask(messages: ChatMessage[]): { task: string; seen: Seen } {
  let start = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === 'user') {
      start = i;
      break;
    }
  }
  const task = start >= 0 ? messages[start]!.content : '';
  const seen: Seen = { calls: [], results: [], rounds: 0 };
  const argsById = new Map<string, { name: string; args: string }>();
  for (const m of messages.slice(start + 1)) {
    if (m.role === 'assistant' && m.toolCalls?.length) {
      seen.rounds++;
      for (const tc of m.toolCalls) {
        seen.calls.push({ name: tc.name, args: tc.arguments });
        argsById.set(tc.id, { name: tc.name, args: tc.arguments });
      }
    } else if (m.role === 'tool') {
      const c = argsById.get(m.toolCallId ?? '');
      seen.results.push({ name: m.name ?? c?.name ?? 'tool', content: m.content, args: c?.args ?? '{}' });
    }
  }
  return { task, seen };
}

function props(t: ToolSpec): { names: string[]; required: string[]; types: Record<string, string> } {
  const p = (t.parameters.properties ?? {}) as Record<string, { type?: string }>;
  const types: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) types[k] = typeof v?.type === 'string' ? v.type : 'string';
  const required = Array.isArray(t.parameters.required) ? (t.parameters.required as string[]) : [];
  return { names: Object.keys(p), required, types };
}

/** Arguments for a tool from its schema: `primary` goes to the first string parameter. */
function argsFor(t: ToolSpec, primary: string, task: string): Record<string, unknown> {
  const { names, required, types } = props(t);
  const out: Record<string, unknown> = {};
  const want = required.length ? required : names.slice(0, 1);
  let primaryUsed = false;
  for (const k of want) {
    const ty = types[k] ?? 'string';
    if (ty === 'number' || ty === 'integer') out[k] = Number(/-?\d+(?:\.\d+)?/.exec(task)?.[0] ?? 1);
    else if (ty === 'boolean') out[k] = true;
    else if (ty === 'array') out[k] = [primary];
    else if (ty === 'object') out[k] = {};
    else {
      out[k] = primaryUsed ? task : primary;
      primaryUsed = true;
    }
  }
  return out;
}

function pickTool(tools: ToolSpec[], ...names: string[]): ToolSpec | undefined {
  for (const n of names) {
    const t = tools.find((x) => x.name === n);
    if (t) return t;
  }
  return undefined;
}

function callId(seed: number, messages: ChatMessage[], k: number): string {
  return `call_${sha256Hex(`${seed}:${messages.length}:${k}:${messages[messages.length - 1]?.content ?? ''}`).slice(0, 20)}`;
}

function clipText(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** A shell-like result ({ exit_code, stdout, stderr }) read as what a person would quote: its output. */
function commandOutput(content: string): string | null {
  let r: { exit_code?: unknown; stdout?: unknown; stderr?: unknown };
  try {
    r = JSON.parse(content) as typeof r;
  } catch {
    return null;
  }
  if (!r || typeof r !== 'object' || typeof r.stdout !== 'string' || typeof r.exit_code !== 'number')
    return null;
  const err = typeof r.stderr === 'string' && r.stderr.trim() ? ` (stderr: ${r.stderr.trim()})` : '';
  return r.exit_code === 0
    ? `${r.stdout.trim()}${err}`
    : `exit code ${r.exit_code}: ${r.stdout.trim()}${err}`;
}

function summarise(task: string, seen: Seen, tools: readonly ToolSpec[]): string {
  if (seen.results.length === 0) {
    return (
      glossaryAnswer(task) ??
      beyondRules(
        task,
        tools.map((t) => t.name),
      )
    );
  }
  // A listing task answered from its one listing: how many entries, which ones.
  if (LIST_TASK.test(task) && seen.results.length === 1 && LISTERS.includes(seen.results[0]!.name)) {
    const r = seen.results[0]!;
    if (!r.content.startsWith('error ')) {
      let path = '.';
      try {
        const a = JSON.parse(r.args) as { path?: unknown };
        if (typeof a.path === 'string') path = a.path;
      } catch {}
      return listingAnswer(r.content, path);
    }
  }
  const lines = seen.results.map((r) => {
    let a: Record<string, unknown> = {};
    try {
      a = JSON.parse(r.args) as Record<string, unknown>;
    } catch {}
    const what = Object.values(a).find((v) => typeof v === 'string') ?? '';
    const body = clipText(commandOutput(r.content) ?? r.content, 300);
    return /calc|math/.test(r.name)
      ? `${what} = ${body.trim()}`
      : `${r.name}(${String(what)}): ${body.trim()}`;
  });
  return `(simulated) Based on ${seen.results.length} tool result(s):\n${lines.join('\n')}`;
}

export const reactPolicy: Policy = (req, seed) => {
  if (isDistillRequest(req.messages)) return { content: distillAnswer(req.messages), toolCalls: [] };
  const { task, seen } = sinceTask(req.messages);
  const tools = req.tools;
  const called = (name: string, args: Record<string, unknown>) => {
    const a = JSON.stringify(args);
    return seen.calls.some((c) => c.name === name && c.args === a);
  };
  const thinks =
    findModel(req.model)?.capabilities.reasoning === true || /reason|think|r1|minimax-m/i.test(req.model);
  const plan: Array<{ tool: ToolSpec; args: Record<string, unknown> }> = [];

  if (seen.rounds < SIM_MAX_TOOL_ROUNDS && !seen.calls.some((c) => FINISH_TOOLS.includes(c.name))) {
    const sh = tools.find((t) => SHELL_TOOLS.test(t.name));
    if (sh) {
      for (const cmd of commandsIn(task)) {
        const args = argsFor(sh, cmd, task);
        if (!called(sh.name, args)) {
          plan.push({ tool: sh, args });
          break; // one command per round: the next may depend on this one's output
        }
      }
    }
    // what the shell runs is not also arithmetic or a path for the other rules
    const plain = sh ? task.replace(COMMAND, ' ').replace(COMMAND_AFTER, ' ') : task;
    const calc = tools.find((t) => /calc|math|arith/i.test(t.name));
    if (calc && plan.length === 0) {
      for (const m of plain.match(ARITH) ?? []) {
        const args = argsFor(calc, m.trim(), task);
        if (!called(calc.name, args)) plan.push({ tool: calc, args });
      }
    }
    if (plan.length === 0) {
      const reader = pickTool(tools, 'read_file', 'fs_read', 'cat');
      const lister = pickTool(tools, 'list_dir', 'list_directory', 'ls', 'fs_list');
      const reps = instructedReplacements(req.messages);
      for (const m of plain.matchAll(PATH)) {
        const p = applyReplacements(m[1]!, reps);
        const isFile = /\.[A-Za-z0-9]{1,8}$/.test(p) && !/^\d+(\.\d+)*$/.test(p);
        const isDir = p.endsWith('/') || (p.includes('/') && !isFile);
        const tool = isFile ? reader : isDir ? (lister ?? reader) : undefined;
        if (!tool) continue;
        const args = argsFor(tool, p.replace(/\/$/, '') || '/', task);
        if (!called(tool.name, args)) {
          plan.push({ tool, args });
          break;
        }
      }
    }
    if (plan.length === 0 && LIST_TASK.test(plain)) {
      // "list the files in the workspace": no path named, so the workspace root
      const lister = pickTool(tools, ...LISTERS);
      const args = lister
        ? props(lister).names.includes('path')
          ? { path: '.' }
          : argsFor(lister, '.', task)
        : null;
      if (lister && args && !seen.calls.some((c) => c.name === lister.name))
        plan.push({ tool: lister, args });
    }
    if (plan.length === 0) {
      const next = recoverMissingFile(
        seen.results,
        pickTool(tools, 'read_file', 'fs_read', 'cat'),
        pickTool(tools, 'list_dir', 'list_directory', 'ls', 'fs_list'),
        called,
      );
      if (next) plan.push(next);
    }
    if (plan.length === 0) {
      const words = new Set(task.toLowerCase().split(/[^a-z0-9_]+/));
      for (const t of tools) {
        if (FINISH_TOOLS.includes(t.name)) continue;
        const named =
          task.includes(t.name) || t.name.split('_').some((part) => part.length >= 5 && words.has(part));
        if (!named || seen.calls.some((c) => c.name === t.name)) continue;
        plan.push({ tool: t, args: argsFor(t, task.slice(0, 200), task) });
        break;
      }
    }
  }

  const reasoning = thinks
    ? plan.length
      ? `The task needs ${plan.map((p) => p.tool.name).join(', ')} first.`
      : `Enough information gathered after ${seen.results.length} tool result(s); answering.`
    : undefined;
  if (plan.length) {
    return {
      content: '',
      ...(reasoning ? { reasoning } : {}),
      toolCalls: plan.map((p, k) => ({
        id: callId(seed, req.messages, k),
        name: p.tool.name,
        arguments: JSON.stringify(p.args),
      })),
    };
  }
  const answer = summarise(task, seen, tools);
  const finish = pickTool(tools, ...FINISH_TOOLS);
  if (finish && !seen.calls.some((c) => c.name === finish.name)) {
    return {
      content: '',
      ...(reasoning ? { reasoning } : {}),
      toolCalls: [
        {
          id: callId(seed, req.messages, 0),
          name: finish.name,
          arguments: JSON.stringify(argsFor(finish, answer, answer)),
        },
      ],
    };
  }
  return { content: answer, ...(reasoning ? { reasoning } : {}), toolCalls: [] };
};
