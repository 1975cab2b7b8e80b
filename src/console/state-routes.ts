/**
 * The State page's API: namespaces, a namespace's keys with their current value and version, a key's
 * transitions with what each changed, snapshots with their checksum, and restoring one (operator).
 */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import { snapshotChecksum, type SnapshotRow, type StateTransitionRow } from '../store/index.js';
import { principalOf } from './access.js';
import { reasonProperty } from './job-routes.js';
import { jsonDiff } from './json-diff.js';
import { idPattern, limitParam, parseLimit } from './query-params.js';

const namespaceProperty = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'a namespace: 1-64 letters, digits, "_", "." or "-"' } as const;
const keyProperty = { type: 'string', minLength: 1, maxLength: 128, description: 'a state key (1 to 128 characters)' } as const;
const namespaceParams = { type: 'object', required: ['namespace'], properties: { namespace: namespaceProperty } } as const;

/** A snapshot as listed: its data, and whether the data still matches the checksum taken with it. */
function snapshotView(s: SnapshotRow) {
  return { ...s, intact: snapshotChecksum(s.data) === s.checksum };
}

function transitionView(t: StateTransitionRow) {
  return { ...t, diff: jsonDiff(t.dataBefore, t.dataAfter) };
}

export function registerStateRoutes(app: FastifyInstance, jl: JobLedger): void {
  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/api/state',
    {
      schema: {
        summary: 'State namespaces, in order',
        tags: ['state'],
        querystring: { type: 'object', properties: { after: { ...namespaceProperty, description: `the \`next\` of the previous page (${namespaceProperty.description})` }, limit: limitParam } },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit, 100);
      const items = await jl.state.namespaces({ limit, ...(request.query.after !== undefined ? { after: request.query.after } : {}) });
      return { items, next: items.length === limit ? items.at(-1)! : null };
    },
  );

  app.get<{ Params: { namespace: string }; Querystring: { prefix?: string; after?: string; deleted?: 'true' | 'false'; limit?: string } }>(
    '/api/state/:namespace',
    {
      schema: {
        summary: 'A namespace\'s keys in order, with their current value, status and version',
        tags: ['state'],
        params: namespaceParams,
        querystring: {
          type: 'object',
          properties: {
            prefix: { ...keyProperty, description: 'only keys starting with this text' },
            after: { ...keyProperty, description: 'the `next` of the previous page (a key)' },
            deleted: { type: 'string', enum: ['true', 'false'], description: 'true or false (default false: soft-deleted keys left out)' },
            limit: limitParam,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = parseLimit(q.limit);
      const items = await jl.state.list(request.params.namespace, {
        limit,
        ...(q.prefix !== undefined ? { prefix: q.prefix } : {}),
        ...(q.after !== undefined ? { afterKey: q.after } : {}),
        ...(q.deleted === 'true' ? { includeDeleted: true } : {}),
      });
      return { items, next: items.length === limit ? items.at(-1)!.key : null };
    },
  );

  app.get<{ Params: { namespace: string }; Querystring: { key: string; limit?: string } }>(
    '/api/state/:namespace/entry',
    {
      schema: {
        summary: 'One key: its entry (soft-deleted too), its latest transitions with what each changed, and its snapshots',
        tags: ['state'],
        params: namespaceParams,
        querystring: { type: 'object', required: ['key'], properties: { key: keyProperty, limit: { ...limitParam, description: 'the latest transitions and snapshots to show: 1 to 500 (default 50)' } } },
      },
    },
    async (request) => {
      const { namespace } = request.params;
      const { key } = request.query;
      const limit = parseLimit(request.query.limit);
      const entry = await jl.state.get(namespace, key, { includeDeleted: true });
      // The latest `limit` transitions: versions are consecutive from 1, one transition each.
      const transitions = await jl.state.history(namespace, key, { afterVersion: Math.max(0, entry.version - limit), limit });
      const snapshots = await jl.state.listSnapshots({ namespace, key, limit });
      return { entry, transitions: transitions.reverse().map(transitionView), snapshots: snapshots.map(snapshotView) };
    },
  );

  app.get<{ Querystring: { namespace?: string; key?: string; limit?: string } }>(
    '/api/snapshots',
    {
      schema: {
        summary: 'State snapshots, newest first, with their checksum; of one namespace\'s key with namespace and key',
        tags: ['state'],
        querystring: { type: 'object', properties: { namespace: namespaceProperty, key: keyProperty, limit: limitParam } },
      },
    },
    async (request) => {
      const { namespace, key } = request.query;
      const limit = parseLimit(request.query.limit);
      const filter = namespace !== undefined || key !== undefined ? { namespace, key } : { subjectType: 'state' as const };
      return { items: (await jl.state.listSnapshots({ ...filter, limit })).map(snapshotView) };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason: string; expectedVersion?: number } }>(
    '/api/snapshots/:id/restore',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Write a state snapshot\'s data back to its key as a new version (checksum checked first)',
        tags: ['actions'],
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('snp'), description: 'a snapshot id like snp_01J...' } } },
        body: {
          type: 'object',
          required: ['reason'],
          description: 'a JSON object { "reason": "...", "expectedVersion"?: n }',
          properties: {
            reason: reasonProperty,
            expectedVersion: { type: 'integer', minimum: 0, description: 'restore only if the key is still at this version (0: only if it does not exist)' },
          },
        },
      },
    },
    async (request) => {
      const { reason, expectedVersion } = request.body;
      const entry = await jl.state.restoreSnapshot(request.params.id, { reason, actor: principalOf(request).name, ...(expectedVersion !== undefined ? { expectedVersion } : {}) });
      return { entry };
    },
  );
}
