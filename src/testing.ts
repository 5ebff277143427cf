/**
 * `agent-os-kernel/testing`: what a user's own tests need.
 * - The simulator (a rule-based or scripted stand-in for a model — never a real model) and its HTTP server.
 * - The PGlite template that makes every new test database start migrated (AOS_PGLITE_TEMPLATE).
 * - The conformance suites our own drivers, sandboxes, page stores and providers pass, compiled, so a
 *   third-party implementation can run them: `await storageConformance('my driver', { open })` at the top
 *   level of a vitest file. They need vitest (an optional peer dependency), loaded only when a suite is
 *   called, so importing this module without vitest is fine.
 */
import type { PageStore } from './context/store.js';
import { Workspaces } from './io/workspaces.js';
import type { ConformanceTarget } from './llm/provider.case.js';
import type { Sandbox } from './security/sandbox.js';
import type { DriverUnderTest } from './storage/testing/conformance.case.js';

export type { SimEngine, SimulatorOptions } from './llm/simulated/engine.js';
export type { Scenario, ScriptedTurn } from './llm/simulated/scenario.js';
export {
  createSimulator,
  type SimulatorHandle,
  type SimulatorServerOptions,
} from './llm/simulated/server.js';
export { SimulatedProvider } from './llm/simulated/simulated-provider.js';
export { createPgliteTemplate, PGLITE_TEMPLATE_ENV } from './storage/testing/pglite-template.js';
export type { ConformanceTarget, DriverUnderTest };

/** Every storage suite (state, audit, coordination, memory, vectors, pages) against your StorageDriver. */
export async function storageConformance(title: string, target: DriverUnderTest): Promise<void> {
  (await import('./storage/testing/conformance.case.js')).storageConformance(title, target);
}

/** Your Sandbox: exec, limits, isolation — each isolation case gated on the capabilities it claims. */
export async function sandboxConformance(name: string, make: () => Sandbox, skip?: string): Promise<void> {
  (await import('./security/sandbox/sandbox.case.js')).sandboxConformance(name, make, skip);
}

/**
 * Your Model (usually a provider's model pointed at createSimulator()'s urlFor(preset)): plain, streaming,
 * tool calls, usage with cached tokens, 429 + Retry-After, circuit, fallback, abort, timeout, bad output.
 */
export async function providerConformance(target: ConformanceTarget): Promise<void> {
  (await import('./llm/provider.case.js')).providerConformance(target);
}

/** Your PageStore (the context layer's swap space); integerPids when it stores pids as integers. */
export async function pageStoreConformance(
  title: string,
  makeStore: () => PageStore,
  opts: { integerPids: boolean } = { integerPids: true },
): Promise<void> {
  const [{ describe }, { pageStoreCases }] = await Promise.all([
    import('vitest'),
    import('./context/page-store.case.js'),
  ]);
  describe(`${title}: PageStore conformance`, () => pageStoreCases(makeStore, opts));
}

/**
 * Where process `pid`'s tools work under the workspace root `root` (`security.workspace`), as the kernel
 * decides it: `<root>/proc/<pid>` (the default), `<root>/shared/<name>` when its policy names a shared
 * workspace, `<root>` itself with `security.shared_workspace: true`. For a live kernel,
 * `(await kernel.get(pid)).workspace` says the same.
 */
export function workspacePath(
  root: string,
  pid: number,
  o: { workspace?: string; sharedWorkspace?: boolean } = {},
): string {
  return new Workspaces(root, o.sharedWorkspace ?? false, null).of(pid, { workspace: o.workspace }).path;
}
