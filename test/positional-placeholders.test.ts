import { describe, expect, it } from 'vitest';
import { positional } from '../src/store/engine/postgres/executor.js';

describe('positional placeholders for PostgreSQL', () => {
  it('numbers every ? in order, casts included', () => {
    expect(positional('UPDATE jobs SET a = ?::bigint WHERE id = ? AND b IN (?, ?)')).toBe(
      'UPDATE jobs SET a = $1::bigint WHERE id = $2 AND b IN ($3, $4)',
    );
  });

  it('leaves ? inside quoted literals and identifiers alone, escaped quotes included', () => {
    expect(positional(`SELECT 'what?', 'it''s ?', "col?" FROM t WHERE x = ?`)).toBe(`SELECT 'what?', 'it''s ?', "col?" FROM t WHERE x = $1`);
  });

  it('gives the same text back for a statement without parameters', () => {
    expect(positional('COMMIT')).toBe('COMMIT');
  });
});
