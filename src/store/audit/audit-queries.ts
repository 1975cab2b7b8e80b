/** Reading the audit log: newest first, filtered, in keyset pages (each page continues after the last row of the one before). */
import type { FilterQuery } from '@mikro-orm/core';
import { NotFoundError } from '../../errors.js';
import { AuditEntity, type AuditRow, type AuditSource } from '../entities/index.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { plainRows } from '../orm/entity-rows.js';
import { listAuditSchema, parseQuery } from '../query-schemas.js';
import { subjectTypes } from './subject-audit.js';

export interface AuditFilter {
  actor?: string;
  /** One action (`job.retry`) or several. */
  action?: string | string[];
  /** The subject's id: a job, run or snapshot id, `namespace/key` of a state entry, a maintenance task. */
  subject?: string;
  source?: AuditSource;
  /** At or after this time (epoch ms). */
  since?: number;
  /** Before this time (epoch ms). */
  until?: number;
  /** Default 100, at most 10,000. */
  limit?: number;
  /** The id of the last row of the previous page: the rows older than it. */
  after?: string;
}

export async function listAudit(em: LedgerEm, given: AuditFilter = {}): Promise<AuditRow[]> {
  const filter = parseQuery(listAuditSchema, given);
  const where: FilterQuery<AuditRow>[] = [];
  if (filter.actor !== undefined) where.push({ actor: filter.actor });
  if (filter.action !== undefined) where.push({ action: { $in: Array.isArray(filter.action) ? filter.action : [filter.action] } });
  // Every subject type named: the (subject_type, subject_id, created_at) index then serves the
  // filter, where a subject id alone would scan the audit table.
  if (filter.subject !== undefined) where.push({ subjectType: { $in: [...subjectTypes] }, subjectId: filter.subject });
  if (filter.source !== undefined) where.push({ source: filter.source });
  if (filter.since !== undefined) where.push({ createdAt: { $gte: filter.since } });
  if (filter.until !== undefined) where.push({ createdAt: { $lt: filter.until } });
  if (filter.after !== undefined) {
    const last = await em.findOne(AuditEntity, { id: filter.after }, { fields: ['createdAt'], disableIdentityMap: true });
    if (!last) throw new NotFoundError('audit row', filter.after);
    where.push({ $or: [{ createdAt: { $lt: last.createdAt } }, { createdAt: last.createdAt, id: { $lt: filter.after } }] });
  }
  const rows = await em.find(AuditEntity, where.length ? { $and: where } : {}, {
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    limit: filter.limit ?? 100,
  });
  return plainRows(AuditEntity, rows);
}
