/**
 * Per-command cgroups for the limits rlimits cannot give a root-run kernel: RLIMIT_NPROC is not enforced
 * for uid 0, and RLIMIT_AS breaks runtimes that reserve large virtual ranges (Node, the JVM). When the
 * kernel may write a pids/memory cgroup (v1 or v2), each sandboxed command gets its own; otherwise the
 * sandbox falls back to rlimits. The command joins its cgroup before exec (race-free: see joinScript).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../../util/log.js';

const log = logger('sandbox.cgroup');

interface Layout {
  kind: 'v1' | 'v2';
  pidsRoot?: string;
  memoryRoot?: string;
}

let layout: Layout | null | undefined;

function writable(dir: string): boolean {
  try {
    const probe = join(dir, `aos-probe-${process.pid}`);
    mkdirSync(probe);
    rmdirSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** Detects a cgroup hierarchy this process may create children in (cached). */
export function cgroupLayout(): Layout | null {
  if (layout !== undefined) return layout;
  layout = null;
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return layout;
  const v1p = '/sys/fs/cgroup/pids';
  const v1m = '/sys/fs/cgroup/memory';
  if (existsSync(join(v1p, 'cgroup.procs')) && writable(v1p)) {
    layout = {
      kind: 'v1',
      pidsRoot: v1p,
      ...(existsSync(join(v1m, 'cgroup.procs')) && writable(v1m) ? { memoryRoot: v1m } : {}),
    };
    return layout;
  }
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : null;
  if (v2) {
    try {
      const ctl = readFileSync(join(v2, 'cgroup.subtree_control'), 'utf8');
      if (ctl.includes('pids') && writable(v2)) {
        layout = { kind: 'v2', pidsRoot: v2, ...(ctl.includes('memory') ? { memoryRoot: v2 } : {}) };
      }
    } catch {
      layout = null;
    }
  }
  if (layout) sweepStale(layout);
  return layout;
}

/** Removes empty cgroups left by kernel processes that died before releasing them (kill -9, crash). */
function sweepStale(l: Layout): void {
  for (const root of new Set([l.pidsRoot, l.memoryRoot])) {
    if (!root) continue;
    let names: string[] = [];
    try {
      names = readdirSync(root).filter((n) => /^aos-\d+-\d+$/.test(n));
    } catch {
      continue;
    }
    for (const n of names) {
      const owner = Number(n.split('-')[1]);
      try {
        process.kill(owner, 0);
        continue; // its kernel is alive and will release it
      } catch {
        // owner gone
      }
      try {
        rmdirSync(join(root, n)); // fails (EBUSY) while processes remain: left alone
      } catch {
        // still in use
      }
    }
  }
}

export interface CommandCgroup {
  /** `cgroup.procs` files the command must join before exec. */
  procsFiles: string[];
  enforcesPids: boolean;
  enforcesMemory: boolean;
  /** SIGKILLs every process in the cgroup: reaches children that left the process group or session. */
  killAll(): void;
  release(): Promise<void>;
}

let seq = 0;

/** Creates the cgroup(s) for one command; null when cgroups are unavailable. */
export function createCommandCgroup(limits: { processes: number; memoryMb: number }): CommandCgroup | null {
  const l = cgroupLayout();
  if (!l?.pidsRoot) return null;
  const name = `aos-${process.pid}-${++seq}`;
  const dirs: string[] = [];
  try {
    const pidsDir = join(l.pidsRoot, name);
    mkdirSync(pidsDir);
    dirs.push(pidsDir);
    writeFileSync(join(pidsDir, 'pids.max'), String(limits.processes));
    let enforcesMemory = false;
    if (l.memoryRoot) {
      const bytes = String(Math.floor(limits.memoryMb * 1024 * 1024));
      if (l.kind === 'v1') {
        const memDir = join(l.memoryRoot, name);
        mkdirSync(memDir);
        dirs.push(memDir);
        writeFileSync(join(memDir, 'memory.limit_in_bytes'), bytes);
        try {
          writeFileSync(join(memDir, 'memory.memsw.limit_in_bytes'), bytes);
        } catch {
          // no swap accounting: the machine's swap (if any) is not limited
        }
      } else {
        writeFileSync(join(pidsDir, 'memory.max'), bytes);
        try {
          writeFileSync(join(pidsDir, 'memory.swap.max'), '0');
        } catch {
          // swap controller absent
        }
      }
      enforcesMemory = true;
    }
    return {
      procsFiles: dirs.map((d) => join(d, 'cgroup.procs')),
      enforcesPids: true,
      enforcesMemory,
      killAll: () => {
        for (const d of dirs) killProcs(d);
      },
      release: () => releaseDirs(dirs),
    };
  } catch (err) {
    log.warnOnce('cgroup-create', 'could not create a cgroup for a sandboxed command; using rlimits only', {
      error: err instanceof Error ? err.message : String(err),
    });
    void releaseDirs(dirs);
    return null;
  }
}

function killProcs(dir: string): void {
  let procs: string[] = [];
  try {
    procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const p of procs) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function releaseDirs(dirs: string[]): Promise<void> {
  for (const d of dirs.reverse()) {
    for (let i = 0; i < 50; i++) {
      try {
        // Stragglers (a forked child that outlived the sandbox's pid 1) are killed first.
        const procs = readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        for (const p of procs) {
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            // already gone
          }
        }
        rmdirSync(d);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
}

/** Shell prefix that moves the shell into the cgroups and then execs the real command line ("$@"). */
export function joinScript(procsFiles: readonly string[]): string {
  return `${procsFiles.map((f) => `echo $$ > '${f}'`).join(' && ')} && exec "$@"`;
}
