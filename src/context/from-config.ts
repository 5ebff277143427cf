/**
 * Builds the kernel's ContextManager from config.yaml's `context` section (replacer and water marks,
 * output reserve) plus the runtime pieces config cannot name (the page store, the model summarizer).
 */
import type { AosConfig } from '../config/schema.js';
import { ContextManager } from './manager.js';
import { replacerByName } from './replacer.js';
import type { PageStore } from './store.js';
import type { Summarizer } from './summarizer.js';

export function contextManagerFromConfig(
  section: AosConfig['context'],
  runtime: { store?: PageStore; summarizer?: Summarizer; maxContextTokens?: number } = {},
): ContextManager {
  return new ContextManager({
    replacer: replacerByName(section.replacer, {
      highWater: section.high_water,
      lowWater: section.low_water,
    }),
    outputReserve: section.output_reserve_tokens,
    ...(runtime.store ? { store: runtime.store } : {}),
    ...(runtime.summarizer ? { summarizer: runtime.summarizer } : {}),
    ...(runtime.maxContextTokens ? { maxContextTokens: runtime.maxContextTokens } : {}),
  });
}
