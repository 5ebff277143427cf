import { describe, expect, it } from 'vitest';
import { EventReplay } from './event-replay.js';

const render = (_t: string, ev: unknown) => JSON.stringify(ev);
const delta = (pid: number, text: string) => ({
  pid,
  stepNo: 1,
  attempt: 1,
  delta: { type: 'text', delta: text },
});
const all = () => true;
const ids = (frames: string[]) => frames.map((f) => /^id: (.*)$/m.exec(f)![1]!);
const texts = (frames: string[]) =>
  frames.map(
    (f) => (JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as { delta?: { delta?: string } }).delta?.delta,
  );

describe('EventReplay', () => {
  it('replays what came after an id, for the filter asked, in id order', () => {
    const r = new EventReplay(render);
    const a = r.record('llm.delta', delta(1, 'a'), 1);
    r.record('llm.delta', delta(2, 'x'), 2);
    r.record('llm.delta', delta(1, 'b'), 1);
    r.record('proc.step', { pid: 1, stepNo: 1 }, 1);
    const id = `${r.epoch}-${a.seq}`;
    const one = r.plan({ after: id, pid: 1, wants: (t) => t === 'llm.delta' });
    expect(texts(one.frames)).toEqual(['b']);
    expect(one.gap).toBeNull();
    const every = r.plan({ after: id, pid: undefined, wants: all });
    expect(every.frames).toHaveLength(3);
    const seqs = ids(every.frames).map((x) => Number(x.split('-')[1]));
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
  });

  it('gives a late subscriber the streamed call in flight from its start (after a restart: from the new attempt)', () => {
    const r = new EventReplay(render);
    r.record('llm.delta', delta(1, 'void'), 1);
    r.record('llm.restart', { pid: 1, stepNo: 1, attempt: 1, reason: 'cut', final: false }, 1);
    r.record('llm.delta', delta(1, 'he'), 1);
    r.record('llm.delta', delta(1, 'llo'), 1);
    expect(texts(r.plan({ after: null, pid: 1, wants: all }).frames)).toEqual(['he', 'llo']);
    r.record('proc.step', { pid: 1, stepNo: 1 }, 1);
    expect(r.plan({ after: null, pid: 1, wants: all }).frames).toEqual([]); // nothing in flight
  });

  it('stays within its limits and says when an id is too old', () => {
    const r = new EventReplay(render, { procBytes: 2_000, procEvents: 1_000, totalBytes: 3_000, procs: 2 });
    const first = r.record('llm.delta', delta(1, 'first'), 1);
    for (let i = 0; i < 100; i++) r.record('llm.delta', delta(1, `t${i}`), 1);
    expect(r.bytes).toBeLessThanOrEqual(3_000);
    const old = r.plan({ after: `${r.epoch}-${first.seq}`, pid: 1, wants: all });
    expect(old.gap?.reason).toContain('dropped');
    expect(old.frames.length).toBeGreaterThan(0); // what is kept still comes
    // a late subscriber whose call's start was dropped is told too
    expect(r.plan({ after: null, pid: 1, wants: all }).gap?.reason).toContain('start of a streamed call');
    // more processes than kept: the least recently written goes first, whole
    r.record('proc.state', { pid: 2 }, 2);
    r.record('proc.state', { pid: 3 }, 3);
    expect(r.plan({ after: `${r.epoch}-${first.seq}`, pid: 1, wants: all }).frames).toEqual([]);
    // an id from another run or node
    expect(r.plan({ after: 'ffff-1', pid: 2, wants: all }).gap?.reason).toContain('not from this kernel');
  });
});
