// The application's own entity: an order.
import { EntitySchema } from '@mikro-orm/core';
import { randomUUID } from 'node:crypto';

export interface Order {
  id: string;
  email: string;
  totalCents: number;
}

export const Order = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  properties: {
    id: { type: 'string', primary: true, length: 36, onCreate: () => randomUUID() },
    email: { type: 'string' },
    totalCents: { type: 'integer' },
  },
});
