import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import {
  createSmsOtp,
  type HttpOptions,
  memorySender,
  type ReceiptOptions,
  type SmsOtp,
} from '@sms-otp/core';
import { smsOtpPlugin } from '@sms-otp/fastify';
import * as koaAdapter from '@sms-otp/koa';
import express5, { type RequestHandler } from 'express';
import Fastify from 'fastify';
import Koa from 'koa';
import supertest from 'supertest';
import { vi } from 'vitest';

/** Route options every app passes to its routes and guards. */
export interface RouteOptions extends HttpOptions {
  /** The routes' prefix (default `/sms`). */
  prefix?: string;
  /** Installs the host's own JSON parser before the routes (Express, Koa; Fastify always parses). */
  hostParser?: boolean;
  /** Believes X-Forwarded-For (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`). */
  trustProxy?: boolean;
  /** Installs a host middleware (Fastify: an onRequest hook) that fails requests with `X-Deny` with a 429. */
  hostGate?: boolean;
  /** Builds the guards with their purpose only, not the route options (Fastify's always are). */
  bareGuards?: boolean;
  /** Mounts the receipts route with these options (the routes' option; never the guards'). */
  receipts?: ReceiptOptions;
  /** Listens on this Unix socket instead of a TCP port (`request` and `port` are then of no use). */
  socketPath?: string;
}

const DENIED = 'denied by the host';

export interface ContractApp {
  request: ReturnType<typeof supertest>;
  /** The port it listens on (127.0.0.1), for raw sockets. */
  port: number;
  close(): Promise<void>;
}

export type AppFactory = (otp: SmsOtp, options?: RouteOptions) => Promise<ContractApp>;

// Express 4 and Koa 2 are the packages' dev dependencies under alias names.
const requireFrom = (pkg: string) =>
  createRequire(new URL(`../../packages/${pkg}/package.json`, import.meta.url));
const express4 = requireFrom('express')('express4') as typeof express5;
const Koa2 = requireFrom('koa')('koa2') as typeof Koa;

/** The Express adapter loaded against a given Express major, as a host with that major installed gets it. */
async function expressAdapter(major: 4 | 5): Promise<typeof import('@sms-otp/express')> {
  if (major === 5) return import('@sms-otp/express');
  vi.doMock('express', () => ({ default: express4 }));
  try {
    // A second instance of the adapter module (the query makes it one), whose `express` is Express 4.
    const specifier = '../../packages/express/src/index.ts?express4';
    const adapter = (await import(/* @vite-ignore */ specifier)) as typeof import('@sms-otp/express');
    // Proves the mock took: the router the adapter builds is an Express 4 router.
    const probe = createSmsOtp({
      secret: 'probe-0123456789-abcdefghijklmnopqrstuvwxyz',
      sender: memorySender(),
    });
    const router = adapter.smsOtp(probe);
    await probe.close();
    if (Object.getPrototypeOf(router) !== Object.getPrototypeOf(express4.Router())) {
      throw new Error('the Express adapter was not loaded against Express 4');
    }
    return adapter;
  } finally {
    vi.doUnmock('express');
  }
}

async function listen(server: Server, socketPath?: string): Promise<ContractApp> {
  if (socketPath) await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  else await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    request: supertest(server),
    port: (server.address() as AddressInfo | null)?.port ?? 0,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

function expressApp(major: 4 | 5): AppFactory {
  const express = major === 5 ? express5 : express4;
  return async (
    otp,
    { hostParser, trustProxy, hostGate, bareGuards, prefix, receipts, socketPath, ...routes } = {},
  ) => {
    const { smsOtp, requireSmsVerified } = await expressAdapter(major);
    const guardRoutes = bareGuards ? {} : routes;
    const app = express();
    if (trustProxy) app.set('trust proxy', true);
    if (hostGate) {
      app.use((req, _res, next) =>
        next(req.get('x-deny') ? Object.assign(new Error(DENIED), { status: 429 }) : undefined),
      );
    }
    if (hostParser) app.use(express.json());
    app.use(smsOtp(otp, { ...routes, ...(prefix ? { prefix } : {}), ...(receipts ? { receipts } : {}) }));
    const answer: RequestHandler = (req, res) => {
      res.json({ phone: req.smsVerified!.phone });
    };
    app.post('/login', requireSmsVerified(otp, { ...guardRoutes, purpose: 'login' }), answer);
    app.post(
      '/login-peek',
      requireSmsVerified(otp, { ...guardRoutes, purpose: 'login', consume: false }),
      answer,
    );
    app.post('/reset', requireSmsVerified(otp, { ...guardRoutes, purpose: 'reset-password' }), answer);
    return listen(createServer(app), socketPath);
  };
}

function koaApp(major: 2 | 3): AppFactory {
  const App = major === 3 ? Koa : Koa2;
  return async (
    otp,
    { hostParser, trustProxy, hostGate, bareGuards, prefix, receipts, socketPath, ...routes } = {},
  ) => {
    const app = new App({ proxy: trustProxy ?? false });
    if (hostGate) {
      app.use(async (ctx, next) => {
        if (ctx.get('x-deny')) ctx.throw(429, DENIED);
        return next();
      });
    }
    if (hostParser) {
      // A stand-in for @koa/bodyparser: sets ctx.request.body for JSON requests.
      app.use(async (ctx, next) => {
        if (ctx.is('application/json')) {
          let text = '';
          for await (const chunk of ctx.req) text += chunk;
          (ctx.request as { body?: unknown }).body = JSON.parse(text);
        }
        return next();
      });
    }
    app.use(
      koaAdapter.smsOtp(otp, { ...routes, ...(prefix ? { prefix } : {}), ...(receipts ? { receipts } : {}) }),
    );
    const router = new Router();
    const answer: Koa.Middleware = (ctx) => {
      ctx.body = { phone: ctx.state.smsVerified!.phone };
    };
    const guard = (purpose: string, consume?: boolean) =>
      koaAdapter.requireSmsVerified(otp, {
        ...(bareGuards ? {} : routes),
        purpose,
        ...(consume === undefined ? {} : { consume }),
      });
    router.post('/login', guard('login'), answer);
    router.post('/login-peek', guard('login', false), answer);
    router.post('/reset', guard('reset-password'), answer);
    app.use(router.routes());
    return listen(createServer(app.callback()), socketPath);
  };
}

const fastifyApp: AppFactory = async (
  otp,
  { hostParser: _, bareGuards: __, trustProxy, hostGate, socketPath, ...routes } = {},
) => {
  const app = Fastify({ trustProxy: trustProxy ?? false });
  if (hostGate) {
    app.addHook('onRequest', async (request) => {
      if (request.headers['x-deny']) throw Object.assign(new Error(DENIED), { statusCode: 429 });
    });
  }
  await app.register(smsOtpPlugin, { otp, ...routes });
  const answer = async (request: { smsVerified?: { phone: string } }) => ({
    phone: request.smsVerified!.phone,
  });
  app.post('/login', { preHandler: app.requireSmsVerified({ purpose: 'login' }) }, answer);
  app.post(
    '/login-peek',
    { preHandler: app.requireSmsVerified({ purpose: 'login', consume: false }) },
    answer,
  );
  app.post('/reset', { preHandler: app.requireSmsVerified({ purpose: 'reset-password' }) }, answer);
  await app.listen(socketPath ? { path: socketPath } : { port: 0, host: '127.0.0.1' });
  return {
    request: supertest(app.server),
    port: (app.server.address() as AddressInfo | null)?.port ?? 0,
    close: () => app.close(),
  };
};

/** Every app the contract suite runs against. */
export const APPS: [string, AppFactory][] = [
  ['Express 5', expressApp(5)],
  ['Express 4', expressApp(4)],
  ['Koa 3', koaApp(3)],
  ['Koa 2', koaApp(2)],
  ['Fastify 5', fastifyApp],
];
