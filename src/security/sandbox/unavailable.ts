/**
 * UnavailableSandbox: what `security.sandbox: auto` gives when bubblewrap cannot build a sandbox here.
 * Every command is refused (ESANDBOX, with bubblewrap's own words and the two fixes) — the kernel never
 * runs an agent's command on the host unless the config chose `sandbox: none` in so many words. Tools that
 * need no command (files, http, memory, mail) keep working; MCP servers that ask for the sandbox do not start.
 */
import { KernelError } from '../../errors.js';
import type { Sandbox, SandboxCapabilities, SandboxResult, WrappedCommand } from '../sandbox.js';

export class UnavailableSandbox implements Sandbox {
  readonly name = 'unavailable';
  readonly capabilities: SandboxCapabilities = {
    filesystemIsolation: false,
    networkIsolation: false,
    networkAllowlist: false,
    resourceLimits: false,
    processIsolation: false,
  };

  constructor(readonly reason: string) {}

  /** The refusal every command gets: why, and what the operator does about it. */
  static message(reason: string): string {
    return (
      `commands are refused: security.sandbox is auto and bubblewrap cannot isolate them here (${reason}). ` +
      'Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and make it work in this environment, ' +
      'or set security.sandbox: none in config.yaml to run commands on this host without isolation.'
    );
  }

  private refuse(command: string): never {
    throw new KernelError('ESANDBOX', UnavailableSandbox.message(this.reason), {
      details: { sandbox: 'unavailable', configured: 'auto', command },
    });
  }

  async exec(req: { command: string }): Promise<SandboxResult> {
    this.refuse(req.command);
  }

  async wrap(req: { command: string }): Promise<WrappedCommand> {
    this.refuse(req.command);
  }
}
