/**
 * Filesystem tools: read_file, write_file, edit_file, list_dir. They run in the kernel process (no fork),
 * so every path goes through SecurityPolicy.resolvePath (realpath, symlink-safe, blocked paths) first, and
 * writes refuse to follow a symlink at the last component (O_NOFOLLOW) to close the check-then-use gap.
 */
import { constants, promises as fs } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import { defineTool } from '../tool.js';

const MAX_READ_BYTES = 512 * 1024;

async function writeNoFollow(
  path: string,
  content: string,
  append: boolean,
  maxBytes: number,
): Promise<number> {
  const bytes = Buffer.byteLength(content);
  if (bytes > maxBytes) {
    throw new KernelError(
      'EQUOTA',
      `content is ${bytes} bytes; this process may write files of at most ${maxBytes} bytes`,
    );
  }
  const flags =
    constants.O_WRONLY |
    constants.O_CREAT |
    constants.O_NOFOLLOW |
    (append ? constants.O_APPEND : constants.O_TRUNC);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, flags, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP')
      throw new KernelError('EPERM', `${path} is a symbolic link; write to its target path instead`);
    if (code === 'ENOENT')
      throw new KernelError(
        'ENOTFOUND',
        `the directory of ${path} does not exist; create it first (write_file with create_dirs: true)`,
      );
    throw err;
  }
  try {
    await fh.writeFile(content, 'utf8');
  } finally {
    await fh.close();
  }
  return bytes;
}

export const readFileTool = defineTool({
  name: 'read_file',
  description: 'Read a UTF-8 text file. Optional 1-based line range (offset, limit) for large files.',
  input: z.object({
    path: z.string().min(1).describe('file path, relative to the workspace or absolute'),
    offset: z.number().int().positive().optional().describe('first line to return (1-based)'),
    limit: z.number().int().positive().optional().describe('maximum number of lines'),
  }),
  permissions: ['fs.read'],
  idempotent: true,
  async run(args, ctx) {
    const p = ctx.policy.resolvePath(args.path, 'read', ctx.workspace);
    const st = await fs.stat(p).catch(() => {
      throw new KernelError('ENOTFOUND', `${args.path} does not exist`);
    });
    if (st.isDirectory()) throw new KernelError('EINVAL', `${args.path} is a directory; use list_dir`);
    const fh = await fs.open(p, 'r');
    let text: string;
    let truncated = false;
    try {
      const n = Math.min(st.size, MAX_READ_BYTES);
      const buf = Buffer.alloc(n);
      await fh.read(buf, 0, n, 0);
      text = buf.toString('utf8');
      truncated = st.size > MAX_READ_BYTES;
    } finally {
      await fh.close();
    }
    if (args.offset !== undefined || args.limit !== undefined) {
      const lines = text.split('\n');
      const start = (args.offset ?? 1) - 1;
      text = lines.slice(start, args.limit !== undefined ? start + args.limit : undefined).join('\n');
    }
    return truncated
      ? `${text}\n[file is ${st.size} bytes; only the first ${MAX_READ_BYTES} were read — use offset/limit]`
      : text;
  },
});

export const writeFileTool = defineTool({
  name: 'write_file',
  description:
    'Create or overwrite a text file (or append to it). Parent directories are created with create_dirs.',
  input: z.object({
    path: z.string().min(1),
    content: z.string(),
    append: z.boolean().optional(),
    create_dirs: z.boolean().optional(),
  }),
  permissions: ['fs.write'],
  idempotent: false,
  async run(args, ctx) {
    const p = ctx.policy.resolvePath(args.path, 'write', ctx.workspace);
    if (args.create_dirs) {
      const dir = join(p, '..');
      ctx.policy.resolvePath(dir, 'write', ctx.workspace);
      await fs.mkdir(dir, { recursive: true });
    }
    const bytes = await writeNoFollow(
      p,
      args.content,
      args.append ?? false,
      ctx.policy.limits.fileSizeMb * 1024 * 1024,
    );
    return `${args.append ? 'appended' : 'wrote'} ${bytes} bytes to ${args.path}`;
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
  idempotent: false,
  async run(args, ctx) {
    const p = ctx.policy.resolvePath(args.path, 'write', ctx.workspace);
    const text = await fs.readFile(p, 'utf8').catch(() => {
      throw new KernelError('ENOTFOUND', `${args.path} does not exist; create it with write_file`);
    });
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
    await writeNoFollow(p, next, false, ctx.policy.limits.fileSizeMb * 1024 * 1024);
    return `replaced ${args.replace_all ? count : 1} occurrence(s) in ${args.path}`;
  },
});

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
    const root = ctx.policy.resolvePath(args.path, 'read', ctx.workspace);
    const max = args.max_entries ?? 1000;
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      const entries = await fs.readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
        throw new KernelError(
          err.code === 'ENOTDIR' ? 'EINVAL' : 'ENOTFOUND',
          `${args.path}: ${err.code === 'ENOTDIR' ? 'not a directory' : 'does not exist'}`,
        );
      });
      entries.sort((a, b) => a.name.localeCompare(b.name));
      for (const e of entries) {
        if (out.length >= max) return;
        const full = join(dir, e.name);
        const rel = relative(root, full);
        out.push(e.isDirectory() ? `${rel}/` : e.isSymbolicLink() ? `${rel} -> (symlink)` : rel);
        if (args.recursive && e.isDirectory() && e.name !== '.git' && e.name !== 'node_modules')
          await walk(full);
      }
    };
    await walk(root);
    return out.length >= max
      ? `${out.join('\n')}\n[stopped at ${max} entries]`
      : out.join('\n') || '(empty directory)';
  },
});
