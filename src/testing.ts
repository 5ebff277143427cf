/**
 * Test doubles and helpers shipped for users' own tests (`agent-os-kernel/testing`): the in-process
 * simulator (a rule-based or scripted stand-in for a model — never a real model) and its HTTP server.
 */
export { SimulatedProvider } from './llm/simulated/simulated-provider.js';
export type { SimulatorOptions } from './llm/simulated/engine.js';
export type { Scenario, ScriptedTurn } from './llm/simulated/scenario.js';
export { createSimulator, type SimulatorHandle, type SimulatorServerOptions } from './llm/simulated/server.js';
