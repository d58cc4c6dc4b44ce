import { causeOf, isSmsOtpError, SmsOtpError } from './errors.js';
import { maskPhone } from './phone.js';
import type { CodeMessage, Sender, SendReceipt } from './vendors/types.js';

export interface ConsoleSenderOptions {
  /** Prints the code. Default: only when NODE_ENV is not `production`. */
  showCode?: boolean;
  /** Where lines go. Default `console.log`. */
  log?: (line: string) => void;
}

/**
 * Prints codes to the console instead of sending them: for local development. Outside development it
 * prints only the masked phone, never the code.
 *
 * @example
 * const otp = createSmsOtp({ sender: consoleSender() });
 */
export function consoleSender(options: ConsoleSenderOptions = {}): Sender {
  const showCode = options.showCode ?? process.env.NODE_ENV !== 'production';
  const log = options.log ?? ((line: string) => console.log(line));
  return {
    kind: 'sender',
    name: 'console',
    development: true,
    channels: ['sms', 'voice'],
    async send(message: CodeMessage): Promise<SendReceipt> {
      log(
        showCode
          ? `[sms-otp] ${message.channel} code ${message.code} for ${message.phone} (${message.purpose}, valid ${message.ttl} s)`
          : `[sms-otp] ${message.channel} code sent to ${maskPhone(message.phone)} (${message.purpose})`,
      );
      return { vendor: 'console' };
    },
  };
}

/** A message the memory sender kept. */
export interface OutboxMessage extends CodeMessage {
  sentAt: Date;
}

/** What `memorySender()` keeps: every message, newest last. */
export interface Outbox {
  /** The newest message to `phone` (E.164), if any. */
  last(phone: string): OutboxMessage | undefined;
  all(): OutboxMessage[];
  clear(): void;
  readonly size: number;
}

export interface MemorySender extends Sender {
  readonly outbox: Outbox;
}

export interface MemorySenderOptions {
  /** Makes a send fail when it returns an error (for testing failures). */
  fail?: (message: CodeMessage) => Error | undefined;
  /** Most messages kept; the oldest go first. Default 10 000. */
  limit?: number;
}

/**
 * Keeps messages in an in-memory outbox instead of sending them: for tests and end-to-end runs.
 *
 * @example
 * const sender = memorySender();
 * const otp = createSmsOtp({ sender });
 * await otp.send({ phone: '+8613800138000' });
 * const code = sender.outbox.last('+8613800138000')?.code;
 */
export function memorySender(options: MemorySenderOptions = {}): MemorySender {
  const limit = options.limit ?? 10_000;
  const messages: OutboxMessage[] = [];
  const outbox: Outbox = {
    last: (phone) => messages.findLast((message) => message.phone === phone),
    all: () => [...messages],
    clear: () => {
      messages.length = 0;
    },
    get size() {
      return messages.length;
    },
  };
  return {
    kind: 'sender',
    name: 'memory',
    development: true,
    channels: ['sms', 'voice'],
    outbox,
    async send(message: CodeMessage): Promise<SendReceipt> {
      const error = options.fail?.(message);
      if (error)
        throw isSmsOtpError(error)
          ? error
          : new SmsOtpError('SEND_FAILED', { vendor: 'memory' }, undefined, { cause: causeOf(error) });
      messages.push({ ...message, sentAt: new Date() });
      if (messages.length > limit) messages.shift();
      return { vendor: 'memory', messageId: message.requestId };
    },
  };
}
