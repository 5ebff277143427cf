/**
 * McpManager: the `mcp.servers` list as a set of connections whose tools live in the ToolRegistry.
 * A server that fails to start is reported (status()) and skipped, not fatal: the kernel boots without it
 * and `refresh()` retries. Tools of a server are re-registered on every (re)discovery.
 */
import { logger } from '../../util/log.js';
import type { ToolRegistry } from '../registry.js';
import {
  type McpConnectionOptions,
  McpServerConnection,
  type McpServerSpec,
  type McpState,
} from './client.js';

const log = logger('mcp');

export interface McpServerStatus {
  name: string;
  transport: 'stdio' | 'http';
  state: McpState;
  tools: string[];
  sandboxed: boolean;
  error: string | null;
  reconnects: number;
}

export class McpManager {
  private readonly conns = new Map<string, McpServerConnection>();

  constructor(
    private readonly registry: ToolRegistry,
    private readonly o: McpConnectionOptions,
  ) {}

  add(spec: McpServerSpec): McpServerConnection {
    const c = new McpServerConnection(spec, this.o);
    this.conns.set(spec.name, c);
    return c;
  }

  /** Connects every server not yet connected and (re)registers its tools. Returns the status list. */
  async start(specs: readonly McpServerSpec[] = []): Promise<McpServerStatus[]> {
    for (const s of specs) if (!this.conns.has(s.name)) this.add(s);
    await Promise.all(
      [...this.conns.values()].map(async (c) => {
        try {
          await c.connect();
          this.registry.unregisterNamespace(c.name);
          this.registry.registerAll(c.tools());
        } catch (err) {
          log.warn(`mcp server ${c.name} not available: ${(err as Error).message}`);
        }
      }),
    );
    return this.status();
  }

  refresh(): Promise<McpServerStatus[]> {
    return this.start();
  }

  /** Disconnects a server and removes its tools from the registry. Returns whether it was known. */
  async remove(name: string): Promise<boolean> {
    const c = this.conns.get(name);
    if (!c) return false;
    this.conns.delete(name);
    this.registry.unregisterNamespace(name);
    await c.close();
    return true;
  }

  /**
   * Drops a server's connection and connects it again (a fresh process for stdio), re-registering its
   * tools: what an operator does after fixing what the server's error named. Resolves with its status,
   * connected or not (the error is in it); null when the name is unknown.
   */
  async reconnect(name: string): Promise<McpServerStatus | null> {
    const c = this.conns.get(name);
    if (!c) return null;
    this.registry.unregisterNamespace(name);
    await c.close();
    try {
      await c.connect();
      this.registry.registerAll(c.tools());
    } catch (err) {
      log.warn(`mcp server ${c.name} not available: ${(err as Error).message}`);
    }
    return this.status().find((s) => s.name === name) ?? null;
  }

  get(name: string): McpServerConnection | undefined {
    return this.conns.get(name);
  }

  status(): McpServerStatus[] {
    return [...this.conns.values()].map((c) => ({
      name: c.name,
      transport: c.kind(),
      state: c.state,
      tools: c.tools().map((t) => `${c.name}.${t.name}`),
      sandboxed: c.kind() === 'stdio' && c.spec.sandbox !== false,
      error: c.lastError,
      reconnects: c.reconnects,
    }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.close()));
  }
}
