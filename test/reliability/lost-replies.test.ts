/**
 * Lost replies: Redis runs a script, the connection drops before its reply arrives, ioredis reconnects and
 * (with its default `autoResendUnfulfilledCommands`) sends the same command again. A TCP proxy between the
 * engine's client and a real redis-server swallows one reply and cuts the connection, at will.
 *
 * Proves: a send and a verify whose first reply was lost answer as if nothing had happened — the send is
 * delivered once and counted once in the phone's and the IP's windows, the right code verifies (not
 * CODE_EXPIRED) and stays single-use.
 */

import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createSmsOtp, memorySender, RedisStore } from '@sms-otp/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../packages/core/test/support/outcomes.js';
import { type RedisServer, startRedis } from '../support/redis.js';

/** A proxy to `port` that can swallow the next reply and cut the connection. */
function lossyProxy(port: number) {
  let dropNext = false;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (data) => upstream.write(data));
    upstream.on('data', (data) => {
      if (!dropNext) {
        client.write(data);
        return;
      }
      dropNext = false;
      dropped += 1;
      client.destroy();
      upstream.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  return {
    listen: () =>
      new Promise<number>((resolve) =>
        server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
      ),
    /** Swallows the next reply from Redis and cuts that connection. */
    dropNextReply: () => {
      dropNext = true;
    },
    dropped: () => dropped,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('lost replies: ioredis re-sends a command whose reply a dropped connection lost', () => {
  let redis: RedisServer;
  let proxy: ReturnType<typeof lossyProxy>;
  let proxyPort: number;
  beforeAll(async () => {
    redis = await startRedis();
    proxy = lossyProxy(redis.port);
    proxyPort = await proxy.listen();
  }, 60_000);
  afterAll(async () => {
    console.log(`[reliability:lost-replies] ${JSON.stringify({ repliesSwallowed: proxy?.dropped() })}`);
    await proxy?.close();
    await redis?.stop();
  });

  const engine = (perIpHour: number) => {
    const client = redis.client({ port: proxyPort });
    client.on('error', () => {});
    const sender = memorySender();
    const otp = createSmsOtp({
      secret: 'lost-replies-secret-lost-replies-secret-0123456789ABCDEF',
      store: new RedisStore({ client, prefix: `lost${perIpHour}:` }),
      sender,
      breaker: false,
      sendLimits: { perPhoneHour: 1, perPhoneDay: 10, perIpHour },
    });
    return { otp, sender, client };
  };

  it('a send whose reply was lost is delivered once and counted once', async () => {
    const { otp, sender, client } = engine(2);
    await client.ping();
    const phone = '+8613800138901';
    const ip = '198.51.100.90';
    const before = proxy.dropped();
    proxy.dropNextReply();
    expect(await codeOf(otp.send({ phone, ip }))).toBe('OK');
    expect(proxy.dropped()).toBe(before + 1);
    expect(sender.outbox.all().filter((m) => m.phone === phone)).toHaveLength(1);
    // perPhoneHour 1: the phone's window holds exactly that send; the IP window (2) has room for one more.
    expect((await otp.send({ phone, ip }).catch((e) => e)).code).toBe('RESEND_TOO_SOON');
    expect(await codeOf(otp.send({ phone: '+8613800138902', ip }))).toBe('OK');
    expect(await codeOf(otp.send({ phone: '+8613800138903', ip }))).toBe('RATE_LIMITED');
    await otp.close();
    client.disconnect();
  });

  it('a right verify whose reply was lost is OK, and the code is still single-use', async () => {
    const { otp, sender, client } = engine(100);
    await client.ping();
    const phone = '+8613800138904';
    const { requestId } = await otp.send({ phone });
    const code = sender.outbox.last(phone)!.code;
    const before = proxy.dropped();
    proxy.dropNextReply();
    expect(await codeOf(otp.verify({ phone, code, requestId }))).toBe('OK');
    expect(proxy.dropped()).toBe(before + 1);
    expect(await codeOf(otp.verify({ phone, code, requestId }))).toBe('CODE_EXPIRED');
    await otp.close();
    client.disconnect();
  });
});
