/**
 * Filesystem tools: read_file, write_file, edit_file, list_dir. They run in the kernel process (no fork),
 * so every path goes through SecurityPolicy.resolvePath (realpath, blocked paths, allowed roots) first and
 * is then opened race-free by ./fs-safe.ts (descriptor verified after open, writes by temp file + rename,
 * non-regular files refused without blocking). Binary content is data: reported by size, or base64.
 */
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import { TOOL_READ_FILE_MAX_BYTES } from '../../param.js';
import { sha256Hex } from '../../util/canonical.js';
import { defineTool, type ToolContext } from '../tool.js';
import {
  openChildDir,
  openDirVerified,
  openRegularForRead,
  readDirVerified,
  readPrefix,
  type VerifiedDir,
  writeVerified,
} from './fs-safe.js';

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text, or null when the bytes are binary (a NUL, or not valid UTF-8 apart from a cut at the end). */
export function decodeText(buf: Buffer, cut: boolean): string | null {
  if (buf.includes(0)) return null;
  let b = buf;
  if (cut) {
    // A read that stopped mid-character: drop the incomplete sequence (at most 3 bytes).
    let i = b.length - 1;
    let back = 0;
    while (i >= 0 && back < 3 && ((b[i] as number) & 0xc0) === 0x80) {
      i--;
      back++;
    }
    if (i >= 0 && (b[i] as number) >= 0xc0) b = b.subarray(0, i);
  }
  try {
    return fatalUtf8.decode(b);
  } catch {
    return null;
  }
}

function binaryNote(path: string, size: number): string {
  return `binary file, ${size} bytes (${path}); not shown as text — call read_file with encoding: "base64" to read its bytes`;
}

export const readFileTool = defineTool({
  name: 'read_file',
  description:
    'Read a UTF-8 text file. Optional 1-based line range (offset, limit) for large files. Binary files are reported as "binary file, N bytes"; pass encoding: "base64" to read their bytes.',
  input: z.object({
    path: z.string().min(1).describe('file path, relative to the workspace or absolute'),
    offset: z.number().int().positive().optional().describe('first line to return (1-based)'),
    limit: z.number().int().positive().optional().describe('maximum number of lines'),
    encoding: z
      .enum(['utf8', 'base64'])
      .optional()
      .describe('base64 returns the raw bytes, for binary files'),
  }),
  permissions: ['fs.read'],
  idempotent: true,
  async run(args, ctx) {
    const f = await openRegularForRead(ctx.policy, args.path, ctx.workspace);
    let buf: Buffer;
    try {
      buf = await readPrefix(f, TOOL_READ_FILE_MAX_BYTES);
    } finally {
      await f.fh.close();
    }
    const size = f.stat.size;
    const truncated = size > buf.length;
    const more = `\n[file is ${size} bytes; only the first ${buf.length} were read — use offset/limit]`;
    if (args.encoding === 'base64') return `${buf.toString('base64')}${truncated ? more : ''}`;
    let text = decodeText(buf, truncated);
    if (text === null) return binaryNote(args.path, size);
    if (args.offset !== undefined || args.limit !== undefined) {
      const lines = text.split('\n');
      const start = (args.offset ?? 1) - 1;
      text = lines.slice(start, args.limit !== undefined ? start + args.limit : undefined).join('\n');
    }
    return truncated ? `${text}${more}` : text;
  },
});

export const writeFileTool = defineTool({
  name: 'write_file',
  description:
    'Create or overwrite a text file (or append to it). Parent directories are created with create_dirs. encoding: "base64" writes the decoded bytes (binary files).',
  input: z.object({
    path: z.string().min(1),
    content: z.string(),
    append: z.boolean().optional(),
    create_dirs: z.boolean().optional(),
    encoding: z.enum(['utf8', 'base64']).optional(),
  }),
  permissions: ['fs.write'],
  // Idempotent by content: a whole write leaves the same file however often it runs; an append is planned
  // (the resulting content's hash goes into the call's intent record) and written whole by temp file +
  // rename, so a re-run after a crash sees whether the interrupted attempt landed and never appends twice.
  idempotent: true,
  async run(args, ctx) {
    const data =
      args.encoding === 'base64' ? Buffer.from(args.content, 'base64') : Buffer.from(args.content, 'utf8');
    const o = { createDirs: args.create_dirs ?? false, maxBytes: ctx.policy.limits.fileSizeMb * 1024 * 1024 };
    if (!args.append) {
      const bytes = await writeVerified(ctx.policy, args.path, ctx.workspace, data, o);
      return `wrote ${bytes} bytes to ${args.path}`;
    }
    const said = `appended ${data.length} bytes to ${args.path}`;
    return withFileLock(resolve(ctx.workspace, args.path), async () => {
      const before = await readCurrent(ctx, args.path, o.maxBytes);
      if (alreadyApplied(ctx, before)) return said;
      const after = before ? Buffer.concat([before, data]) : data;
      await ctx.recordPlan?.({ after: sha256Hex(after) } satisfies FilePlan);
      await writeVerified(ctx.policy, args.path, ctx.workspace, after, o);
      return said;
    });
  },
});

export const editFileTool = defineTool({
  name: 'edit_file',
  description:
    'Replace an exact string in a file. old_string must occur exactly once unless replace_all is true; include enough context to make it unique.',
  input: z.object({
    path: z.string().min(1),
    old_string: z.string().min(1),
    new_string: z.string(),
    replace_all: z.boolean().optional(),
  }),
  permissions: ['fs.read', 'fs.write'],
  // Idempotent by content, as write_file's append: a re-run finds the planned result there and stops.
  idempotent: true,
  async run(args, ctx) {
    return withFileLock(resolve(ctx.workspace, args.path), () => editFile(args, ctx));
  },
});

async function editFile(
  args: { path: string; old_string: string; new_string: string; replace_all?: boolean | undefined },
  ctx: ToolContext,
): Promise<string> {
  const maxBytes = ctx.policy.limits.fileSizeMb * 1024 * 1024;
  const f = await openRegularForRead(ctx.policy, args.path, ctx.workspace, 'write').catch((err) => {
    if (err instanceof KernelError && err.code === 'ENOTFOUND')
      throw new KernelError('ENOTFOUND', `${args.path} does not exist; create it with write_file`);
    throw err;
  });
  let buf: Buffer;
  try {
    if (f.stat.size > maxBytes)
      throw new KernelError(
        'EQUOTA',
        `${args.path} is ${f.stat.size} bytes, more than this process may write (${maxBytes})`,
      );
    buf = await readPrefix(f, f.stat.size);
  } finally {
    await f.fh.close();
  }
  const prior = ctx.priorPlan as (FilePlan & { count?: number }) | null | undefined;
  if (alreadyApplied(ctx, buf))
    return `replaced ${args.replace_all ? (prior?.count ?? 1) : 1} occurrence(s) in ${args.path}`;
  const text = decodeText(buf, false);
  if (text === null)
    throw new KernelError(
      'EINVAL',
      `${args.path} is a binary file, ${buf.length} bytes; edit_file edits text (write binary files whole with write_file and encoding: "base64")`,
    );
  const count = text.split(args.old_string).length - 1;
  if (count === 0)
    throw new KernelError(
      'EINVAL',
      `old_string was not found in ${args.path}; read the file and copy the text exactly`,
    );
  if (count > 1 && !args.replace_all) {
    throw new KernelError(
      'EINVAL',
      `old_string occurs ${count} times in ${args.path}; add surrounding context or pass replace_all: true`,
    );
  }
  const next = args.replace_all
    ? text.split(args.old_string).join(args.new_string)
    : text.replace(args.old_string, () => args.new_string);
  const out = Buffer.from(next, 'utf8');
  await ctx.recordPlan?.({ after: sha256Hex(out), count } satisfies FilePlan & { count: number });
  await writeVerified(ctx.policy, args.path, ctx.workspace, out, { maxBytes });
  return `replaced ${args.replace_all ? count : 1} occurrence(s) in ${args.path}`;
}

/** What a planned write will leave behind, recorded in the call's intent before the write. */
interface FilePlan {
  after: string;
}

/** True when an interrupted earlier attempt of this same call already left the file as planned. */
function alreadyApplied(ctx: ToolContext, current: Buffer | null): boolean {
  const plan = ctx.priorPlan as FilePlan | null | undefined;
  return Boolean(plan && current !== null && sha256Hex(current) === plan.after);
}

/** The file's bytes as they are now, or null when it does not exist. */
async function readCurrent(ctx: ToolContext, path: string, maxBytes: number): Promise<Buffer | null> {
  const f = await openRegularForRead(ctx.policy, path, ctx.workspace, 'write').catch((err) => {
    if (err instanceof KernelError && err.code === 'ENOTFOUND') return null;
    throw err;
  });
  if (!f) return null;
  try {
    if (f.stat.size > maxBytes)
      throw new KernelError(
        'EQUOTA',
        `${path} is ${f.stat.size} bytes, more than this process may write (${maxBytes})`,
      );
    return await readPrefix(f, f.stat.size);
  } finally {
    await f.fh.close();
  }
}

/** A read-modify-write of one file by several processes of this kernel is serialised per path. */
const fileLocks = new Map<string, Promise<unknown>>();
async function withFileLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = fileLocks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  fileLocks.set(key, tail);
  try {
    return await run;
  } finally {
    if (fileLocks.get(key) === tail) fileLocks.delete(key);
  }
}

export const listDirTool = defineTool({
  name: 'list_dir',
  description: 'List a directory (directories end with /). recursive lists the whole tree up to max_entries.',
  input: z.object({
    path: z.string().min(1).default('.'),
    recursive: z.boolean().optional(),
    max_entries: z.number().int().positive().max(10_000).optional(),
  }),
  permissions: ['fs.read'],
  idempotent: true,
  async run(args, ctx) {
    const rootReal = ctx.policy.resolvePath(args.path, 'read', ctx.workspace);
    const max = args.max_entries ?? 1000;
    const out: string[] = [];
    const walk = async (dir: VerifiedDir): Promise<void> => {
      const entries = await readDirVerified(dir);
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const e of entries) {
        if (out.length >= max) return;
        const full = join(dir.real, e.name);
        const rel = relative(rootReal, full);
        out.push(e.isDirectory() ? `${rel}/` : e.isSymbolicLink() ? `${rel} -> (symlink)` : rel);
        if (!args.recursive || !e.isDirectory() || e.name === '.git' || e.name === 'node_modules') continue;
        // A blocked subtree (and anything swapped for a link meanwhile) is listed, not entered.
        try {
          ctx.policy.resolvePath(full, 'read', ctx.workspace);
        } catch {
          continue;
        }
        const sub = await openChildDir(dir, e.name, join(args.path, rel)).catch(() => null);
        if (!sub) continue;
        try {
          await walk(sub);
        } finally {
          await sub.close();
        }
      }
    };
    const root = await openDirVerified(rootReal, args.path).catch((err: unknown) => {
      if (err instanceof KernelError && err.code === 'ENOTFOUND')
        throw new KernelError('ENOTFOUND', `${args.path}: does not exist`);
      if (err instanceof KernelError && err.code === 'EINVAL')
        throw new KernelError('EINVAL', `${args.path}: not a directory`);
      throw err;
    });
    try {
      await walk(root);
    } finally {
      await root.close();
    }
    return out.length >= max
      ? `${out.join('\n')}\n[stopped at ${max} entries]`
      : out.join('\n') || '(empty directory)';
  },
});
