import { beforeEach, describe, expect, it } from 'vitest';
import { SmsOtpConfigError, SmsOtpError } from '../../src/errors.js';
import { type FailoverEvent, failover } from '../../src/vendors/failover.js';
import { mayHaveDelivered } from '../../src/vendors/http.js';
import { jpushCodes, jpushSender } from '../../src/vendors/jpush.js';
import { ronglianSender } from '../../src/vendors/ronglian.js';
import type { Channel, CodeProvider, Sender } from '../../src/vendors/types.js';
import { JPUSH, type JpushFake, startJpushFake } from './fakes/jpush.js';
import { RONGLIAN, startRonglianFake } from './fakes/ronglian.js';
import { closedPortUrl, type Misbehaviour } from './fakes/server.js';
import { codeMessage, expectNoSecrets, rejection } from './helpers.js';

type Step = 'ok' | SmsOtpError | Error;

const failed = (reason: string, extra: Record<string, unknown> = {}) =>
  new SmsOtpError('SEND_FAILED', { reason, ...extra });

/** A scripted sender: each call takes the next step (the last one repeats). */
function stubSender(name: string, steps: Step[], channels?: Channel[]) {
  const calls: string[] = [];
  const sender: Sender & { calls: string[] } = {
    kind: 'sender',
    name,
    calls,
    ...(channels ? { channels } : {}),
    async send(message) {
      calls.push(message.phone);
      const step = steps.length > 1 ? steps.shift()! : steps[0]!;
      if (step !== 'ok') throw step;
      return { vendor: name, messageId: `${name}-${calls.length}` };
    },
  };
  return sender;
}

function stubProvider(name: string, steps: Step[], channels?: Channel[]) {
  const checks: string[] = [];
  let starts = 0;
  const provider: CodeProvider & { checks: string[] } = {
    kind: 'provider',
    name,
    checks,
    ...(channels ? { channels } : {}),
    async start() {
      starts += 1;
      const step = steps.length > 1 ? steps.shift()! : steps[0]!;
      if (step !== 'ok') throw step;
      return { ref: `ref-${starts}`, vendor: name, messageId: `m-${starts}` };
    },
    async check(request) {
      checks.push(request.ref);
      return request.code === '1234';
    },
  };
  return provider;
}

describe('failover order', () => {
  it('moves on to the next member after SEND_FAILED and reports events', async () => {
    const events: FailoverEvent[] = [];
    const a = stubSender('a', [failed('http_error', { httpStatus: 503 })]);
    const b = stubSender('b', ['ok']);
    const sender = failover([a, b], { onEvent: (e) => events.push(e) });
    expect(await sender.send(codeMessage())).toEqual({ vendor: 'b', messageId: 'b-1' });
    expect(a.calls).toHaveLength(1);
    expect(events).toEqual([
      { type: 'vendor_failed', vendor: 'a', code: 'SEND_FAILED', reason: 'http_error' },
      { type: 'sent', vendor: 'b' },
    ]);
  });

  it('does not touch later members when the first one succeeds', async () => {
    const a = stubSender('a', ['ok']);
    const b = stubSender('b', ['ok']);
    await failover([a, b]).send(codeMessage());
    expect([a.calls.length, b.calls.length]).toEqual([1, 0]);
  });

  it.each([
    new SmsOtpError('RATE_LIMITED', { vendor: 'a', vendorCode: '160038', retryAfter: 60 }),
    new SmsOtpError('INVALID_PHONE', { vendor: 'a', vendorCode: '160042' }),
  ])('does not fail over on $code (it is about the number)', async (refusal) => {
    const a = stubSender('a', [refusal]);
    const b = stubSender('b', ['ok']);
    const error = await rejection(failover([a, b]).send(codeMessage()));
    expect(error).toBe(refusal);
    expect(b.calls).toHaveLength(0);
  });

  it('skips a member that cannot reach the country or the channel', async () => {
    const a = stubSender('a', [
      new SmsOtpError('INVALID_PHONE', { vendor: 'a', reason: 'unsupported_country' }),
    ]);
    const b = stubSender('b', ['ok'], ['sms', 'voice']);
    const c = stubSender('c', ['ok'], ['sms']);
    const sender = failover([a, b]);
    expect((await sender.send(codeMessage({ phone: '+85512345678' }))).vendor).toBe('b');
    const voice = failover([c, b]);
    expect(voice.channels).toEqual(['sms', 'voice']);
    expect((await voice.send(codeMessage({ channel: 'voice' }))).vendor).toBe('b');
    expect(c.calls).toHaveLength(0);
  });

  it('answers INVALID_PHONE when no member can reach the country', async () => {
    const refuse = () => new SmsOtpError('INVALID_PHONE', { reason: 'unsupported_country' });
    const error = await rejection(
      failover([stubSender('a', [refuse()]), stubSender('b', [refuse()])]).send(codeMessage()),
    );
    expect(error.code).toBe('INVALID_PHONE');
    expect(error.details.reason).toBe('unsupported_country');
  });

  it('treats a non-SmsOtpError throw as a vendor failure without keeping its message', async () => {
    const a = stubSender('a', [new Error('boom with secret s3cr3t')]);
    const b = stubSender('b', [failed('balance')]);
    const error = await rejection(failover([a, b]).send(codeMessage()));
    expect(error.details.failures).toEqual([
      { vendor: 'a', code: 'SEND_FAILED', reason: 'unexpected_error' },
      { vendor: 'b', code: 'SEND_FAILED', reason: 'balance' },
    ]);
    expectNoSecrets(error, ['s3cr3t']);
  });

  it('ignores a throwing onEvent listener', async () => {
    const sender = failover([stubSender('a', ['ok'])], {
      onEvent: () => {
        throw new Error('listener bug');
      },
    });
    expect((await sender.send(codeMessage())).vendor).toBe('a');
  });
});

describe('failover when the outcome is unknown', () => {
  const timeout = () => new SmsOtpError('SEND_FAILED', { vendor: 'a', reason: 'timeout', timeoutMs: 50 });

  it('stops on a timeout by default (the message may still arrive)', async () => {
    const a = stubSender('a', [timeout()]);
    const b = stubSender('b', ['ok']);
    const error = await rejection(failover([a, b]).send(codeMessage()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toMatchObject({ vendor: 'a', reason: 'timeout' });
    expect(error.details.failures).toEqual([{ vendor: 'a', code: 'SEND_FAILED', reason: 'timeout' }]);
    expect(b.calls).toHaveLength(0);
  });

  it('fails over on a timeout with failoverOnUnknownOutcome: true', async () => {
    const a = stubSender('a', [timeout()]);
    const b = stubSender('b', ['ok']);
    expect((await failover([a, b], { failoverOnUnknownOutcome: true }).send(codeMessage())).vendor).toBe('b');
  });

  // Each answer of the first (real Ronglian) adapter, and whether JPush is asked next.
  const cases: Array<[Misbehaviour | 'refused', string, boolean]> = [
    ['hang', 'timeout', false],
    ['reset', 'network', false],
    ['status500', 'http_error', false],
    ['status504', 'http_error', false],
    ['html', 'bad_response', false],
    ['refused', 'network', true],
    ['status503', 'http_error', true],
    ['status502-json', 'http_error', false],
  ];
  it.each(cases)('real adapters: Ronglian %s (%s) → JPush asked: %s', async (misbehaviour, reason, next) => {
    const first = await startRonglianFake();
    const jpush = await startJpushFake();
    try {
      const baseUrl = misbehaviour === 'refused' ? await closedPortUrl() : first.url;
      if (misbehaviour !== 'refused') first.misbehave = misbehaviour;
      const members = () => [
        // Only the hanging vendor needs to meet the timeout: the others answer, however slow a loaded machine is.
        ronglianSender({
          ...RONGLIAN,
          templateId: '1',
          baseUrl,
          timeout: misbehaviour === 'hang' ? 100 : 10_000,
        }),
        jpushSender({ ...JPUSH, templateId: 1, baseUrl: jpush.url }),
      ];
      if (next) {
        expect((await failover(members()).send(codeMessage())).vendor).toBe('jpush');
      } else {
        const stopped = await rejection(failover(members()).send(codeMessage()));
        expect(stopped.details).toMatchObject({ vendor: 'ronglian', reason });
        expect(mayHaveDelivered(stopped)).toBe(true);
        expect(jpush.requests).toHaveLength(0);
        const receipt = await failover(members(), { failoverOnUnknownOutcome: true }).send(codeMessage());
        expect(receipt.vendor).toBe('jpush');
      }
      expect(jpush.requests).toHaveLength(1);
      expect(jpush.mismatches).toEqual([]);
    } finally {
      await first.close();
      await jpush.close();
    }
  });
});

describe('failover and the engine deadline', () => {
  it('tries no further member once the deadline has passed', async () => {
    let now = 1_000;
    const slow: Sender = {
      kind: 'sender',
      name: 'slow',
      async send() {
        // The member fails only after the engine's deadline.
        now = 3_000;
        throw failed('http_error', { httpStatus: 503 });
      },
    };
    const b = stubSender('b', ['ok']);
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const error = await rejection(failover([slow, b]).send(codeMessage({ deadline: 2_000 })));
      expect(error.details).toMatchObject({ vendor: 'failover', reason: 'timeout' });
      expect(error.details.failures).toEqual([
        { vendor: 'slow', code: 'SEND_FAILED', reason: 'http_error', httpStatus: 503 },
      ]);
      expect(b.calls).toHaveLength(0);
      now = 1_000;
      expect((await failover([slow, b]).send(codeMessage({ deadline: 5_000 }))).vendor).toBe('b');
    } finally {
      Date.now = realNow;
    }
  });

  it('marks an all-failed send that may have been delivered (failoverOnUnknownOutcome)', async () => {
    const a = stubSender('a', [failed('timeout', { timeoutMs: 5 })]);
    const b = stubSender('b', [failed('balance')]);
    const error = await rejection(failover([a, b], { failoverOnUnknownOutcome: true }).send(codeMessage()));
    expect(error.details).toMatchObject({ reason: 'all_vendors_failed', maybeDelivered: true });
    expect(mayHaveDelivered(error)).toBe(true);
    const c = stubSender('c', [failed('balance')]);
    const definite = await rejection(failover([c, stubSender('d', [failed('auth')])]).send(codeMessage()));
    expect(mayHaveDelivered(definite)).toBe(false);
  });
});

describe('failover when every member fails', () => {
  it('lists each vendor failure and leaks no secret', async () => {
    const down = await closedPortUrl();
    const sender = failover([
      ronglianSender({ ...RONGLIAN, templateId: '1', baseUrl: down }),
      jpushSender({ ...JPUSH, templateId: 1, baseUrl: down }),
    ]);
    const error = await rejection(sender.send(codeMessage()));
    expect(error.code).toBe('SEND_FAILED');
    expect(error.details).toEqual({
      vendor: 'failover',
      reason: 'all_vendors_failed',
      failures: [
        { vendor: 'ronglian', code: 'SEND_FAILED', reason: 'network' },
        { vendor: 'jpush', code: 'SEND_FAILED', reason: 'network' },
      ],
    });
    expectNoSecrets(error, [RONGLIAN.authToken, JPUSH.masterSecret]);
  });
});

describe('failover circuit breaker', () => {
  let now: number;
  let events: FailoverEvent[];
  beforeEach(() => {
    now = 1_000_000;
    events = [];
  });
  const options = () => ({
    failureThreshold: 2,
    coolOffMs: 10_000,
    clock: () => now,
    onEvent: (e: FailoverEvent) => events.push(e),
  });

  it('opens after N consecutive failures, skips the member, and closes after a good half-open trial', async () => {
    const a = stubSender('a', [failed('http_error'), failed('http_error'), 'ok']);
    const b = stubSender('b', ['ok']);
    const sender = failover([a, b], options());
    await sender.send(codeMessage());
    await sender.send(codeMessage());
    expect(events.filter((e) => e.type === 'breaker_open')).toEqual([{ type: 'breaker_open', vendor: 'a' }]);
    expect(a.calls).toHaveLength(2);

    now += 9_999;
    expect((await sender.send(codeMessage())).vendor).toBe('b');
    expect(a.calls).toHaveLength(2); // skipped while open

    now += 1;
    expect((await sender.send(codeMessage())).vendor).toBe('a'); // half-open trial succeeds
    expect(a.calls).toHaveLength(3);
    expect(events.at(-2)).toEqual({ type: 'breaker_closed', vendor: 'a' });
    expect(events.at(-1)).toEqual({ type: 'sent', vendor: 'a' });
  });

  it('reopens at once when the half-open trial fails', async () => {
    const a = stubSender('a', [failed('http_error')]);
    const b = stubSender('b', ['ok']);
    const sender = failover([a, b], options());
    await sender.send(codeMessage());
    await sender.send(codeMessage());
    now += 10_000;
    await sender.send(codeMessage());
    expect(a.calls).toHaveLength(3);
    expect(events.filter((e) => e.type === 'breaker_open')).toHaveLength(2);
    now += 5_000;
    await sender.send(codeMessage());
    expect(a.calls).toHaveLength(3);
  });

  it('a success in between resets the count', async () => {
    const a = stubSender('a', [failed('http_error'), 'ok', failed('http_error'), 'ok']);
    const sender = failover([a, stubSender('b', ['ok'])], options());
    for (let i = 0; i < 4; i++) await sender.send(codeMessage());
    expect(events.some((e) => e.type === 'breaker_open')).toBe(false);
    expect(a.calls).toHaveLength(4);
  });

  it('says so when every member is skipped by its breaker', async () => {
    const sender = failover([stubSender('a', [failed('http_error')])], { ...options(), failureThreshold: 1 });
    await rejection(sender.send(codeMessage()));
    const error = await rejection(sender.send(codeMessage()));
    expect(error.details).toEqual({
      vendor: 'failover',
      reason: 'no_vendor_available',
      failures: [{ vendor: 'a', skipped: 'breaker_open' }],
    });
  });
});

describe('failover of code providers', () => {
  it('names a mistyped option, with the one it most likely means', () => {
    const a = stubSender('a', ['ok']);
    expect(() => failover([a], { failoverOnTimeout: true } as never)).toThrow(
      expect.objectContaining({ path: 'failover.failoverOnTimeout' }),
    );
    expect(() => failover([a], { failureTreshold: 2 } as never)).toThrow(/did you mean "failureThreshold"/);
  });

  it('checks captchas only when every member does', () => {
    const checking = (name: string) => ({ ...stubProvider(name, ['ok']), checksCaptcha: true });
    expect(failover([checking('a'), checking('b')]).checksCaptcha).toBe(true);
    expect(failover([checking('a'), stubProvider('b', ['ok'])]).checksCaptcha).toBe(false);
  });

  it('encodes the member in the ref and checks with the member that started the code', async () => {
    const a = stubProvider('a', [failed('vendor_error')]);
    const b = stubProvider('b', ['ok']);
    const provider = failover([a, b]);
    expect(provider.kind).toBe('provider');
    const started = await provider.start({
      phone: '+8613800138000',
      purpose: 'login',
      channel: 'sms',
      ttl: 300,
      requestId: 'r',
    });
    expect(started).toEqual({ ref: 'b:ref-1', vendor: 'b', messageId: 'm-1' });
    expect(
      await provider.check({ phone: '+8613800138000', purpose: 'login', code: '1234', ref: started.ref }),
    ).toBe(true);
    expect(b.checks).toEqual(['ref-1']);
    expect(a.checks).toEqual([]);
    const error = await rejection(
      provider.check({ phone: '+8613800138000', purpose: 'login', code: '1234', ref: 'zz:ref' }),
    );
    expect(error.code).toBe('CODE_EXPIRED');
  });

  it('routes a real JPush code check back to JPush', async () => {
    const jpush: JpushFake = await startJpushFake();
    try {
      const provider = failover([
        jpushCodes({ ...JPUSH, templateId: 1, baseUrl: await closedPortUrl(), name: 'jpush-a' }),
        jpushCodes({ ...JPUSH, templateId: 1, baseUrl: jpush.url, name: 'jpush-b' }),
      ]);
      const { ref } = await provider.start({
        phone: '+8613800138000',
        purpose: 'login',
        channel: 'voice',
        ttl: 120,
        requestId: 'r',
      });
      expect(ref.startsWith('jpush-b:')).toBe(true);
      expect(await provider.check({ phone: '+8613800138000', purpose: 'login', code: '7788', ref })).toBe(
        true,
      );
      expect(jpush.requests.map((r) => r.path)).toEqual([
        '/v1/voice_codes',
        `/v1/codes/${ref.slice(8)}/valid`,
      ]);
      expect(jpush.mismatches).toEqual([]);
    } finally {
      await jpush.close();
    }
  });
});

describe('failover template sends', () => {
  it('does not resend a partly sent template through the next member', async () => {
    const partial = new SmsOtpError('SEND_FAILED', { vendor: 'a', reason: 'vendor_error', partial: true });
    const a: Sender = {
      ...stubSender('a', ['ok']),
      sendTemplate: async () => {
        throw partial;
      },
    };
    let bCalls = 0;
    const b: Sender = {
      ...stubSender('b', ['ok']),
      sendTemplate: async () => {
        bCalls += 1;
        return [{ vendor: 'b' }];
      },
    };
    const error = await rejection(
      failover([a, b]).sendTemplate!({ phones: ['+8613800138000'], templateId: '1', params: [] }),
    );
    expect(error.details.partial).toBe(true);
    expect(bCalls).toBe(0);
  });
});

describe('failover configuration', () => {
  let provider: CodeProvider;
  beforeEach(() => {
    provider = stubProvider('p', ['ok']);
  });

  it.each([
    [() => failover([]), 'failover.members'],
    [() => failover([stubSender('a', ['ok']), provider] as never), 'failover.members.1'],
    [() => failover([stubSender('a', ['ok']), stubSender('a', ['ok'])]), 'failover.members.1'],
    [() => failover([stubProvider('x:y', ['ok'])]), 'failover.members.0'],
    [() => failover([stubSender('a', ['ok'])], { failureThreshold: 0 }), 'failover.failureThreshold'],
    [() => failover([stubSender('a', ['ok'])], { coolOffMs: -1 }), 'failover.coolOffMs'],
  ])('throws SmsOtpConfigError naming the problem (%#)', (make, path) => {
    let thrown: unknown;
    try {
      make();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SmsOtpConfigError);
    expect((thrown as SmsOtpConfigError).path).toBe(path);
  });
});
