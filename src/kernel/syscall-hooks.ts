/**
 * The hooks named after the syscalls, typed with each syscall's arguments and result: `<name>.before` may
 * veto or replace the arguments, `<name>.after` observes; each fires exactly once per call. The gate
 * (./syscall-gate.ts) fires them for most syscalls; four fire where their mechanism is, so they also cover
 * calls that do not come through a step: `proc.spawn.*` at every spawn (./spawn.ts), `io.tool_call.*` in
 * the one executor, the API's tool calls included (./device-binding.ts), `llm.chat.*` and `llm.embed.*`
 * around the model call itself (./services.ts; `ms` is the model's time, not the queue's).
 */
import type { z } from 'zod';
import type { KernelError } from '../errors.js';
import type { ChatResponse } from '../llm/model.js';
import type { SYSCALL_ARGS, SyscallName, SyscallResults } from './syscalls.js';

type Args<K extends SyscallName> = z.output<(typeof SYSCALL_ARGS)[K]>;

/** Syscalls whose named hooks fire at their mechanism, not in the gate (see above). */
export const MECHANISM_HOOKED: ReadonlySet<SyscallName> = new Set([
  'proc.spawn',
  'io.tool_call',
  'llm.chat',
  'llm.embed',
]);

type GateHooked = Exclude<SyscallName, 'proc.spawn' | 'io.tool_call' | 'llm.chat' | 'llm.embed'>;

export type SyscallHookEvents = {
  [K in GateHooked as `${K}.before`]: { pid: number; name: K; args: Args<K>; purpose?: string };
} & {
  [K in GateHooked as `${K}.after`]: {
    pid: number;
    name: K;
    args: Args<K>;
    result?: SyscallResults[K];
    error?: KernelError;
    ms: number;
    purpose?: string;
  };
} & {
  /** Also under its alias `llm.before` (whose handlers read `model`, `messages` and `tools` as counts). */
  'llm.chat.before': {
    pid: number;
    name: 'llm.chat';
    args: Args<'llm.chat'>;
    model: string;
    messages: number;
    tools: number;
    purpose?: string;
  };
  'llm.chat.after': {
    pid: number;
    name: 'llm.chat';
    model: string;
    usage: ChatResponse['usage'] | null;
    ms: number;
    error?: KernelError;
    purpose?: string;
  };
  'llm.embed.before': {
    pid: number;
    name: 'llm.embed';
    args: Args<'llm.embed'>;
    model: string;
    purpose?: string;
  };
  'llm.embed.after': {
    pid: number;
    name: 'llm.embed';
    model: string;
    usage: null;
    tokens: number;
    ms: number;
    purpose?: string;
  };
};

declare module '../hooks/bus.js' {
  interface HookEvents extends SyscallHookEvents {}
}
