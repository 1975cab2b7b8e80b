/** What a handler threw, made safe to store (src/workers/serialize-error.ts). */
import { describe, expect, it } from 'vitest';
import { serializeError } from '../src/workers/serialize-error.js';

const max = 8192;

describe('serializeError', () => {
  it('keeps an Error’s name, message, stack and string code', () => {
    const error = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    expect(serializeError(error, max)).toEqual({ name: 'Error', message: 'connection refused', code: 'ECONNREFUSED', stack: error.stack });
  });

  it('turns a numeric code into a string and ignores a code of another type', () => {
    expect(serializeError(Object.assign(new Error('x'), { code: 503 }), max).code).toBe('503');
    expect(serializeError(Object.assign(new Error('x'), { code: { nested: true } }), max)).not.toHaveProperty('code');
  });

  it('keeps the name of an Error subclass', () => {
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    expect(serializeError(new PaymentDeclined('card expired'), max)).toMatchObject({ name: 'PaymentDeclined', message: 'card expired' });
  });

  it('describes a thrown string', () => {
    expect(serializeError('a plain string', max)).toEqual({
      name: 'NonErrorThrown',
      message: 'a non-Error was thrown: "a plain string"',
      thrown: '"a plain string"',
    });
  });

  it('describes a thrown undefined', () => {
    expect(serializeError(undefined, max)).toEqual({ name: 'NonErrorThrown', message: 'a non-Error was thrown: undefined', thrown: 'undefined' });
  });

  it('describes a thrown plain object as JSON', () => {
    expect(serializeError({ status: 404 }, max)).toMatchObject({ name: 'NonErrorThrown', thrown: '{"status":404}' });
  });

  it('describes a circular object by its tag and keys, without throwing', () => {
    const circular: Record<string, unknown> = { kind: 'circular' };
    circular.self = circular;
    expect(serializeError(circular, max)).toEqual({
      name: 'NonErrorThrown',
      message: 'a non-Error was thrown: [object Object] with keys [kind, self] (not serialisable)',
      thrown: '[object Object] with keys [kind, self] (not serialisable)',
    });
  });

  it('survives an object whose toJSON throws', () => {
    const hostile = {
      id: 7,
      toJSON() {
        throw new Error('no JSON for you');
      },
    };
    const serialized = serializeError(hostile, max);
    expect(serialized).toMatchObject({ name: 'NonErrorThrown', thrown: '[object Object] with keys [id, toJSON] (not serialisable)' });
    expect(() => JSON.stringify(serialized)).not.toThrow();
  });

  it.each([
    ['a BigInt', 12n, '12n'],
    ['a symbol', Symbol('oops'), 'Symbol(oops)'],
    ['a function', function namedThrowable() {}, 'function namedThrowable'],
    ['null', null, 'null'],
  ])('describes %s', (_what, thrown, description) => {
    expect(serializeError(thrown, max)).toMatchObject({ name: 'NonErrorThrown', thrown: description });
  });

  it('caps a huge message and stack at maxChars, saying how much was cut', () => {
    const message = 'm'.repeat(100_000);
    const serialized = serializeError(new Error(message), 500);
    expect(serialized.message.length).toBeLessThanOrEqual(500);
    expect(serialized.message.startsWith('m'.repeat(400))).toBe(true);
    const cut = /\.\.\. \[(\d+) more\]$/.exec(serialized.message);
    expect(cut).not.toBeNull();
    expect(Number(cut![1]) + serialized.message.indexOf('...')).toBe(message.length);
    expect(serialized.stack!.length).toBeLessThanOrEqual(500);
  });

  it('caps a huge non-Error too', () => {
    const serialized = serializeError('s'.repeat(50_000), 200);
    expect(serialized.message.length).toBeLessThanOrEqual(200);
    expect(serialized.thrown!.length).toBeLessThanOrEqual(200);
  });

  // A throw from here would leave the attempt `running` in the ledger while BullMQ fails the job.
  it.each([
    ['a numeric name', () => Object.assign(new Error('x'), { name: 42 }), { name: '42', message: 'x' }],
    ['a non-string stack', () => Object.assign(new Error('x'), { stack: { frames: [] } }), { name: 'Error', message: 'x' }],
    ['a Symbol message (V8 then throws formatting the stack)', () => Object.assign(new Error('x'), { message: Symbol('m') }), { message: 'Symbol(m)' }],
    [
      'a throwing message getter',
      () => Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('hostile'); } }), // prettier-ignore
      { name: 'Error', message: '' },
    ],
  ])('never throws on an Error with %s', (_what, make, expected) => {
    const serialized = serializeError(make(), max);
    expect(serialized).toMatchObject(expected);
    expect(serialized.stack === undefined || typeof serialized.stack === 'string').toBe(true);
  });

  it('leaves a message of exactly maxChars untouched', () => {
    expect(serializeError(new Error('x'.repeat(300)), 300).message).toBe('x'.repeat(300));
  });

  it('always gives a plain, JSON-safe object', () => {
    for (const thrown of [new Error('e'), 'text', undefined, 1n, Symbol('s'), { a: 1 }]) {
      const serialized = serializeError(thrown, max);
      expect(JSON.parse(JSON.stringify(serialized))).toEqual(serialized);
    }
  });
});
