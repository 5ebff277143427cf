/**
 * The sandbox seam: *how* a command runs once the policy said it may. Implementations declare what they
 * isolate through readonly capability flags (Kysely-style); the executor and the docs report them honestly.
 * Implementations: ./sandbox/bubblewrap.ts, ./sandbox/none.ts, ./sandbox/docker.ts; shared process
 * supervision (limits, output cap, wall-clock kill) is ./sandbox/run.ts.
 */
import type { ResourceLimits } from './policy.js';

export interface SandboxCapabilities {
  /** Only the paths in the request are visible; the rest of the host filesystem is not. */
  readonly filesystemIsolation: boolean;
  /** The command has no network route unless the request allows hosts. */
  readonly networkIsolation: boolean;
  /** Allowed hosts are reachable through a filtering proxy, everything else is not. */
  readonly networkAllowlist: boolean;
  /** Memory, CPU time, process count and file size are enforced by the OS. */
  readonly resourceLimits: boolean;
  /** Commands run in their own PID namespace: killing the sandbox kills every descendant. */
  readonly processIsolation: boolean;
}

export interface SandboxRequest {
  command: string;
  args: readonly string[];
  /** Working directory (must be one of writePaths or readPaths). */
  cwd: string;
  env?: Record<string, string>;
  stdin?: string;
  /** Host paths visible read-only. */
  readPaths?: readonly string[];
  /** Host paths visible read-write. */
  writePaths?: readonly string[];
  /**
   * Hosts reachable through the kernel's proxy (network_allow entries: `host`, `*.domain`, `host:port`,
   * `*` = any public address); empty or absent = no network. Loopback and private addresses only when
   * named literally. The sandbox never shares the host's network.
   */
  network?: readonly string[];
  /** Called for every connection the proxy refuses (the caller audits it). */
  onNetworkRefused?: (ev: NetworkRefusal) => void;
  limits: ResourceLimits;
  signal?: AbortSignal;
  /** Bytes of stdout+stderr kept; the command is killed when it produces much more. */
  maxOutputBytes?: number;
}

export interface NetworkRefusal {
  host: string;
  port: number;
  reason: string;
}

export type KillReason = 'timeout' | 'output' | 'abort';

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  durationMs: number;
  killed?: KillReason;
}

/** A long-lived command line (an MCP stdio server) wrapped so it starts inside the sandbox. */
export interface WrappedCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Releases what the wrapper set up (cgroups, proxies) once the process has exited. */
  cleanup(): Promise<void>;
  /** Kills every process the command started, wherever it went (present when a cgroup holds them). */
  killAll?(): void;
}

export interface Sandbox {
  readonly name: string;
  readonly capabilities: SandboxCapabilities;
  /** Runs a command to completion under the request's limits. Never throws for a non-zero exit. */
  exec(req: SandboxRequest): Promise<SandboxResult>;
  /** Wraps a command line for a caller that spawns and talks to it itself (MCP stdio). */
  wrap(req: Omit<SandboxRequest, 'stdin' | 'maxOutputBytes' | 'signal'>): Promise<WrappedCommand>;
}
