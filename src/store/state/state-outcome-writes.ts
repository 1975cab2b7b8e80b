/**
 * Keyed state written by job handlers: their buffered changes (workers/attempt-state.ts) are applied
 * by an outcome hook inside the transaction that records the attempt's outcome, on the hot path's
 * own executor (a raw `Sql`, not an EntityManager). So these are raw statements: the transaction is
 * the hot path's, and the ORM has no handle on it. The rules are state-writes.ts', shared with the
 * StateStore's unit of work; only the rows are written here. Columns and types come from the entity
 * schemas, so the statements cannot drift from the tables the ORM maps.
 */
import type { EntitySchema } from '@mikro-orm/core';
import { StateEntryEntity, StateTransitionEntity, type StateEntryRow } from '../entities/index.js';
import { allPropertiesOf, entityColumns } from '../engine/entity-columns.js';
import { decodeJson, encodeJson, placeholders, toNumber, type Row, type Sql } from '../engine/sql.js';
import { appendEvents } from '../jobs/events.js';
import { stateSubjectId, type StateOp, type StateWriteContext } from './state-model.js';
import { applyWith, type StateRows } from './state-writes.js';

/**
 * Applies validated operations (see `validateOp`) in `tx`, the attempt outcome's transaction, in
 * order, and returns each entry as it stands after its operation. Throws `VersionConflictError` or
 * `NotFoundError` and leaves the transaction to roll back: nothing of the batch is kept.
 */
export function applyStateOps(tx: Sql, ops: readonly StateOp[], ctx: StateWriteContext): Promise<StateEntryRow[]> {
  return applyWith(sqlStateRows(tx), ops, ctx);
}

const entries = codecOf(StateEntryEntity);
const transitions = codecOf(StateTransitionEntity);

function sqlStateRows(tx: Sql): StateRows {
  return {
    async read(ref) {
      const [raw] = await tx.all('SELECT * FROM state_entries WHERE namespace = ? AND key = ?', [ref.namespace, ref.key]);
      return raw ? entries.decode(tx, raw) : null;
    },

    async update(current, next) {
      // Fenced on the version read: 0 rows once a concurrent writer moved it.
      const updated = await tx.all(
        `UPDATE state_entries SET status = ?, data = ?, deleted_at = ?, updated_at = ?, version = ?
         WHERE namespace = ? AND key = ? AND version = ? RETURNING version`,
        [next.status, encodeJson(next.data), next.deletedAt, next.updatedAt, next.version, current.namespace, current.key, current.version],
      );
      return updated.length === 1;
    },

    async insert(entry) {
      const inserted = await tx.all(
        `INSERT INTO state_entries (${entries.names}) VALUES (${placeholders(entries.columns.length)})
         ON CONFLICT (namespace, key) DO NOTHING RETURNING version`,
        entries.values(entry),
      );
      return inserted.length === 1;
    },

    async highestRecordedVersion(ref) {
      const [row] = await tx.all(
        `SELECT (SELECT MAX(seq) FROM events WHERE subject_type = 'state' AND subject_id = ?) AS seq,
                (SELECT MAX(version_after) FROM state_transitions WHERE namespace = ? AND key = ?) AS version`,
        [stateSubjectId(ref), ref.namespace, ref.key],
      );
      return Math.max(toNumber(row?.seq ?? 0), toNumber(row?.version ?? 0));
    },

    async record(transition, event) {
      await tx.run(
        `INSERT INTO state_transitions (${transitions.names}) VALUES (${placeholders(transitions.columns.length)})`,
        transitions.values(transition),
      );
      await appendEvents(tx, [event]);
    },
  };
}

/**
 * An entity's columns (every property, in schema order) with their types, and a row converted to and
 * from them: JSON encoded and decoded where the column is JSON, PostgreSQL's BIGINT strings as numbers.
 */
function codecOf<T extends object>(entity: EntitySchema<T>) {
  const properties = allPropertiesOf(entity);
  const columns = entityColumns(entity, properties);
  return {
    columns,
    names: columns.map((c) => c.name).join(', '),
    values(row: T): unknown[] {
      return properties.map((p, i) => (columns[i]!.type === 'json' ? encodeJson(row[p]) : (row[p] ?? null)));
    },
    decode(tx: Sql, raw: Row): T {
      const row: Record<string, unknown> = {};
      properties.forEach((p, i) => {
        const { name, type } = columns[i]!;
        const value = raw[name];
        row[p] = type === 'json' ? decodeJson(tx.dialect, value) : value === null || value === undefined ? null : type === 'text' ? value : toNumber(value);
      });
      return row as T;
    },
  };
}
