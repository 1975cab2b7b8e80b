import { z } from 'zod';
import { defineJob } from 'jobledger';

export const sendConfirmation = defineJob({
  name: 'orders.send-confirmation',
  schema: z.object({ orderId: z.string(), to: z.email() }),
  async handler({ orderId, to }, ctx) {
    ctx.logger.info({ orderId }, 'sending the order confirmation');
    return { sentTo: to };
  },
});

export const jobs = [sendConfirmation];
