/**
 * One subject's audit rows, newest first, by its type and id: the lookup `audit_subject_created_at_index`
 * (subject_type, subject_id, created_at) serves, for pages that show the operator actions on one job,
 * run or pipeline beside it.
 */
import { InvalidOptionError } from '../../errors.js';
import { AuditEntity, type AuditRow, type AuditSubjectType } from '../entities/index.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { plainRows } from '../orm/entity-rows.js';
import { idArgumentSchema, parseQuery } from '../query-schemas.js';

export const subjectTypes: readonly AuditSubjectType[] = ['job', 'jobs', 'run', 'state', 'snapshot', 'maintenance', 'pipeline', 'replay'];

export async function listSubjectAudit(em: LedgerEm, subjectType: AuditSubjectType, subjectId: string, limit: number): Promise<AuditRow[]> {
  if (!subjectTypes.includes(subjectType)) throw new InvalidOptionError('subjectType', `one of ${subjectTypes.join(', ')}`, subjectType);
  subjectId = parseQuery(idArgumentSchema, subjectId, 'subjectId');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidOptionError('limit', 'a whole number from 1 to 10000', limit);
  const rows = await em.find(AuditEntity, { subjectType, subjectId }, { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], limit });
  return plainRows(AuditEntity, rows);
}
