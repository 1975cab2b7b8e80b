/**
 * Writing the audit log: one `audit` row per operator action, created on the EntityManager of the
 * action's own transaction (flushed with the change it records, or rolled back with it). Who and
 * from where come from the caller (`AuditContext`); what changed is the before and after of each
 * field the action changed.
 */
import type { EntityManager } from '@mikro-orm/core';
import { InvalidOptionError } from '../../errors.js';
import { AuditEntity, type AuditRow, type AuditSource, type AuditSubjectType } from '../entities/index.js';
import { newId } from '../ids.js';
import { textProblem } from '../json-value.js';

export const auditSources: readonly AuditSource[] = ['cli', 'api', 'library'];

/** Who took an action and through what. */
export interface AuditContext {
  actor: string;
  source: AuditSource;
  /** The bulk action (its audit row's id) this action is one job of. */
  bulkId?: string | null;
}

/** One action to record. */
export interface AuditEntry {
  /** Made before the transaction when the transaction may run again (an idempotent one). Default a new id. */
  id?: string;
  action: string;
  subjectType: AuditSubjectType;
  subjectId: string | null;
  reason: string | null;
  changes: FieldChanges | null;
  filter?: unknown;
  count?: number | null;
  createdAt: number;
}

/** `{ field: { before, after } }` for each field an action changed. */
export type FieldChanges = Record<string, { before: unknown; after: unknown }>;

/** The source, checked: a typed error for anything but `cli`, `api` or `library`. */
export function checkAuditSource(source: unknown): AuditSource {
  if (!(auditSources as readonly unknown[]).includes(source)) throw new InvalidOptionError('source', `one of ${auditSources.join(', ')}`, source);
  return source as AuditSource;
}

/** The context, checked (actor as every other actor column takes it). */
export function checkAuditContext(context: AuditContext): AuditContext {
  const { actor } = context;
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > 200 || textProblem(actor) !== null) {
    throw new InvalidOptionError('actor', 'a non-empty string of at most 200 characters without NUL or lone surrogates', actor);
  }
  return { actor, source: checkAuditSource(context.source), bulkId: context.bulkId ?? null };
}

/** Creates the row in `em`'s unit of work; it is written by the transaction's next flush. */
export function recordAudit(em: EntityManager, context: AuditContext, entry: AuditEntry): AuditRow {
  const row: AuditRow = {
    id: entry.id ?? newId('aud'),
    createdAt: entry.createdAt,
    actor: context.actor,
    source: context.source,
    action: entry.action,
    subjectType: entry.subjectType,
    subjectId: entry.subjectId,
    reason: entry.reason,
    changes: entry.changes,
    filter: entry.filter ?? null,
    count: entry.count ?? null,
    bulkId: context.bulkId ?? null,
  };
  em.create(AuditEntity, row);
  return row;
}

/** The fields of `fields` whose value differs between `before` and `after` (compared as JSON). */
export function fieldChanges<T extends object>(before: T | null, after: T | null, fields: readonly (keyof T & string)[]): FieldChanges {
  const changes: FieldChanges = {};
  for (const field of fields) {
    const was = before ? (before[field] ?? null) : null;
    const now = after ? (after[field] ?? null) : null;
    if (JSON.stringify(was) !== JSON.stringify(now)) changes[field] = { before: was, after: now };
  }
  return changes;
}
