/**
 * A send's vendor step, after the store issued the code: hand the code to the sender, or ask the code
 * provider to make one (and key the store's record by its reference), or, for a test number or an unknown
 * user id, send nothing. A failure undoes the store step.
 */
import { isSmsOtpError } from '../errors.js';
import type { NormalizedPhone } from '../phone.js';
import { mayHaveDelivered } from '../vendors/http.js';
import type { Channel, CodeProvider, Sender } from '../vendors/types.js';
import type { EngineContext } from './context.js';
import type { Issued } from './issue-step.js';
import type { SendInput } from './types.js';
import type { DeliveryTime } from './user-ids.js';

export interface Dispatch {
  input: SendInput;
  channel: Channel;
  purpose: string;
  key: string;
  /** The number, `undefined` for an unknown user id (a stand-in: nothing is sent). */
  phone: NormalizedPhone | undefined;
  /** The code a sender delivers (`''` when a code provider makes it). */
  code: string;
  /** The code was a test number's fixed code: nothing is sent. */
  test: boolean;
  requestId: string;
  /** What the store keeps for this code (see `IssueRequest`). */
  storedCode: string;
  issued: Issued;
}

/** Delivers the code; resolves to the name of the vendor that took it. */
export function dispatcher(
  ctx: EngineContext,
  deliveryTime: DeliveryTime,
): (dispatch: Dispatch) => Promise<{ vendor: string; messageId?: string }> {
  const { options, store, vendor, now, withinStoreTimeout } = ctx;
  const verifierIsVendor = options.captcha.verifier === 'vendor';

  /** Asks the code provider to send a code of its own; the store's record is then keyed by its reference. */
  function startWithProvider(
    d: Dispatch,
    deadline: number,
  ): Promise<{ vendor: string; ref: string; messageId?: string }> {
    const { input } = d;
    return ctx.withinSendTimeout(() =>
      (vendor as CodeProvider).start({
        phone: d.key,
        purpose: d.purpose,
        channel: d.channel,
        ttl: options.ttl,
        requestId: d.requestId,
        deadline,
        ...(input.userId !== undefined && input.phone === undefined ? { userId: input.userId } : {}),
        ...(verifierIsVendor && input.captcha !== undefined
          ? { captcha: input.captcha, ...(input.captchaKey ? { captchaKey: input.captchaKey } : {}) }
          : {}),
      }),
    );
  }

  /** Who delivered (the adapter's name, `test-number`) and the vendor's message id, when it gave one. */
  return async function dispatch(d: Dispatch): Promise<{ vendor: string; messageId?: string }> {
    const { key, purpose, phone, requestId, storedCode } = d;
    const started = Date.now();
    // When the engine stops waiting (`sendTimeout`): vendors start nothing after it (failover, adapters).
    const deadline = started + options.sendTimeout;
    let vendorName = vendor.name;
    let messageId: string | undefined;
    let delivered = false;
    try {
      if (!phone) {
        // An unknown user id: take about as long as a real delivery, send nothing.
        await deliveryTime.standIn();
      } else if (d.test) {
        vendorName = 'test-number';
      } else if (vendor.kind === 'sender') {
        const receipt = await ctx.withinSendTimeout(() =>
          (vendor as Sender).send({
            phone: key,
            code: d.code,
            purpose,
            channel: d.channel,
            ttl: options.ttl,
            requestId,
            deadline,
          }),
        );
        delivered = true;
        vendorName = receipt.vendor;
        messageId = receipt.messageId;
      } else {
        const result = await startWithProvider(d, deadline);
        delivered = true;
        vendorName = result.vendor;
        messageId = result.messageId;
        const to = `r:${result.ref}`;
        await withinStoreTimeout(() => store.rekey({ phone: key, purpose, from: storedCode, to }));
      }
    } catch (error) {
      // The send failed: the code and its cooldown are undone, so that the user can ask again at once. The
      // counts (phone, IP, country, budget) are undone only when nothing went out: a message that may have
      // been delivered was paid for, and uncounting it would let a slow vendor deliver any number of them.
      const keepCounts = delivered || (isSmsOtpError(error) && mayHaveDelivered(error));
      const undo = d.issued.undo;
      await withinStoreTimeout(() =>
        store.rollback({ phone: key, purpose, now: now(), secret: storedCode, undo, keepCounts }),
      ).catch(() => {});
      if (!keepCounts) await d.issued.release();
      throw error;
    }
    if (phone && !d.test) deliveryTime.record(started);
    return messageId ? { vendor: vendorName, messageId } : { vendor: vendorName };
  };
}
