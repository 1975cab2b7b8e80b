/** Which driver errors mean "the database connection ended" (store/engine/connection-loss.ts), and the coded errors. */
import { describe, expect, it } from 'vitest';
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from '../src/errors.js';
import { asUnavailable, isConnectionLoss, isRetryableLoss } from '../src/store/engine/connection-loss.js';

const coded = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('connection loss', () => {
  it.each([
    ['a terminated backend (57P01)', coded('57P01', 'terminating connection due to administrator command')],
    ['a server starting up (57P03)', coded('57P03', 'the database system is starting up')],
    ['a connection exception (08006)', coded('08006')],
    ['a refused connection', coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a reset socket', coded('ECONNRESET')],
    ['pg: the connection ended', new Error('Connection terminated unexpectedly')],
    ['pg: a client after its connection failed', new Error('Client has encountered a connection error and is not queryable')],
    ['knex: a transaction whose BEGIN failed', new Error('Transaction query already complete, run with DEBUG=knex:tx for more info')],
    ['a wrapped one', new Error('outer', { cause: coded('57P01') })],
  ])('is recognised: %s', (_what, error) => {
    expect(isConnectionLoss(error)).toBe(true);
  });

  it.each([
    ['a unique violation', coded('23505', 'duplicate key value violates unique constraint')],
    ['a deadlock', coded('40P01')],
    ['a syntax error', coded('42601')],
    ['SQLite busy', coded('SQLITE_BUSY', 'database is locked')],
    ['not an error', 'ECONNRESET'],
  ])('is not confused with: %s', (_what, error) => {
    expect(isConnectionLoss(error)).toBe(false);
  });

  it('becomes a coded, retryable error that keeps its cause; other errors pass through as they are', () => {
    const cause = coded('57P01', 'terminating connection due to administrator command');
    const error = asUnavailable('a ledger write', cause);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error).toMatchObject({ code: 'JOBLEDGER_DATABASE_UNAVAILABLE', retryable: true, cause });
    expect((error as Error).message).toMatch(/^JOBLEDGER_DATABASE_UNAVAILABLE: a ledger write: .*57P01 terminating connection.*nothing of this call was written/);
    expect(isRetryableLoss(error)).toBe(true);
    const unique = coded('23505');
    expect(asUnavailable('a ledger write', unique)).toBe(unique);
  });

  it('an unknown commit outcome is coded, not retryable, and names what to look up', () => {
    const error = new CommitOutcomeUnknownError('a ledger write', ['job_01J0000000000000000000000'], coded('ECONNREFUSED'));
    expect(error).toMatchObject({ code: 'JOBLEDGER_COMMIT_OUTCOME_UNKNOWN', retryable: false });
    expect(error.message).toMatch(/look up job_01J0000000000000000000000 before retrying/);
    expect(isRetryableLoss(error)).toBe(false);
  });
});
