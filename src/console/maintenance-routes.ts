/**
 * The Maintenance page's API: each task with its schedule and next tick, its latest ticks (outcome,
 * counts, duration, who ran it) and how many ticks it missed over the last day.
 */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import { countMaintenanceRuns, listMaintenanceRuns } from '../store/index.js';

const dayMs = 86_400_000;

export function registerMaintenanceRoutes(app: FastifyInstance, jl: JobLedger): void {
  app.get<{ Querystring: { ticks?: string } }>(
    '/api/maintenance',
    {
      schema: {
        summary: 'Maintenance tasks: schedule, next tick, latest ticks with outcome, counts and duration, missed ticks over the last day',
        tags: ['maintenance'],
        querystring: {
          type: 'object',
          properties: { ticks: { type: 'string', pattern: '^[1-9][0-9]?$|^100$', description: 'latest ticks to show per task: a whole number from 1 to 100 (default 10)' } },
        },
      },
    },
    async (request) => {
      const ticks = parseTicks(request.query.ticks);
      const now = Date.now();
      // status() also declares runs whose process died (heartbeat stopped) abandoned, as `jobledger maintenance` does.
      const statuses = await jl.maintenance.status();
      const tasks = [];
      for (const status of statuses) {
        const runs = await listMaintenanceRuns(jl.ledger, { task: status.task, limit: ticks });
        const missedLastDay = await countMaintenanceRuns(jl.ledger, { task: status.task, status: 'missed', sinceTick: now - dayMs });
        tasks.push({ ...status, runs, missedLastDay });
      }
      return { tasks, at: now };
    },
  );
}

/** The schema's pattern has checked it: 1 to 100. */
function parseTicks(raw: string | undefined): number {
  return raw === undefined ? 10 : Number(raw);
}
