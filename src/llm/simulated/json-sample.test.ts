import { Ajv } from 'ajv';
import { zodResponseFormat } from 'openai/helpers/zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sampleJson } from './json-sample.js';

const ajv = new Ajv({ strict: false, validateFormats: false });
const valid = (schema: object, value: unknown) => {
  const check = ajv.compile(schema);
  return check(value) ? 'valid' : JSON.stringify(check.errors);
};

describe('simulator: a JSON value from a JSON Schema', () => {
  const cases: Array<[string, object]> = [
    [
      'object, required, nested arrays, enums, bounds',
      {
        type: 'object',
        properties: {
          name: { type: 'string', minLength: 30, maxLength: 40 },
          kind: { enum: ['x', 'y'] },
          n: { type: 'integer', minimum: 3, maximum: 9, multipleOf: 3 },
          ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
          flags: { type: 'array', items: { type: 'boolean' }, minItems: 2, maxItems: 3 },
          empty: { type: 'array', items: { type: 'string' }, maxItems: 0 },
          lit: { const: 42 },
        },
        required: ['name', 'kind', 'n', 'ratio', 'flags', 'empty', 'lit'],
        additionalProperties: false,
      },
    ],
    [
      'nullable and unions',
      {
        type: 'object',
        properties: {
          a: { type: ['string', 'null'] },
          b: { anyOf: [{ type: 'null' }, { type: 'number' }] },
          c: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
          d: { allOf: [{ type: 'object', properties: { x: { type: 'string' } }, required: ['x'] }] },
        },
        required: ['a', 'b', 'c', 'd'],
      },
    ],
    [
      'local refs, recursive',
      {
        $defs: {
          node: {
            type: 'object',
            properties: {
              label: { type: 'string' },
              children: { type: 'array', items: { $ref: '#/$defs/node' } },
            },
            required: ['label', 'children'],
          },
        },
        $ref: '#/$defs/node',
      },
    ],
  ];
  for (const [what, schema] of cases)
    it(`validates: ${what}`, () => {
      expect(valid(schema, sampleJson(schema))).toBe('valid');
    });

  it("validates against a zodResponseFormat schema and zod's own parse (formats included)", () => {
    const S = z.object({
      email: z.string().email(),
      when: z.string().datetime(),
      id: z.string().uuid(),
      qty: z.number().int().min(1),
      items: z.array(z.object({ sku: z.string(), note: z.string().nullable() })),
      state: z.enum(['open', 'closed']),
    });
    const schema = zodResponseFormat(S, 'x').json_schema.schema!;
    const value = sampleJson(schema);
    expect(valid(schema, value)).toBe('valid');
    expect(S.safeParse(value).success).toBe(true);
  });

  it('is deterministic', () => {
    const schema = cases[0]![1];
    expect(JSON.stringify(sampleJson(schema))).toBe(JSON.stringify(sampleJson(schema)));
  });
});
