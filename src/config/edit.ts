/**
 * Edits to a user's config.yaml that keep the file as they wrote it: comments, alignment, quoting and key
 * order. The YAML document API locates the node (parseDocument keeps source ranges); the new text is
 * spliced in at that offset, so every other byte of the file is left alone — re-serialising the whole
 * document would realign comments and reflow lists.
 */
import { isMap, isScalar, isSeq, parseDocument, stringify } from 'yaml';
import { KernelError } from '../errors.js';

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
