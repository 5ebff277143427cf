import { describe, expect, it } from 'vitest';
import { budgetHeadroom, checkBudget, emptyUsage, parseBudget } from './budget.js';

describe('budgets', () => {
  const u = (over: Partial<ReturnType<typeof emptyUsage>>) => ({ ...emptyUsage(1_000), ...over });

  it('holds while every limit holds', () => {
    expect(checkBudget({}, u({ tokensIn: 1e9 }), 1e12)).toBeNull();
    expect(
      checkBudget({ maxTokens: 1_000, maxSteps: 5 }, u({ tokensIn: 600, tokensOut: 399, steps: 4 }), 2_000),
    ).toBeNull();
  });

  it('tokens count input (cached included) + output, and suspend by default', () => {
    const r = checkBudget(
      { maxTokens: 1_000 },
      u({ tokensIn: 800, tokensCached: 700, tokensOut: 250 }),
      2_000,
    );
    expect(r).toMatchObject({ kind: 'tokens', limit: 1_000, used: 1_050, action: 'suspend' });
    expect(r?.reason).toBe(
      'budget exhausted: tokens 1050 of 1000 (maxTokens) — suspended; raise maxTokens and resume to continue',
    );
  });

  it('cost suspends, steps and wall time terminate; onExceed overrides', () => {
    expect(checkBudget({ maxCostUsd: 0.5 }, u({ cost: 0.5 }), 0)).toMatchObject({
      kind: 'cost',
      action: 'suspend',
    });
    expect(checkBudget({ maxSteps: 3 }, u({ steps: 3 }), 0)).toMatchObject({
      kind: 'steps',
      action: 'terminate',
      used: 3,
    });
    const wall = checkBudget({ maxWallMs: 60_000 }, u({}), 61_000);
    expect(wall).toMatchObject({ kind: 'wall', used: 60_000, action: 'terminate' });
    expect(wall?.reason).toMatch(/wall 60000 ms of 60000 ms \(maxWallMs\) — terminated/);
    expect(checkBudget({ maxTokens: 10, onExceed: 'terminate' }, u({ tokensOut: 10 }), 0)?.action).toBe(
      'terminate',
    );
  });

  it('names the most consequential exhausted limit first (cost before steps)', () => {
    expect(checkBudget({ maxSteps: 1, maxCostUsd: 0.01 }, u({ steps: 2, cost: 1 }), 0)?.kind).toBe('cost');
  });

  it('reports headroom so the next call can be capped', () => {
    expect(
      budgetHeadroom({ maxTokens: 1_000, maxWallMs: 5_000 }, u({ tokensIn: 300, tokensOut: 100 }), 7_000),
    ).toEqual({
      tokens: 600,
      wall: 0,
    });
  });

  it('parses user budgets and rejects bad ones naming the field', () => {
    expect(parseBudget({ maxTokens: 5, onExceed: 'terminate' })).toEqual({
      maxTokens: 5,
      onExceed: 'terminate',
    });
    expect(parseBudget(undefined)).toEqual({});
    expect(() => parseBudget({ maxTokens: -1 })).toThrow(/budget\.maxTokens must be a positive number/);
    expect(() => parseBudget({ max_tokens: 5 })).toThrow(/unknown budget field "max_tokens"/);
    expect(() => parseBudget({ onExceed: 'pause' })).toThrow(/suspend" or "terminate/);
    expect(() => parseBudget(5)).toThrow(/budget must be an object/);
  });
});
