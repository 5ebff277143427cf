/**
 * Runs the provider conformance suite against every preset (OpenAI-compatible, over HTTP through the
 * `openai` SDK), Anthropic (through `@anthropic-ai/sdk`) and the in-process simulator, all on one simulator
 * listening on an ephemeral loopback port.
 */
import { afterAll, beforeAll } from 'vitest';
import { AnthropicProvider } from './anthropic/anthropic-provider.js';
import { OpenAiCompatibleProvider } from './openai-compatible/openai-compatible-provider.js';
import { PRESETS } from './presets.js';
import { providerConformance } from './provider.case.js';
import { createSimulator, type SimulatorHandle } from './simulated/server.js';
import { SimulatedProvider } from './simulated/simulated-provider.js';

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await createSimulator();
});
afterAll(async () => {
  await sim.close();
});

for (const preset of PRESETS) {
  if (preset.kind === 'anthropic') {
    providerConformance({
      label: `${preset.name} (@anthropic-ai/sdk over HTTP)`,
      preset,
      model: 'claude-sonnet-4-6',
      make: () =>
        new AnthropicProvider({ apiKey: 'test-key', baseUrl: sim.urlFor(preset.name) }).model(
          'claude-sonnet-4-6',
        ),
      engine: () => sim.engine,
    });
    continue;
  }
  providerConformance({
    label: `${preset.name} (openai SDK over HTTP)`,
    preset,
    model: preset.defaultModel,
    make: () =>
      new OpenAiCompatibleProvider({ preset, apiKey: 'test-key', baseUrl: sim.urlFor(preset.name) }).model(
        preset.defaultModel,
      ),
    engine: () => sim.engine,
  });
}

const simPreset = PRESETS.find((p) => p.name === 'simulated')!;
providerConformance({
  label: 'simulated (in-process engine)',
  preset: simPreset,
  model: 'sim-react',
  make: () => new SimulatedProvider({ engine: sim.engine }).model('sim-react'),
  engine: () => sim.engine,
});
