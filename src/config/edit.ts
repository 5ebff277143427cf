/**
 * Edits to a user's config.yaml that keep the file as they wrote it: comments, alignment, quoting and key
 * order. The YAML document API locates the node (parseDocument keeps source ranges); the new text is
 * spliced in at that offset, so every other byte of the file is left alone — re-serialising the whole
 * document would realign comments and reflow lists.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, parseDocument, stringify } from 'yaml';
import { KernelError } from '../errors.js';
import { parseConfigText } from './load.js';

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l ? pad + l : l))
    .join('\n');
}

/** The column of offset `at` in `text` (spaces before it on its line). */
function columnOf(text: string, at: number): number {
  return at - (text.lastIndexOf('\n', at - 1) + 1);
}

/** Appends `entry` to the list at `mcp.servers`, creating the keys when missing. */
export function appendMcpServer(text: string, entry: Record<string, unknown>): string {
  const doc = parseDocument(text);
  if (doc.errors.length)
    throw new KernelError('ECONFIG', `config.yaml does not parse: ${doc.errors[0]!.message}`);
  const item = stringify([entry], { lineWidth: 0 });
  const mcp = doc.get('mcp', true);
  if (isScalar(mcp) && (mcp.value === null || mcp.value === '')) {
    // `mcp:` with nothing under it: the new keys go right below the key's line
    const top = isMap(doc.contents)
      ? doc.contents.items.find((p) => (p.key as { value?: unknown } | null)?.value === 'mcp')
      : undefined;
    const keyRange = (top?.key as { range?: [number, number, number] } | undefined)?.range;
    if (keyRange) {
      const eol = text.indexOf('\n', keyRange[0]);
      const at = eol < 0 ? text.length : eol;
      const col = columnOf(text, keyRange[0]);
      return `${text.slice(0, at)}\n${' '.repeat(col + 2)}servers:\n${indent(item, col + 4)}${text.slice(at)}`;
    }
  }
  if (mcp === undefined || mcp === null) {
    const sep = text === '' || text.endsWith('\n') ? '' : '\n';
    return `${text}${sep}mcp:\n  servers:\n${indent(item, 4)}\n`;
  }
  if (!isMap(mcp) || !mcp.range)
    throw new KernelError('ECONFIG', 'config.yaml: `mcp` must be a mapping (mcp: { servers: [...] })');
  const pair = mcp.items.find((p) => (p.key as { value?: unknown } | null)?.value === 'servers');
  const servers = pair?.value;
  if (!pair || servers === null || servers === undefined) {
    // `mcp:` without `servers:`: add the key at the map's indentation, after its last entry
    const col = columnOf(text, mcp.range[0]);
    const end = mcp.range[1];
    const before = text.slice(0, end).replace(/\n*$/, '');
    return `${before}\n${' '.repeat(col)}servers:\n${indent(item, col + 2)}\n${text.slice(end).replace(/^\n*/, '')}`;
  }
  if (!isSeq(servers) || !servers.range)
    throw new KernelError('ECONFIG', 'config.yaml: `mcp.servers` must be a list');
  const keyNode = pair.key as { range?: [number, number, number] };
  const keyCol = keyNode.range ? columnOf(text, keyNode.range[0]) : 2;
  const [start, valueEnd] = servers.range;
  if (servers.flow) {
    if (servers.items.length > 0) {
      // a non-empty flow list: re-serialise just that node, as a block list
      const all = stringify(servers.toJSON().concat([entry]), { lineWidth: 0 });
      return `${text.slice(0, start).trimEnd()}\n${indent(all, keyCol + 2)}${text.slice(valueEnd)}`;
    }
    return `${text.slice(0, start).trimEnd()}\n${indent(item, keyCol + 2)}${text.slice(valueEnd)}`;
  }
  const col = columnOf(text, start);
  const head = text.slice(0, valueEnd).replace(/\n*$/, '');
  return `${head}\n${indent(item, col)}\n${text.slice(valueEnd).replace(/^\n*/, '')}`;
}

/** The offset where the line holding `at` starts. */
function lineStart(text: string, at: number): number {
  return text.lastIndexOf('\n', at - 1) + 1;
}

/** The offset just past the line holding `at` (its newline included). */
function lineEnd(text: string, at: number): number {
  const eol = text.indexOf('\n', at);
  return eol < 0 ? text.length : eol + 1;
}

/**
 * Removes the `mcp.servers` entry named `name`, leaving every other byte alone (its comments, the other
 * entries). Returns the text unchanged when no entry has that name. The last entry leaves `servers: []`.
 */
export function removeMcpServer(text: string, name: string): string {
  const doc = parseDocument(text);
  if (doc.errors.length)
    throw new KernelError('ECONFIG', `config.yaml does not parse: ${doc.errors[0]!.message}`);
  const servers = doc.getIn(['mcp', 'servers'], true);
  if (!isSeq(servers) || !servers.range) return text;
  const at = servers.items.findIndex((it) => isMap(it) && it.get('name') === name);
  if (at < 0) return text;
  if (servers.flow) {
    const rest = (servers.toJSON() as unknown[]).filter((_, i) => i !== at);
    const [start, end] = servers.range;
    const flow = rest.length ? stringify(rest, { lineWidth: 0, collectionStyle: 'flow' }).trim() : '[]';
    return `${text.slice(0, start)}${flow}${text.slice(end)}`;
  }
  const node = servers.items[at] as { range?: [number, number, number] };
  if (!node.range) return text;
  const from = lineStart(text, node.range[0]);
  // the value ends at range[1]; its last character's line goes with it (a trailing comment included)
  const to = lineEnd(text, Math.max(node.range[0], node.range[1] - 1));
  if (servers.items.length > 1) return text.slice(0, from) + text.slice(to);
  // the only entry: `servers:` keeps an empty list, so the file still loads
  const pair = (doc.getIn(['mcp'], true) as { items?: Array<{ key: unknown; value: unknown }> }).items?.find(
    (p) => (p.key as { value?: unknown } | null)?.value === 'servers',
  );
  const keyRange = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
  if (!keyRange) return text.slice(0, from) + text.slice(to);
  const keyLineEnd = text.indexOf('\n', keyRange[1]);
  const head = text.slice(0, keyLineEnd < 0 ? text.length : keyLineEnd).replace(/[ \t]+$/, '');
  const between = keyLineEnd < 0 ? '' : text.slice(keyLineEnd, from);
  return `${head} []${between}${text.slice(to)}`;
}

/** An `mcp.servers[]` entry as a user would write it: only what differs from the defaults. */
export function mcpEntry(spec: {
  name: string;
  transport?: 'stdio' | 'http' | undefined;
  command?: string | undefined;
  args?: string[] | undefined;
  env?: Record<string, string> | undefined;
  url?: string | undefined;
  headers?: Record<string, string> | undefined;
  sandbox?: boolean | undefined;
  timeout_ms?: number | undefined;
}): Record<string, unknown> {
  const e: Record<string, unknown> = {
    name: spec.name,
    transport: spec.transport ?? (spec.url ? 'http' : 'stdio'),
  };
  if (spec.url) e.url = spec.url;
  if (spec.command) e.command = spec.command;
  if (spec.args?.length) e.args = spec.args;
  if (spec.env && Object.keys(spec.env).length) e.env = spec.env;
  if (spec.headers && Object.keys(spec.headers).length) e.headers = spec.headers;
  if (spec.sandbox === false) e.sandbox = false;
  if (spec.timeout_ms !== undefined) e.timeout_ms = spec.timeout_ms;
  return e;
}

/** Writes `text` to `file` whole or not at all (a temp file renamed over it), readable by its owner only. */
function writeConfig(file: string, before: string, text: string): void {
  parseConfigText(text, file); // never write a config that would not load
  if (text === before) return;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * Adds a server to the config file (created when missing), replacing an entry of the same name when
 * `replace` is set; otherwise an entry of that name is an EEXIST error. Comments and layout are kept.
 */
export function saveMcpServer(
  file: string,
  entry: Record<string, unknown>,
  o: { replace?: boolean } = {},
): void {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const name = String(entry.name);
  const current = parseDocument(before).toJS() as { mcp?: { servers?: Array<{ name: string }> } } | null;
  const has = current?.mcp?.servers?.some((s) => s?.name === name) ?? false;
  if (has && !o.replace) throw new KernelError('EEXIST', `mcp server "${name}" is already in ${file}`);
  const base = has ? removeMcpServer(before, name) : before;
  writeConfig(file, before, appendMcpServer(base, entry));
}

/** Removes the server named `name` from the config file; whether it was there. */
export function forgetMcpServer(file: string, name: string): boolean {
  if (!existsSync(file)) return false;
  const before = readFileSync(file, 'utf8');
  const text = removeMcpServer(before, name);
  writeConfig(file, before, text);
  return text !== before;
}
