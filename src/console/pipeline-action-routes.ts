/** A whole pipeline's actions: cancel a running one, retry a failed or cancelled one, with a reason. */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import { principalOf } from './access.js';
import { reasonProperty } from './job-routes.js';
import { idPattern } from './query-params.js';

const pipelineIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('pip'), description: 'a pipeline id like pip_01J...' } },
} as const;

export function registerPipelineActionRoutes(app: FastifyInstance, jl: JobLedger): void {
  for (const action of ['cancel', 'retry'] as const) {
    app.post<{ Params: { id: string }; Body: { reason: string } }>(
      `/api/pipelines/:id/${action}`,
      {
        config: { role: 'operator' },
        schema: {
          summary:
            action === 'cancel'
              ? 'Cancel a running pipeline and its unfinished stage jobs'
              : 'Run a failed or cancelled pipeline again from the stage that ended it, with a new stage job',
          tags: ['actions'],
          params: pipelineIdParams,
          body: { type: 'object', required: ['reason'], properties: { reason: reasonProperty }, description: 'a JSON object { "reason": "..." }' },
        },
      },
      async (request) => {
        const input = { pipelineId: request.params.id, reason: request.body.reason, actor: principalOf(request).name, source: 'api' as const };
        return action === 'cancel' ? jl.cancelPipeline(input) : jl.retryPipeline(input);
      },
    );
  }
}
