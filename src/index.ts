/**
 * The root entry of agent-os-kernel: the few names a user of the kernel needs (README, docs, examples).
 * Everything else is one subpath away: agent-os-kernel/{storage,llm,context,io,security,scheduler,config,api,learning,testing}.
 *
 * Importing this file must stay cheap (< 150 ms; `npm run bench` measures it as startup.import-root):
 * the kernel, the HTTP server and the config loader pull in zod, yaml, Fastify and prom-client, so the
 * three factories below load their module on the first call. Types cost nothing at run time.
 */
import type * as api from './api/server.js';
import type * as kernel from './kernel/kernel.js';

// ── kernel ──
/** Boots a kernel (storage, scheduler, models, tools); loads the kernel's modules on the first call. */
export const createKernel: typeof kernel.createKernel = async (...args) =>
  (await import('./kernel/kernel.js')).createKernel(...args);
export type { AosConfig, AosConfigInput } from './config/schema.js';
// ── context ──
export { ContextManager } from './context/manager.js';
export { RECALL_TOOL, runRecallTool } from './context/recall-tool.js';
export { SqlPageStore } from './context/sql-page-store.js';
// ── errors, config ──
export { ERROR_CODES, KernelError, type KernelErrorCode } from './errors.js';
export { type HookEvents, type HookName, Hooks } from './hooks/bus.js';
export type { KernelPlugin } from './hooks/plugins.js';
export { type CliToolDeclaration, defineCliTool } from './io/cli-tool.js';
// ── tools, security ──
export { defineTool, type Tool, type ToolContext, type ToolResult } from './io/tool.js';
export type { ContextHandle } from './kernel/context-handle.js';
export type { Kernel, KernelOptions, KernelStatus, ProcessInfo, SpawnOptions } from './kernel/kernel.js';
export { createModelResolver, type ModelResolver, resolverFromProvider } from './kernel/model-resolver.js';
export type { ProcessState, WaitReason } from './kernel/pcb.js';
export {
  type AgentProgram,
  continueWith,
  done,
  fail,
  type StepRecord,
  type StepResult,
} from './kernel/program.js';
export { REACT_SYSTEM_PROMPT, reactProgram } from './kernel/react.js';
export type { Sys, SyscallArgs, SyscallName, SyscallResults } from './kernel/syscalls.js';
export type { Analysis, Suggestion } from './learning/analyze.js';
export type { EvalReport, EvalSuite } from './learning/eval.js';
export { Learning } from './learning/learning.js';
// ── learning (the seeds' names; the rest under agent-os-kernel/learning) ──
export { AgentOptimizer, TrajectoryRecorder } from './learning/recorder.js';
export type { Trajectory, TrajectoryStep } from './learning/trajectory.js';
export { type LLMConfig, LLMProviderFactory } from './llm/factory.js';
// ── models ──
export type { ChatMessage, ChatRequest, ChatResponse, Model, ModelProvider, ToolCall } from './llm/model.js';
export { createSimulator, type SimulatorHandle } from './llm/simulated/server.js';
export { SimulatedProvider } from './llm/simulated/simulated-provider.js';
export { AuditAnchors, verifyWithAnchors } from './security/anchors.js';
export { processTimeline } from './security/replay.js';
// ── storage ──
export type { StorageDriver } from './storage/driver.js';
export { openStorage } from './storage/open.js';
export { type CreateStorageOptions, createStorage, type Storage } from './storage/storage.js';

// ── HTTP API ──
/** Serves the REST API, events, /metrics and the dashboard for a kernel; loads Fastify on the first call. */
export const createServer: typeof api.createServer = async (...args) =>
  (await import('./api/server.js')).createServer(...args);
export type { ApiServer, ServerOptions } from './api/server.js';
