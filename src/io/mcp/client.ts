/**
 * MCP client on @modelcontextprotocol/sdk. One McpServerConnection per `mcp.servers` entry: stdio servers
 * are started through Sandbox.wrap() (so they run inside bubblewrap with the workspace and their own
 * package files bound in), streamable-HTTP servers are reached by URL. Tools are discovered with
 * tools/list and registered namespaced (`<server>.<tool>`, wire name `<server>__<tool>`). A dropped
 * connection is re-established on the next call with exponential backoff; every request has a timeout.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import * as P from '../../param.js';
import type { ResourceLimits } from '../../security/policy.js';
import { minimalHostEnv } from '../../security/sandbox/env.js';
import type { Sandbox, WrappedCommand } from '../../security/sandbox.js';
import { logger } from '../../util/log.js';
import type { AnyTool, Permission } from '../tool.js';
import { resolveLaunch } from './launch.js';

const log = logger('mcp');

/** The `mcp.servers[]` entry (config.yaml shape). */
export interface McpServerSpec {
  name: string;
  transport?: 'stdio' | 'http';
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  url?: string;
  headers?: Record<string, string>;
  /** Start a stdio server inside the sandbox (default true). */
  sandbox?: boolean;
  timeout_ms?: number;
}

export interface McpConnectionOptions {
  sandbox: Sandbox;
  /** The workspace: the sandboxed server's cwd, bound read-write. */
  workspace: string;
  /**
   * The root workspaces live under (`security.workspace`). When set and a call comes from a process whose
   * workspace differs, a stdio server runs once per workspace (its cwd and bind that workspace, an
   * argument naming the root or this connection's workspace replaced by it): one process's filesystem
   * server never sees another's files.
   */
  workspaceRoot?: string;
  limits: ResourceLimits;
  connectTimeoutMs?: number;
  /** The kernel's data dir: a sandboxed server gets `<dataDir>/mcp/<name>/` to write its state in. */
  dataDir?: string;
  /** Where `npx <pkg>` looks for installed packages (default: cwd, then this kernel's install). */
  packageRoots?: string[];
}

export type McpState = 'disconnected' | 'connecting' | 'connected' | 'down';

interface RemoteTool {
  name: string;
  description?: string | undefined;
  inputSchema: Record<string, unknown>;
  annotations?: { readOnlyHint?: boolean | undefined } | undefined;
}

export class McpServerConnection {
  readonly name: string;
  state: McpState = 'disconnected';
  lastError: string | null = null;
  serverVersion: { name: string; version: string } | undefined;
  private client: Client | null = null;
  private wrapped: WrappedCommand | null = null;
  private connecting: Promise<void> | null = null;
  private remoteTools: RemoteTool[] = [];
  /** Successful connections after the first one. */
  reconnects = 0;
  private everConnected = false;
  /** A stdio server's instances for other workspaces, least recently used first. */
  private readonly perWorkspace = new Map<string, McpServerConnection>();

  constructor(
    readonly spec: McpServerSpec,
    private readonly o: McpConnectionOptions,
  ) {
    this.name = spec.name;
    if (!/^[a-zA-Z0-9_-]+$/.test(spec.name)) {
      throw new KernelError(
        'ECONFIG',
        `mcp server name "${spec.name}" may use letters, digits, _ and - only`,
      );
    }
    const kind = this.kind();
    if (kind === 'stdio' && !spec.command)
      throw new KernelError('ECONFIG', `mcp server ${spec.name}: stdio transport needs "command"`);
    if (kind === 'http' && !spec.url)
      throw new KernelError('ECONFIG', `mcp server ${spec.name}: http transport needs "url"`);
  }

  kind(): 'stdio' | 'http' {
    return this.spec.transport ?? (this.spec.url ? 'http' : 'stdio');
  }

  /** Connects (once; concurrent callers share the attempt) and discovers tools. */
  connect(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    this.connecting ??= this.doConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    this.state = 'connecting';
    const timeout = this.o.connectTimeoutMs ?? P.MCP_CONNECT_TIMEOUT_MS;
    try {
      const transport = await this.transport();
      const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
      const client = new Client({ name: 'agent-os-kernel', version: '0.1.0' }, { capabilities: {} });
      client.onclose = () => {
        if (this.client === client) {
          this.state = 'disconnected';
          this.client = null;
          log.warn(`mcp server ${this.name} disconnected`);
          void this.releaseWrap();
        }
      };
      client.onerror = (err) => {
        this.lastError = err.message;
      };
      await client.connect(transport, { timeout });
      const listed = await client.listTools(undefined, { timeout });
      this.client = client;
      this.serverVersion = client.getServerVersion();
      this.remoteTools = listed.tools as RemoteTool[];
      this.state = 'connected';
      this.lastError = null;
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      log.info(`mcp server ${this.name}: ${this.remoteTools.length} tools`, {
        transport: this.kind(),
        sandbox: this.sandboxed(),
      });
    } catch (err) {
      this.state = 'disconnected';
      this.lastError = err instanceof Error ? err.message : String(err);
      await this.releaseWrap();
      throw new KernelError('EBACKEND', `cannot connect to mcp server ${this.name}: ${this.lastError}`, {
        cause: err,
        retryable: true,
      });
    }
  }

  private sandboxed(): boolean {
    return this.kind() === 'stdio' && this.spec.sandbox !== false;
  }

  // The SDK loads on the first connect (~300 ms): a kernel without MCP servers never pays for it
  private async transport(): Promise<Transport> {
    if (this.kind() === 'http') {
      const { StreamableHTTPClientTransport } = await import(
        '@modelcontextprotocol/sdk/client/streamableHttp.js'
      );
      return new StreamableHTTPClientTransport(new URL(this.spec.url as string), {
        requestInit: { headers: this.spec.headers ?? {} },
      });
    }
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    // An argument naming the workspace root (the filesystem server's allowed directory) names this
    // connection's workspace instead: a server never gets every process's workspace.
    const root = this.o.workspaceRoot === undefined ? null : resolve(this.o.workspaceRoot);
    const args = (this.spec.args ?? [])
      .map((a) => absolutiseIfPath(a))
      .map((a) => (root !== null && a === root ? resolve(this.o.workspace) : a));
    if (!existsSync(this.o.workspace)) {
      throw new KernelError(
        'ENOTFOUND',
        `workspace ${this.o.workspace} does not exist (it is the stdio server's working directory); create it or set security.workspace`,
      );
    }
    if (!this.sandboxed()) {
      return new StdioClientTransport({
        command: this.spec.command as string,
        args,
        env: minimalHostEnv(this.spec.env ?? {}),
        cwd: this.o.workspace,
        stderr: 'pipe',
      });
    }
    const launch = resolveLaunch(
      { name: this.spec.name, command: this.spec.command as string, args, env: this.spec.env ?? {} },
      { dataDir: this.o.dataDir, ...(this.o.packageRoots ? { roots: this.o.packageRoots } : {}) },
    );
    const { readPaths, writePaths } = bindsFor(launch.args, this.o.workspace);
    // Long-lived runtimes (Node) reserve large virtual ranges: give the server at least 4 GB of address space.
    const limits = {
      ...this.o.limits,
      memoryMb: Math.max(this.o.limits.memoryMb, 4096),
      cpuSeconds: Math.max(this.o.limits.cpuSeconds, 3600),
      wallSeconds: 1e9,
    };
    this.wrapped = await this.o.sandbox.wrap({
      command: launch.command,
      args: launch.args,
      cwd: this.o.workspace,
      env: launch.env,
      readPaths,
      writePaths: [...writePaths, ...launch.writePaths],
      network: [],
      limits,
    });
    return new StdioClientTransport({
      command: this.wrapped.command,
      args: this.wrapped.args,
      env: this.wrapped.env,
      cwd: this.wrapped.cwd,
      stderr: 'pipe',
    });
  }

  private async releaseWrap(): Promise<void> {
    const w = this.wrapped;
    this.wrapped = null;
    await w?.cleanup().catch(() => {});
  }

  /** Kernel tools for every tool the server lists (namespace = server name). */
  tools(): AnyTool[] {
    return this.remoteTools.map((t) => this.toTool(t));
  }

  private toTool(t: RemoteTool): AnyTool {
    const perms: Permission[] = t.annotations?.readOnlyHint
      ? ['fs.read']
      : [this.kind() === 'http' ? 'net' : 'exec'];
    return {
      name: t.name,
      namespace: this.name,
      description: t.description ?? `${t.name} (MCP server ${this.name})`,
      input: inputValidator(t.inputSchema),
      jsonSchema: t.inputSchema,
      permissions: perms,
      idempotent: t.annotations?.readOnlyHint === true,
      timeoutMs: (this.spec.timeout_ms ?? P.MCP_CALL_TIMEOUT_MS) + 1_000,
      run: (args: unknown, ctx) =>
        this.forWorkspace(ctx.workspace).call(t.name, args as Record<string, unknown>, ctx.signal),
    };
  }

  /** The connection that serves a call made in `workspace` (this one, or the server started there). */
  forWorkspace(workspace: string): McpServerConnection {
    const ws = resolve(workspace);
    if (this.kind() !== 'stdio' || this.o.workspaceRoot === undefined || ws === resolve(this.o.workspace))
      return this;
    let c = this.perWorkspace.get(ws);
    if (c) {
      this.perWorkspace.delete(ws); // re-insert: most recently used last
    } else {
      const swap = new Set([resolve(this.o.workspace), resolve(this.o.workspaceRoot)]);
      const args = (this.spec.args ?? []).map((a) => {
        const abs = absolutiseIfPath(a);
        return swap.has(abs) ? ws : a;
      });
      const { workspaceRoot: _root, ...o } = this.o;
      c = new McpServerConnection({ ...this.spec, args }, { ...o, workspace: ws });
      while (this.perWorkspace.size >= P.MCP_WORKSPACE_SERVERS_MAX) {
        const [oldWs, old] = this.perWorkspace.entries().next().value as [string, McpServerConnection];
        this.perWorkspace.delete(oldWs);
        void old.close();
      }
    }
    this.perWorkspace.set(ws, c);
    return c;
  }

  /** tools/call with timeout and reconnect-on-failure. Tool-level errors (isError) become ETOOL. */
  async call(tool: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<string> {
    const timeout = this.spec.timeout_ms ?? P.MCP_CALL_TIMEOUT_MS;
    let attempt = 0;
    for (;;) {
      try {
        if (this.state !== 'connected') await this.connect();
        const client = this.client as Client;
        const res = await client.callTool({ name: tool, arguments: args }, undefined, {
          timeout,
          ...(signal ? { signal } : {}),
        });
        const text = renderContent(res.content as unknown[] | undefined, res.structuredContent);
        if (res.isError)
          throw new KernelError('ETOOL', `${this.name}.${tool}: ${text || 'the server reported an error'}`);
        return text;
      } catch (err) {
        if (err instanceof KernelError && err.code === 'ETOOL') throw err;
        const msg = err instanceof Error ? err.message : String(err);
        if (/timed out|timeout/i.test(msg)) {
          throw new KernelError('ETIMEDOUT', `${this.name}.${tool} did not answer within ${timeout} ms`, {
            retryable: true,
          });
        }
        if (signal?.aborted) throw new KernelError('EABORTED', `${this.name}.${tool} aborted`);
        if (this.state === 'connected' && !/Not connected|closed|EPIPE|ECONNRESET|ECONNREFUSED/i.test(msg)) {
          // A protocol-level error from a live server (bad arguments, unknown tool): not a connection problem.
          throw new KernelError('ETOOL', `${this.name}.${tool}: ${msg}`);
        }
        attempt++;
        if (attempt > P.MCP_RECONNECT_MAX) {
          this.state = 'down';
          throw new KernelError(
            'EBACKEND',
            `mcp server ${this.name} is unreachable after ${P.MCP_RECONNECT_MAX} reconnect attempts: ${msg}`,
            { retryable: true },
          );
        }
        await this.closeClient();
        await new Promise((r) => setTimeout(r, P.MCP_RECONNECT_BASE_MS * 2 ** (attempt - 1)));
      }
    }
  }

  private async closeClient(): Promise<void> {
    const c = this.client;
    this.client = null;
    this.state = 'disconnected';
    await c?.close().catch(() => {});
    await this.releaseWrap();
  }

  /** For tests and `aos mcp`: the server's process, if stdio. */
  get pid(): number | null {
    const t = (this.client as unknown as { transport?: { pid?: number | null } } | null)?.transport;
    return t?.pid ?? null;
  }

  async close(): Promise<void> {
    const others = [...this.perWorkspace.values()];
    this.perWorkspace.clear();
    await Promise.all([this.closeClient(), ...others.map((c) => c.close())]);
  }
}

function inputValidator(schema: Record<string, unknown>): z.ZodType {
  try {
    return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]) as z.ZodType;
  } catch {
    // A schema zod cannot express: check the shape only; the server validates the rest.
    return z.record(z.string(), z.unknown());
  }
}

function renderContent(content: unknown[] | undefined, structured: unknown): string {
  const parts: string[] = [];
  for (const c of content ?? []) {
    const item = c as {
      type: string;
      text?: string;
      mimeType?: string;
      resource?: { uri?: string; text?: string };
    };
    if (item.type === 'text') parts.push(item.text ?? '');
    else if (item.type === 'resource')
      parts.push(item.resource?.text ?? `[resource ${item.resource?.uri ?? ''}]`);
    else parts.push(`[${item.type}${item.mimeType ? ` ${item.mimeType}` : ''} content]`);
  }
  if (parts.length === 0 && structured !== undefined) return JSON.stringify(structured, null, 2);
  return parts.join('\n');
}

function absolutiseIfPath(a: string): string {
  if (a.startsWith('-') || isAbsolute(a)) return a;
  const abs = resolve(a);
  return existsSync(abs) ? abs : a;
}

/**
 * What a sandboxed stdio server needs to see: the workspace (rw), every existing path among its arguments
 * (the package's whole node_modules tree when the path is inside one, since its imports live there),
 * read-only unless inside the workspace.
 */
export function bindsFor(
  args: readonly string[],
  workspace: string,
): { readPaths: string[]; writePaths: string[] } {
  const ws = resolve(workspace);
  const read = new Set<string>();
  for (const a of args) {
    if (!isAbsolute(a) || !existsSync(a)) continue;
    const nm = a.lastIndexOf(`${sep}node_modules${sep}`);
    if (nm >= 0) {
      read.add(a.slice(0, nm + `${sep}node_modules`.length));
      continue;
    }
    if (a === ws || a.startsWith(ws + sep)) continue;
    read.add(statSync(a).isDirectory() ? a : dirname(a));
  }
  return { readPaths: [...read], writePaths: [ws] };
}
