/**
 * Picks the sandbox named by `security.sandbox`: `auto` = bubblewrap when it works here, else every
 * command is refused (UnavailableSandbox: the host is never used unless the config says `none`);
 * `bubblewrap` / `docker` fail with the fix when unavailable. The choice is never silent: it comes with a
 * status (name, whether commands are isolated, and a warning when they are not) that the kernel audits at
 * boot and reports on /api/v1/health and in the `aos start` banner.
 */
import { KernelError } from '../../errors.js';
import { logger } from '../../util/log.js';
import type { Sandbox } from '../sandbox.js';
import { BubblewrapSandbox } from './bubblewrap.js';
import { DockerSandbox } from './docker.js';
import { NoSandbox } from './none.js';
import { warmSpawner } from './run.js';
import { UnavailableSandbox } from './unavailable.js';

export type SandboxKind = 'auto' | 'bubblewrap' | 'none' | 'docker';

export interface SandboxStatus {
  /** The sandbox commands run in. */
  name: string;
  /** What config asked for. */
  configured: SandboxKind;
  /** Commands see only their paths and have no network of their own (filesystem + network isolation). */
  isolated: boolean;
  /** `auto` could not use bubblewrap (so commands are refused): why, in bwrap's own words; else null. */
  fallbackReason: string | null;
  /** What an operator must know, or null when commands are isolated. */
  warning: string | null;
}

/** What `none` cannot do, said wherever it is reported (health, banner, the boot's audit entry). */
const NONE_LIMITS =
  "they see the host's files and network and can read and write whatever the kernel's user can, other processes' workspaces included; only the paths a command names are checked before it starts, which is no boundary";

export function chooseSandbox(
  kind: SandboxKind = 'auto',
  opts: { dockerImage?: string; engine?: string } = {},
): { sandbox: Sandbox; status: SandboxStatus } {
  warmSpawner();
  let sandbox: Sandbox;
  let fallbackReason: string | null = null;
  switch (kind) {
    case 'bubblewrap':
      sandbox = new BubblewrapSandbox();
      break;
    case 'docker':
      sandbox = new DockerSandbox({
        ...(opts.dockerImage ? { image: opts.dockerImage } : {}),
        ...(opts.engine ? { engine: opts.engine } : {}),
      });
      break;
    case 'none':
      sandbox = new NoSandbox();
      break;
    case 'auto':
      try {
        sandbox = new BubblewrapSandbox();
      } catch (err) {
        fallbackReason = err instanceof Error ? err.message : String(err);
        sandbox = new UnavailableSandbox(fallbackReason);
      }
      break;
    default:
      throw new KernelError(
        'ECONFIG',
        `security.sandbox "${String(kind)}" is not one of auto, bubblewrap, none, docker`,
      );
  }
  const isolated = sandbox.capabilities.filesystemIsolation && sandbox.capabilities.networkIsolation;
  const warning = fallbackReason
    ? UnavailableSandbox.message(fallbackReason)
    : isolated
      ? null
      : `security.sandbox is ${kind}: commands run on the host without filesystem or network isolation (${NONE_LIMITS}).`;
  if (fallbackReason) logger('sandbox').warn(warning as string);
  return { sandbox, status: { name: sandbox.name, configured: kind, isolated, fallbackReason, warning } };
}

export function createSandbox(
  kind: SandboxKind = 'auto',
  opts: { dockerImage?: string; engine?: string } = {},
): Sandbox {
  return chooseSandbox(kind, opts).sandbox;
}
