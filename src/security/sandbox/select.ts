/**
 * Picks the sandbox named by `security.sandbox`: `auto` = bubblewrap when it works here, else none (with
 * the loud warning); `bubblewrap` / `docker` fail with the fix when unavailable.
 */
import { KernelError } from '../../errors.js';
import { logger } from '../../util/log.js';
import type { Sandbox } from '../sandbox.js';
import { BubblewrapSandbox } from './bubblewrap.js';
import { DockerSandbox } from './docker.js';
import { NoSandbox } from './none.js';
import { warmSpawner } from './run.js';

export type SandboxKind = 'auto' | 'bubblewrap' | 'none' | 'docker';

export function createSandbox(kind: SandboxKind = 'auto', opts: { dockerImage?: string } = {}): Sandbox {
  warmSpawner();
  switch (kind) {
    case 'bubblewrap':
      return new BubblewrapSandbox();
    case 'docker':
      return new DockerSandbox(opts.dockerImage ? { image: opts.dockerImage } : {});
    case 'none':
      return new NoSandbox();
    case 'auto':
      try {
        return new BubblewrapSandbox();
      } catch (err) {
        logger('sandbox').warn(`bubblewrap unavailable: ${err instanceof Error ? err.message : String(err)}`);
        return new NoSandbox();
      }
    default:
      throw new KernelError(
        'ECONFIG',
        `security.sandbox "${String(kind)}" is not one of auto, bubblewrap, none, docker`,
      );
  }
}
