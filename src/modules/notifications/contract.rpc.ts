import { Type } from 'typebox';
import { asBase64Bytes, defineContract, localOnly, method } from '../../platform/rpc/index.ts';
import type { NotificationsApi } from './contract.ts';

/** The notifications contract on the wire; its caller is orders (the invoice route, the lab's synchronous switch). */
export const notificationsContract = defineContract<NotificationsApi>()('notifications', {
  invoice: method({ input: Type.Tuple([Type.String()]), output: Type.Union([asBase64Bytes(), Type.Null()]), idempotent: true }),
  processNow: localOnly('the lab\'s synchronous switch: across processes, order events reach notifications over the event log'),
});
