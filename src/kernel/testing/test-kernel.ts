/**
 * The kernel a test boots when it is not testing the boot itself: memory:// storage, no plugins, no
 * sandbox, no demo agents, its own temp data dir with the workspace inside (removed by close()). Tests
 * spelled this block out a dozen times; a default changed here changes it for every one of them.
 * Tests only — not part of the package's `/testing` export.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AosConfigInput } from '../../config/schema.js';
import type { KernelOptions } from '../boot.js';
import { createKernel, type Kernel } from '../kernel.js';

export interface TestKernelOptions extends Omit<KernelOptions, 'config'> {
  /** Merged over the defaults; `security` and `server` key by key, the rest replaced. */
  config?: AosConfigInput;
  /** The data dir (default: a fresh temp dir, removed by close()); the workspace is `<dir>/ws` unless set. */
  dir?: string;
}

export interface TestKernel {
  kernel: Kernel;
  /** The data dir. */
  dir: string;
  /** Shuts the kernel down and removes the temp dir it made (a given `dir` is left). */
  close(): Promise<void>;
}

/** The config a test kernel runs with: `config` over the defaults, data_dir set to dir. */
export function testKernelConfig(dir: string, config: AosConfigInput = {}): AosConfigInput {
  return {
    data_dir: dir,
    ...config,
    security: { sandbox: 'none', workspace: join(dir, 'ws'), ...config.security },
    server: { demo_agents: false, ...config.server },
  };
}

export async function bootTestKernel(o: TestKernelOptions = {}): Promise<TestKernel> {
  const { config, dir: given, ...opts } = o;
  const dir = given ?? mkdtempSync(join(tmpdir(), 'aos-test-'));
  try {
    const kernel = await createKernel({
      storage: 'memory://',
      plugins: false,
      ...opts,
      config: testKernelConfig(dir, config),
    });
    return {
      kernel,
      dir,
      async close() {
        await kernel.shutdown();
        if (!given) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (!given) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** One `llms.models` entry for an OpenAI-compatible server at baseUrl (a fake, or the simulator). */
export function openAiModel(name: string, baseUrl: string, apiKey = 'k') {
  return { name, provider: 'openai', base_url: baseUrl, api_key: apiKey } as const;
}
