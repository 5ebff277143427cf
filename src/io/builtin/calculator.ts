/**
 * calculator: a real arithmetic expression parser (recursive descent), never eval. Grammar:
 *   expr := term (('+'|'-') term)* ; term := unary (('*'|'/'|'%') unary)* ; unary := ('+'|'-') unary | power
 *   power := call ('^' unary)?  (right-associative) ; call := NAME '(' args ')' | NAME | NUMBER | '(' expr ')'
 */
import { z } from 'zod';
import { KernelError } from '../../errors.js';
import { defineTool } from '../tool.js';

const FUNCS: Record<string, { arity: [number, number]; fn: (...a: number[]) => number }> = {
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  cbrt: { arity: [1, 1], fn: Math.cbrt },
  abs: { arity: [1, 1], fn: Math.abs },
  sin: { arity: [1, 1], fn: Math.sin },
  cos: { arity: [1, 1], fn: Math.cos },
  tan: { arity: [1, 1], fn: Math.tan },
  asin: { arity: [1, 1], fn: Math.asin },
  acos: { arity: [1, 1], fn: Math.acos },
  atan: { arity: [1, 1], fn: Math.atan },
  ln: { arity: [1, 1], fn: Math.log },
  log: { arity: [1, 2], fn: (x, b) => (b === undefined ? Math.log10(x) : Math.log(x) / Math.log(b)) },
  log2: { arity: [1, 1], fn: Math.log2 },
  exp: { arity: [1, 1], fn: Math.exp },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  round: { arity: [1, 2], fn: (x, d = 0) => Math.round(x * 10 ** d) / 10 ** d },
  min: { arity: [1, 64], fn: Math.min },
  max: { arity: [1, 64], fn: Math.max },
  pow: { arity: [2, 2], fn: Math.pow },
};
const CONSTS: Record<string, number> = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI };

type Tok =
  | { t: 'num'; v: number; at: number }
  | { t: 'name'; v: string; at: number }
  | { t: 'op'; v: string; at: number };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const num = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i));
    if (num) {
      out.push({ t: 'num', v: Number(num[0].replace(/_/g, '')), at: i });
      i += num[0].length;
      continue;
    }
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(src.slice(i));
    if (name) {
      out.push({ t: 'name', v: name[0].toLowerCase(), at: i });
      i += name[0].length;
      continue;
    }
    if (src.startsWith('**', i)) {
      out.push({ t: 'op', v: '^', at: i });
      i += 2;
      continue;
    }
    if ('+-*/%^(),'.includes(c)) {
      out.push({ t: 'op', v: c, at: i });
      i++;
      continue;
    }
    throw new KernelError('EINVAL', `unexpected character "${c}" at position ${i + 1}`);
  }
  return out;
}

export function evaluate(src: string): number {
  if (src.length > 10_000) throw new KernelError('EINVAL', 'expression longer than 10000 characters');
  const toks = tokenize(src);
  let p = 0;
  let depth = 0;
  const peek = () => toks[p];
  const isOp = (v: string) => {
    const t = toks[p];
    return t !== undefined && t.t === 'op' && t.v === v;
  };
  const expect = (v: string) => {
    if (!isOp(v)) throw new KernelError('EINVAL', `expected "${v}" at ${where()}`);
    p++;
  };
  const where = () => {
    const t = toks[p];
    return t ? `position ${t.at + 1}` : 'the end of the expression';
  };
  const expr = (): number => {
    let v = term();
    while (isOp('+') || isOp('-')) {
      const op = (toks[p++] as Tok).v;
      const r = term();
      v = op === '+' ? v + r : v - r;
    }
    return v;
  };
  const term = (): number => {
    let v = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = (toks[p++] as Tok).v;
      const r = unary();
      if ((op === '/' || op === '%') && r === 0) throw new KernelError('EINVAL', 'division by zero');
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  const unary = (): number => {
    if (++depth > 200) throw new KernelError('EINVAL', 'expression nested too deeply');
    try {
      if (isOp('-')) {
        p++;
        return -unary();
      }
      if (isOp('+')) {
        p++;
        return unary();
      }
      return power();
    } finally {
      depth--;
    }
  };
  const power = (): number => {
    const base = atom();
    if (isOp('^')) {
      p++;
      return base ** unary();
    }
    return base;
  };
  const atom = (): number => {
    const t = peek();
    if (!t) throw new KernelError('EINVAL', 'expression ends where a number was expected');
    if (t.t === 'num') {
      p++;
      return t.v;
    }
    if (t.t === 'name') {
      p++;
      if (isOp('(')) {
        const f = Object.hasOwn(FUNCS, t.v) ? FUNCS[t.v] : undefined; // never reach Object.prototype
        if (!f)
          throw new KernelError(
            'EINVAL',
            `unknown function "${t.v}"; known: ${Object.keys(FUNCS).join(', ')}`,
          );
        p++;
        const args: number[] = [];
        if (!isOp(')')) {
          args.push(expr());
          while (isOp(',')) {
            p++;
            args.push(expr());
          }
        }
        expect(')');
        if (args.length < f.arity[0] || args.length > f.arity[1]) {
          throw new KernelError(
            'EINVAL',
            `${t.v}() takes ${f.arity[0] === f.arity[1] ? f.arity[0] : `${f.arity[0]}–${f.arity[1]}`} argument(s), got ${args.length}`,
          );
        }
        return f.fn(...args);
      }
      const c = Object.hasOwn(CONSTS, t.v) ? CONSTS[t.v] : undefined;
      if (c === undefined)
        throw new KernelError(
          'EINVAL',
          `unknown name "${t.v}"; constants: ${Object.keys(CONSTS).join(', ')}`,
        );
      return c;
    }
    if (t.v === '(') {
      p++;
      const v = expr();
      expect(')');
      return v;
    }
    throw new KernelError('EINVAL', `unexpected "${t.v}" at ${where()}`);
  };
  if (toks.length === 0) throw new KernelError('EINVAL', 'empty expression');
  const v = expr();
  if (p < toks.length) throw new KernelError('EINVAL', `unexpected "${(toks[p] as Tok).v}" at ${where()}`);
  if (!Number.isFinite(v)) throw new KernelError('EINVAL', `result is not a finite number (${v})`);
  return v;
}

export const calculatorTool = defineTool({
  name: 'calculator',
  description:
    'Evaluate an arithmetic expression: + - * / % ^, parentheses, sqrt, log, ln, sin, cos, min, max, round, pi, e.',
  input: z.object({ expression: z.string().min(1).describe('e.g. "2 * (3 + 4) ^ 2 / sqrt(16)"') }),
  permissions: [],
  idempotent: true,
  pure: true,
  async run(args) {
    const v = evaluate(args.expression);
    return String(Number.isInteger(v) ? v : Number(v.toPrecision(15)));
  },
});
