/** `agent-os-kernel/config`: config.yaml loading and validation, the template, and every limit (param). */

export * as param from '../param.js';
export { type LoadedConfig, loadConfig, parseConfig, parseConfigText } from './load.js';
export type { AosConfig, AosConfigInput } from './schema.js';
export { CONFIG_TEMPLATE } from './template.js';
