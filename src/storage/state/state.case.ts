/** Conformance suite of StateStore, run once per backend by state.test.ts. */
import { expect, it } from 'vitest';
import { KernelError } from '../../errors.js';
import { AuditLog } from '../audit/audit-log.js';
import type { Suite } from '../testing/backends.case.js';
import { StateStore } from './state-store.js';

export const stateCases: Suite = (ctx) => {
  const store = () => new StateStore(ctx().driver, { snapshotEverySteps: 5 });

  it('creates, reads, lists and updates processes', async () => {
    const s = store();
    const p = await s.createProcess({ name: 'a', task: 'do x', priority: 10, policy: { tools: ['sh'] } });
    expect(p.pid).toBeGreaterThan(0);
    expect(p.state).toBe('new');
    expect(p.usage.tokensIn).toBe(0);
    expect(p.policy).toEqual({ tools: ['sh'] });
    const got = await s.getProcess(p.pid);
    expect(got?.task).toBe('do x');
    const up = await s.updateProcess(p.pid, { state: 'ready', vruntime: 12.5, waitOn: 'pid:3' });
    expect(up.state).toBe('ready');
    expect(up.vruntime).toBe(12.5);
    expect(up.updatedAt.getTime()).toBeGreaterThanOrEqual(p.updatedAt.getTime());
    const ready = await s.listProcesses({ states: ['ready'] });
    expect(ready.map((r) => r.pid)).toContain(p.pid);
    const none = await s.listProcesses({ states: ['zombie'] });
    expect(none.map((r) => r.pid)).not.toContain(p.pid);
    expect(await s.getProcess(999_999)).toBeNull();
  });

  it('rejects bad input with EINVAL and unknown pids with ENOPROC', async () => {
    const s = store();
    await expect(s.updateProcess(1, { state: 'flying' as never })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(s.updateProcess(999_999, { priority: 1 })).rejects.toMatchObject({ code: 'ENOPROC' });
    await expect(s.updateProcess(1, { bogus: 1 } as never)).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('fences a writer whose epoch is stale', async () => {
    const s = store();
    const p = await s.createProcess({ name: 'f', leaseEpoch: 3 });
    await s.updateProcess(p.pid, { priority: 7 }, { expectEpoch: 3 });
    const err = await s.updateProcess(p.pid, { priority: 8 }, { expectEpoch: 2 }).catch((e: unknown) => e);
    expect(KernelError.is(err, 'EFENCED')).toBe(true);
    expect((err as KernelError).details).toMatchObject({ pid: p.pid, expectEpoch: 2, actualEpoch: 3 });
    expect((await s.getProcess(p.pid))?.priority).toBe(7);
  });

  it('commits a step once, atomically, with periodic snapshots', async () => {
    const s = store();
    const p = await s.createProcess({ name: 'steps', leaseEpoch: 1 });
    for (let i = 1; i <= 12; i++) {
      const r = await s.commitStep({
        pid: p.pid,
        stepNo: i,
        kind: 'llm',
        record: { i },
        usage: { tokensIn: 10 },
        processPatch: { programState: { at: i }, usage: { ...p.usage, tokensIn: 10 * i } },
        expectEpoch: 1,
      });
      expect((await s.getProcess(p.pid))?.stepNo).toBe(i);
      expect(r.snapshotId === null).toBe(i % 5 !== 0);
    }
    // a duplicate step is refused and writes nothing (the process row is untouched too)
    const dup = await s
      .commitStep({
        pid: p.pid,
        stepNo: 12,
        kind: 'llm',
        record: { dup: true },
        processPatch: { priority: 1 },
      })
      .catch((e: unknown) => e);
    expect(KernelError.is(dup, 'ECONFLICT')).toBe(true);
    const after = await s.getProcess(p.pid);
    expect(after?.priority).toBe(50);
    expect(after?.usage.tokensIn).toBe(120);
    const steps = await s.listSteps(p.pid);
    expect(steps.map((x) => x.stepNo)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(steps[11]?.record).toEqual({ i: 12 });
    expect((await s.listSteps(p.pid, { after: 10 })).map((x) => x.stepNo)).toEqual([11, 12]);
    // a fenced step rolls back its step row as well
    const fenced = await s
      .commitStep({ pid: p.pid, stepNo: 13, kind: 'llm', record: {}, expectEpoch: 0 })
      .catch((e) => e);
    expect(KernelError.is(fenced, 'EFENCED')).toBe(true);
    expect((await s.listSteps(p.pid, { after: 12 })).length).toBe(0);
    const snap = await s.latestSnapshot(p.pid);
    expect(snap?.stepNo).toBe(10);
    expect(snap?.programState).toEqual({ at: 10 });
    expect(snap?.process.pid).toBe(p.pid);
    expect(snap?.reason).toBe('periodic');
  });

  it('a one-statement step commit writes step, process, audit rows and snapshot together, or nothing', async () => {
    const s = store();
    const audit = new AuditLog(ctx().driver);
    const p = await s.createProcess({ name: 'chained', leaseEpoch: 2 });
    const stream = `proc:${p.pid}`;
    expect(audit.chain(stream, [])).toBeNull(); // no head known yet: the caller appends the usual way
    await audit.append({ stream, kind: 'proc.spawn', actor: 'kernel', payload: {} });
    const input = (stepNo: number, extra: object = {}) => ({
      pid: p.pid,
      stepNo,
      kind: 'llm',
      record: { stepNo },
      processPatch: { programState: { at: stepNo }, state: 'ready' as const },
      expectEpoch: 2,
      ...extra,
    });
    for (let i = 1; i <= 5; i++) {
      const c = audit.chain(stream, [
        { kind: 'llm.chat', actor: `pid:${p.pid}`, payload: { i } },
        { kind: 'note', actor: `pid:${p.pid}`, payload: { i, also: true } },
      ]);
      const r = await s.commitStepChained(input(i), c!.rows);
      expect(r).not.toBe(false);
      c!.committed();
      expect((r as { snapshotId: number | null }).snapshotId === null).toBe(i !== 5);
    }
    const snap = await s.latestSnapshot(p.pid);
    expect(snap).toMatchObject({ stepNo: 5, programState: { at: 5 }, reason: 'periodic' });
    expect(snap?.process).toMatchObject({ pid: p.pid, step_no: 5, lease_epoch: 2 });
    expect(snap?.process).not.toHaveProperty('program_state');
    const rows = await audit.list({ stream });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect((await audit.verify({ stream })).ok).toBe(true);
    expect(audit.writtenHeads()).toContainEqual({ stream, seq: 11, hash: rows[10]!.hash });
    // Each refusal writes nothing at all: a moved head, a fenced writer, a step already committed.
    const other = new AuditLog(ctx().driver);
    const stale = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 6 }])!;
    await other.append({ stream, kind: 'foreign', actor: 'api', payload: {} });
    expect(await s.commitStepChained(input(6), stale.rows)).toBe(false);
    stale.missed();
    expect(audit.chain(stream, [])).toBeNull();
    await audit.append({ stream, kind: 'k', actor: 'a', payload: 'reads the head again' });
    const fenced = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 6 }])!;
    await expect(s.commitStepChained(input(6, { expectEpoch: 1 }), fenced.rows)).rejects.toMatchObject({
      code: 'EFENCED',
    });
    await expect(s.commitStepChained(input(5), fenced.rows)).rejects.toMatchObject({ code: 'ECONFLICT' });
    expect((await s.listSteps(p.pid)).map((x) => x.stepNo)).toEqual([1, 2, 3, 4, 5]);
    expect((await s.getProcess(p.pid))?.stepNo).toBe(5);
    expect((await audit.list({ stream })).length).toBe(13);
    expect((await audit.verify({ stream })).ok).toBe(true);
  });

  it("a one-statement step commit writes the step's model-call journal rows with it, or none of them", async () => {
    const s = store();
    const audit = new AuditLog(ctx().driver);
    const p = await s.createProcess({ name: 'journaled', leaseEpoch: 3 });
    const stream = `proc:${p.pid}`;
    audit.expectEmpty(stream); // a new pid: its first step chains onto the genesis without reading the head
    const call = (index: number, attempt = 1) =>
      JSON.stringify({
        call_index: index,
        attempt,
        request_hash: `h${index}`,
        model: 'm',
        response: { content: `answer ${index}`, toolCalls: [] },
        usage: { input: 10, output: 2, ms: 5 },
        cost: 0.25,
        rerun: attempt > 1,
      });
    const input = (stepNo: number, expectEpoch = 3) => ({
      pid: p.pid,
      stepNo,
      kind: 'react',
      record: { stepNo },
      processPatch: { state: 'ready' as const },
      stateDelta: '[]',
      expectEpoch,
    });
    const calls = async () =>
      (
        await ctx().driver.query<Record<string, unknown>>(
          'SELECT step_no, call_index, attempt, response, cost FROM llm_calls WHERE pid = $1 ORDER BY step_no, call_index',
          [p.pid],
        )
      ).rows.map((r) => [Number(r.step_no), Number(r.call_index), Number(r.attempt), Number(r.cost)]);
    const c1 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 1 }])!;
    expect(await s.commitStepChained(input(1), c1.rows, `[${call(0)},${call(1)}]`)).not.toBe(false);
    c1.committed();
    expect(await calls()).toEqual([
      [1, 0, 1, 0.25],
      [1, 1, 1, 0.25],
    ]);
    const { rows } = await ctx().driver.query<{ response: unknown }>(
      'SELECT response FROM llm_calls WHERE pid = $1 AND call_index = 1',
      [p.pid],
    );
    expect(rows[0]?.response).toEqual({ content: 'answer 1', toolCalls: [] });
    // The lease moved (another node took the process): the whole commit is refused — no row of its calls.
    await s.updateProcess(p.pid, { leaseEpoch: 4 });
    const c2 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 2 }])!;
    await expect(s.commitStepChained(input(2), c2.rows, `[${call(0)}]`)).rejects.toMatchObject({
      code: 'EFENCED',
    });
    expect(await calls()).toHaveLength(2);
    expect((await s.listSteps(p.pid)).map((x) => x.stepNo)).toEqual([1]);
    // A journal key already taken (an earlier run of the step recorded its call): nothing is written,
    // and the caller writes the rows on their own (false, like a moved audit head).
    await ctx().driver.query(
      `INSERT INTO llm_calls (pid, step_no, call_index, attempt, request_hash, model, usage)
       VALUES ($1, 2, 0, 1, 'h0', 'm', '{}')`,
      [p.pid],
    );
    expect(await s.commitStepChained(input(2, 4), c2.rows, `[${call(0)}]`)).toBe(false);
    expect((await s.listSteps(p.pid)).map((x) => x.stepNo)).toEqual([1]);
    expect((await audit.list({ stream })).length).toBe(1);
    expect(await s.commitStepChained(input(2, 4), c2.rows, `[${call(0, 2)}]`)).not.toBe(false);
    c2.committed();
    expect(await calls()).toEqual([
      [1, 0, 1, 0.25],
      [1, 1, 1, 0.25],
      [2, 0, 1, 0],
      [2, 0, 2, 0.25],
    ]);
    expect((await audit.verify({ stream })).ok).toBe(true);
  });

  it("a one-statement step commit writes the step's gateway journal rows with it, or none of them", async () => {
    const s = store();
    const audit = new AuditLog(ctx().driver);
    const p = await s.createProcess({ name: 'gateway', leaseEpoch: 2 });
    const stream = `proc:${p.pid}`;
    audit.expectEmpty(stream);
    const row = (hash: string, answered: boolean) =>
      JSON.stringify({
        tenant: 't',
        session: `s${p.pid}`,
        request_hash: hash,
        dialect: 'openai',
        model: 'm',
        response: answered ? { content: 'hi', toolCalls: [] } : null,
        error: answered ? null : { code: 'EPROVIDER', message: 'down' },
        usage: answered ? { input: 3, output: 1 } : {},
        cost_usd: answered ? 0.5 : 0,
        latency_ms: 12.5,
        replayed: false,
        cache: null,
      });
    const input = (stepNo: number, expectEpoch = 2) => ({
      pid: p.pid,
      stepNo,
      kind: 'gateway.call',
      record: { stepNo },
      processPatch: { state: 'ready' as const },
      stateDelta: '[]',
      expectEpoch,
    });
    const journal = async () =>
      (
        await ctx().driver.query<Record<string, unknown>>(
          `SELECT pid, request_hash, response IS NULL AS no_response, error IS NULL AS no_error, cache IS NULL
             AS no_cache, cost_usd, latency_ms FROM gateway_journal WHERE session = $1 ORDER BY id`,
          [`s${p.pid}`],
        )
      ).rows.map((r) => [
        Number(r.pid),
        r.request_hash,
        r.no_response,
        r.no_error,
        r.no_cache,
        Number(r.cost_usd),
      ]);
    const c1 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 1 }])!;
    expect(await s.commitStepChained(input(1), c1.rows, undefined, `[${row('a', true)}]`)).not.toBe(false);
    c1.committed();
    // JSON null is SQL NULL (the journal's reads test response / error IS NULL); the pid is the process's.
    expect(await journal()).toEqual([[p.pid, 'a', false, true, true, 0.5]]);
    // With model-call rows too, and a failed call's row.
    const call = JSON.stringify({
      call_index: 0,
      attempt: 1,
      request_hash: 'b',
      model: 'm',
      response: { content: 'x' },
      usage: {},
      cost: 0,
      rerun: false,
    });
    const c2 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 2 }])!;
    expect(await s.commitStepChained(input(2), c2.rows, `[${call}]`, `[${row('b', false)}]`)).not.toBe(false);
    c2.committed();
    expect((await journal()).map((r) => r.slice(1, 4))).toEqual([
      ['a', false, true],
      ['b', true, false],
    ]);
    // The lease moved: the commit is refused, and none of its journal rows is written.
    await s.updateProcess(p.pid, { leaseEpoch: 3 });
    const c3 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 3 }])!;
    await expect(
      s.commitStepChained(input(3), c3.rows, undefined, `[${row('c', true)}]`),
    ).rejects.toMatchObject({
      code: 'EFENCED',
    });
    expect(await journal()).toHaveLength(2);
    expect((await s.listSteps(p.pid)).map((x) => x.stepNo)).toEqual([1, 2]);
  });

  it("a gateway journal row's stored response (Responses API) rides the same statement, with its expiry, or is not written", async () => {
    const s = store();
    const audit = new AuditLog(ctx().driver);
    const p = await s.createProcess({ name: 'gateway', leaseEpoch: 1 });
    const stream = `proc:${p.pid}`;
    audit.expectEmpty(stream);
    const row = (hash: string, id: string | null) =>
      JSON.stringify({
        tenant: 't',
        session: `r${p.pid}`,
        request_hash: hash,
        dialect: 'openai',
        model: 'm',
        response: { content: 'hi', toolCalls: [] },
        error: null,
        usage: { input: 3, output: 1 },
        cost_usd: 0,
        latency_ms: 1,
        replayed: false,
        cache: null,
        stored: id
          ? {
              id,
              status: 'completed',
              input: [{ id: 'in0', type: 'message', role: 'user', content: [] }],
              output: [{ id: 'o0', type: 'message', role: 'assistant', content: [] }],
              request: { model: 'm', created_at: 1 },
              usage: { input_tokens: 3 },
              ttl_s: 3600,
            }
          : null,
      });
    const input = (stepNo: number, expectEpoch = 1) => ({
      pid: p.pid,
      stepNo,
      kind: 'gateway.call',
      record: { stepNo },
      processPatch: { state: 'ready' as const },
      stateDelta: '[]',
      expectEpoch,
    });
    const stored = async () =>
      (
        await ctx().driver.query<Record<string, unknown>>(
          `SELECT id, pid, session, status, input, expires_at > now() + interval '3500 seconds'
             AND expires_at < now() + interval '3700 seconds' AS ttl
             FROM gateway_responses WHERE tenant = 't' AND session = $1 ORDER BY id`,
          [`r${p.pid}`],
        )
      ).rows.map((r) => [r.id, Number(r.pid), r.status, (r.input as unknown[]).length, r.ttl]);
    const c1 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 1 }])!;
    expect(
      await s.commitStepChained(
        input(1),
        c1.rows,
        undefined,
        `[${row('a', `resp_${p.pid}a`)},${row('b', null)}]`,
      ),
    ).not.toBe(false);
    c1.committed();
    expect(await stored()).toEqual([[`resp_${p.pid}a`, p.pid, 'completed', 1, true]]);
    // fenced: neither the journal row nor its stored response
    await s.updateProcess(p.pid, { leaseEpoch: 2 });
    const c2 = audit.chain(stream, [{ kind: 'llm.chat', actor: 'x', payload: 2 }])!;
    await expect(
      s.commitStepChained(input(2), c2.rows, undefined, `[${row('c', `resp_${p.pid}c`)}]`),
    ).rejects.toMatchObject({ code: 'EFENCED' });
    expect(await stored()).toHaveLength(1);
  });

  it('commitStep joins a caller transaction and rolls back with it', async () => {
    const s = store();
    const p = await s.createProcess({ name: 'tx' });
    await expect(
      ctx().driver.transaction(async (tx) => {
        await s.commitStep({ pid: p.pid, stepNo: 1, kind: 'tool', record: {} }, tx);
        throw new Error('syscall failed after the step');
      }),
    ).rejects.toThrow(/syscall failed/);
    expect(await s.listSteps(p.pid)).toEqual([]);
    expect((await s.getProcess(p.pid))?.stepNo).toBe(0);
  });

  it('checkpoints and restores snapshots', async () => {
    const s = store();
    const p = await s.createProcess({ name: 'cp', programState: { msgs: ['hi'] } });
    const id = await s.checkpoint(p.pid);
    expect((await s.getProcess(p.pid))?.checkpointId).toBe(id);
    const snap = await s.getSnapshot(id);
    expect(snap?.programState).toEqual({ msgs: ['hi'] });
    expect(snap?.reason).toBe('checkpoint');
    expect(await s.getSnapshot(9_999_999)).toBeNull();
    await expect(s.checkpoint(9_999_999)).rejects.toMatchObject({ code: 'ENOPROC' });
  });

  it('prune bounds the step log and snapshot count, and removes old terminated processes', async () => {
    const s = store();
    const p = await s.createProcess({ name: 'long' });
    const count = async () => {
      const r = await ctx().driver.query<{ steps: number; snaps: number }>(
        'SELECT (SELECT count(*) FROM steps WHERE pid = $1)::int AS steps, (SELECT count(*) FROM snapshots WHERE pid = $1)::int AS snaps',
        [p.pid],
      );
      return r.rows[0]!;
    };
    for (let round = 0; round < 4; round++) {
      for (let i = 1; i <= 25; i++) {
        const stepNo = round * 25 + i;
        await s.commitStep({ pid: p.pid, stepNo, kind: 'llm', record: { stepNo } });
      }
      await s.prune({ retainSnapshots: 3 });
      const c = await count();
      // steps after the 3rd-newest snapshot (at most 3 snapshot periods of 5 steps), never more
      expect(c.steps).toBeLessThanOrEqual(3 * 5);
      expect(c.snaps).toBe(3);
    }
    const steps = await s.listSteps(p.pid);
    expect(steps.map((x) => x.stepNo)).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);

    const dead = await s.createProcess({ name: 'dead', state: 'terminated' });
    const live = await s.createProcess({ name: 'live', state: 'terminated' });
    const now = new Date(Date.now() + 10_000);
    await ctx().driver.query("UPDATE processes SET updated_at = now() - interval '8 days' WHERE pid = $1", [
      dead.pid,
    ]);
    const r = await s.prune({ now });
    expect(r.processes).toBeGreaterThanOrEqual(1);
    expect(await s.getProcess(dead.pid)).toBeNull();
    expect(await s.getProcess(live.pid)).not.toBeNull();
  });

  it('kv compare-and-set', async () => {
    const s = store();
    const ns = `ns${Math.random()}`;
    expect(await s.kvGet(ns, 'k')).toBeNull();
    const v1 = await s.kvCas(ns, 'k', null, { n: 1 });
    expect(v1).toBe(1);
    await expect(s.kvCas(ns, 'k', null, { n: 2 })).rejects.toMatchObject({ code: 'ECONFLICT' });
    const v2 = await s.kvCas(ns, 'k', 1, { n: 2 });
    expect(v2).toBe(2);
    const err = await s.kvCas(ns, 'k', 1, { n: 3 }).catch((e: KernelError) => e);
    expect(err).toMatchObject({ code: 'ECONFLICT', details: { actualVersion: 2 } });
    expect((await s.kvGet(ns, 'k'))?.value).toEqual({ n: 2 });
  });
};
