import {
  consoleSender,
  createSmsOtp,
  failover,
  isSmsOtpError,
  perPurposeSchema,
  purposeTemplates,
  type Sender,
  SmsOtpConfigError,
  SmsOtpError,
} from '@sms-otp/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const withPurposes = (name: string, purposes?: string[]): Sender => ({
  ...consoleSender({ log: () => {} }),
  name,
  ...(purposes ? { purposes } : {}),
});

describe('templates per purpose', () => {
  it('reads a single value or a map by purpose', () => {
    const schema = perPurposeSchema(z.string().min(1));
    const isString = (v: unknown): v is string => typeof v === 'string';
    const one = purposeTemplates(schema.parse('SMS_1'), isString);
    expect([one.purposes, one.get('login'), one.get('other')]).toEqual([undefined, 'SMS_1', 'SMS_1']);
    const map = purposeTemplates(schema.parse({ login: 'SMS_1', 'reset-password': 'SMS_2' }), isString);
    expect(map.purposes).toEqual(['login', 'reset-password']);
    expect([map.get('reset-password'), map.get('register')]).toEqual(['SMS_2', undefined]);
    expect(schema.safeParse({}).success).toBe(false);
    expect(schema.safeParse({ login: '' }).success).toBe(false);
  });

  it('refuses at start-up a configured purpose the sender has no template for', () => {
    const sender = withPurposes('tpl', ['login']);
    expect(() => createSmsOtp({ sender, purposes: ['login', 'register'] })).toThrow(SmsOtpConfigError);
    expect(() => createSmsOtp({ sender, purposes: ['login', 'register'] })).toThrow(/"register"/);
    expect(() => createSmsOtp({ sender, purposes: ['login'] })).not.toThrow();
  });

  it('a failover covers the purposes all its members cover', () => {
    const both = failover([withPurposes('a', ['login', 'register']), withPurposes('b', ['login'])]);
    expect(both.purposes).toEqual(['login']);
    expect(() => createSmsOtp({ sender: both, purposes: ['register'] })).toThrow(/no template/);
    expect(failover([withPurposes('a'), withPurposes('b')]).purposes).toBeUndefined();
  });
});

describe('isSmsOtpError', () => {
  it('knows errors by a brand shared across copies of the package, not by class', () => {
    expect(isSmsOtpError(new SmsOtpError('CODE_INVALID'))).toBe(true);
    // What an error of another copy of @sms-otp/core looks like: another class with the same brand.
    const foreign = Object.assign(new Error('x'), {
      [Symbol.for('sms-otp.error')]: true,
      code: 'CODE_INVALID',
    });
    expect(isSmsOtpError(foreign)).toBe(true);
    expect(isSmsOtpError(new Error('x'))).toBe(false);
    expect(isSmsOtpError({ code: 'CODE_INVALID' })).toBe(false);
    expect(isSmsOtpError(null)).toBe(false);
  });
});
