import { expect, test } from 'vitest';
import { evaluate } from './calculator.js';

test('precedence, associativity, functions, constants', () => {
  expect(evaluate('1 + 2 * 3')).toBe(7);
  expect(evaluate('(1 + 2) * 3')).toBe(9);
  expect(evaluate('2 ^ 3 ^ 2')).toBe(512);
  expect(evaluate('2 ** 10')).toBe(1024);
  expect(evaluate('-2 ^ 2')).toBe(-4);
  expect(evaluate('10 % 4 - -3')).toBe(5);
  expect(evaluate('sqrt(16) + max(1, 7, 3) + log(100) + log(8, 2)')).toBe(16);
  expect(evaluate('round(pi, 2)')).toBe(3.14);
  expect(evaluate('1.5e3 / .5')).toBe(3000);
});

test('errors name the problem and never evaluate code', () => {
  expect(() => evaluate('process.exit(1)')).toThrow(/unexpected character "\."/);
  expect(() => evaluate('constructor')).toThrow(/unknown name "constructor"/);
  expect(() => evaluate('1 +')).toThrow(/ends where a number was expected/);
  expect(() => evaluate('(1')).toThrow(/expected "\)"/);
  expect(() => evaluate('foo(1)')).toThrow(/unknown function "foo"/);
  expect(() => evaluate('sqrt(1, 2)')).toThrow(/takes 1 argument/);
  expect(() => evaluate('1 / 0')).toThrow(/division by zero/);
  expect(() => evaluate('1 2')).toThrow(/unexpected "2"/);
  expect(() => evaluate(`${'('.repeat(500)}1${')'.repeat(500)}`)).toThrow(/nested too deeply/);
});
