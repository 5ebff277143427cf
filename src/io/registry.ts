/**
 * The tool registry: full names are `namespace.name` (`filesystem.read_file`; built-ins have no namespace).
 * Models see a wire name, because OpenAI-style APIs only accept `^[a-zA-Z0-9_-]{1,64}$`: dots become `__`,
 * other characters `_`, and names longer than 64 get a hash suffix. `resolve()` accepts either form.
 */
import { z } from 'zod';
import { KernelError } from '../errors.js';
import type { ToolSpec } from '../llm/model.js';
import { sha256Hex } from '../util/canonical.js';
import { type AnyTool, fullToolName } from './tool.js';

const NAME_OK = /^[a-zA-Z0-9_-]+$/;

export function toWireName(fullName: string): string {
  const w = fullName.replace(/\./g, '__').replace(/[^a-zA-Z0-9_-]/g, '_');
  if (w.length <= 64) return w;
  return `${w.slice(0, 55)}_${sha256Hex(fullName).slice(0, 8)}`;
}

import { toolMatches } from '../security/permissions.js';

export { toolMatches };

export type ToolFilter = ((fullName: string, tool: AnyTool) => boolean) | readonly string[];

export class ToolRegistry {
  private readonly byName = new Map<string, AnyTool>();
  private readonly byWire = new Map<string, string>();
  private readonly schemaCache = new Map<string, Record<string, unknown>>();
  private gen = 0;

  /** Bumped by every registration and removal: a list derived from the registry is stale once it moves. */
  get generation(): number {
    return this.gen;
  }

  register(tool: AnyTool, opts: { replace?: boolean } = {}): this {
    if (!NAME_OK.test(tool.name.replace(/\./g, '_'))) {
      throw new KernelError('EINVAL', `tool name "${tool.name}" may use letters, digits, _, - and . only`);
    }
    const full = fullToolName(tool);
    if (this.byName.has(full) && !opts.replace) {
      throw new KernelError(
        'EEXIST',
        `tool "${full}" is already registered; pass { replace: true } to replace it`,
      );
    }
    const wire = toWireName(full);
    const clash = this.byWire.get(wire);
    if (clash !== undefined && clash !== full) {
      throw new KernelError(
        'EEXIST',
        `tool "${full}" maps to wire name "${wire}", already used by "${clash}"`,
      );
    }
    this.byName.set(full, tool);
    this.byWire.set(wire, full);
    this.schemaCache.delete(full);
    this.gen++;
    return this;
  }

  registerAll(tools: Iterable<AnyTool>, opts: { replace?: boolean } = {}): this {
    for (const t of tools) this.register(t, opts);
    return this;
  }

  /** Removes every tool of a namespace (an MCP server that went away). Returns how many were removed. */
  unregisterNamespace(namespace: string): number {
    let n = 0;
    for (const [full, t] of this.byName) {
      if (t.namespace !== namespace) continue;
      this.byName.delete(full);
      this.byWire.delete(toWireName(full));
      this.schemaCache.delete(full);
      n++;
    }
    if (n) this.gen++;
    return n;
  }

  /** Looks a tool up by full name or wire name; undefined when unknown. */
  resolve(name: string): AnyTool | undefined {
    return this.byName.get(name) ?? this.byName.get(this.byWire.get(name) ?? '');
  }

  get(name: string): AnyTool {
    const t = this.resolve(name);
    if (!t) {
      throw new KernelError(
        'ENOTFOUND',
        `no tool named "${name}"; known tools: ${this.names().join(', ') || '(none)'}`,
      );
    }
    return t;
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  list(): AnyTool[] {
    return this.names().map((n) => this.byName.get(n) as AnyTool);
  }

  get size(): number {
    return this.byName.size;
  }

  jsonSchema(tool: AnyTool): Record<string, unknown> {
    const full = fullToolName(tool);
    let s = this.schemaCache.get(full);
    if (!s) {
      s =
        tool.jsonSchema ??
        (z.toJSONSchema(tool.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>);
      // The $schema marker is noise to a model and breaks some providers' validators.
      const { $schema: _drop, ...rest } = s;
      s = rest;
      this.schemaCache.set(full, s);
    }
    return s;
  }

  /**
   * Tool specs for a model request, sorted by name so the same tool set renders byte-identically
   * (the prompt-cache prefix starts with the tools). `filter` is a predicate or a list of patterns.
   */
  specs(filter?: ToolFilter): ToolSpec[] {
    const keep =
      filter === undefined
        ? () => true
        : typeof filter === 'function'
          ? filter
          : (full: string) => filter.some((p) => toolMatches(p, full));
    const out: ToolSpec[] = [];
    for (const full of this.names()) {
      const t = this.byName.get(full) as AnyTool;
      if (!keep(full, t)) continue;
      out.push({ name: toWireName(full), description: t.description, parameters: this.jsonSchema(t) });
    }
    return out;
  }
}
