/** Appending to the event log, always inside the transaction of the change the event records. */
import { newId } from '../ids.js';
import { EventEntity, type SubjectType } from '../entities/index.js';
import { entityColumns } from '../engine/entity-columns.js';
import type { EventType } from '../lifecycle.js';
import { encodeJson, insertRows, toNumber, type Sql } from '../engine/sql.js';
import type { RowBatch } from '../engine/row-batch.js';

export interface NewEvent {
  subjectType: SubjectType;
  subjectId: string;
  /** The subject's sequence number for this event (the subject row's version after the change). */
  seq: number;
  type: EventType;
  payload?: unknown;
  actor: string;
  createdAt: number;
}

const eventColumns = entityColumns(EventEntity, ['id', 'subjectType', 'subjectId', 'seq', 'type', 'payload', 'actor', 'createdAt']);

export async function appendEvents(sql: Sql, events: readonly NewEvent[]): Promise<void> {
  await insertRows(sql, 'events', eventColumns, events.map(eventRow));
}

/** Adds events to a hot-path batch's rows, written with the rest of the batch (row-batch.ts). */
export function batchEvents(batch: RowBatch, events: readonly NewEvent[]): void {
  batch.insert('events', eventColumns, events.map(eventRow));
}

function eventRow(e: NewEvent): unknown[] {
  return [newId('evt'), e.subjectType, e.subjectId, e.seq, e.type, encodeJson(e.payload ?? null), e.actor, e.createdAt];
}

/** An event about a job at sequence number `seq` (the job row's version after the change). */
export function jobEvent(jobId: string, seq: number, type: EventType, payload: unknown, createdAt: number, actor = 'system'): NewEvent {
  return { subjectType: 'job', subjectId: jobId, seq, type, payload, actor, createdAt };
}

/**
 * Records one event about a job whose row does not otherwise change (a late outcome, a lost
 * attempt noticed by the reconciler): bumps the job's version, which is its event sequence, and
 * appends at the new number. A job that no longer exists gets nothing.
 */
export async function appendStandaloneJobEvent(tx: Sql, jobId: string, type: EventType, payload: unknown, createdAt: number): Promise<void> {
  const [bumped] = await tx.all('UPDATE jobs SET version = version + 1 WHERE id = ? RETURNING version', [jobId]);
  if (bumped) await appendEvents(tx, [jobEvent(jobId, toNumber(bumped.version), type, payload, createdAt)]);
}
