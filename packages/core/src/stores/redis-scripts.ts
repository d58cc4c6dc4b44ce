/**
 * The Lua scripts behind RedisStore. Each touches one key, so it runs on one Redis Cluster slot.
 *
 * A phone's hash (`{prefix}{+8613800138000}`) holds one field per purpose (the code's secret, its send's
 * binding, expiry, wrong attempts and resend cooldown) and the field `#w` (the phone's hour and day send windows and, while there are
 * any, its failures; formats next to `code_of` and `win_of` below). Times come from the engine's
 * clock in whole seconds (passed in as ms, so every app instance and the memory store agree on the rules) and
 * are stored as base-36 seconds: a pending code's hash stays in Redis's 80-byte listpack size class. Redis
 * TTLs only clean up, they never decide. A verification token's record is a key of its own under the phone's
 * hash tag (`{prefix}{+8613800138000}:t:<jti>`), so the verify that makes it writes it in the same script.
 */

import { DAY_MS, HOUR_MS } from '../time.js';

const HELPERS = `
local HOUR, DAY = ${HOUR_MS}, ${DAY_MS}
-- The phone's windows field: '#' is in no purpose name ([a-z0-9_-]), so no purpose takes its place.
local W = '#w'
local D36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function n(x) return string.format('%.0f', x) end
-- a time in ms (whole seconds) <-> base-36 seconds
local function t36(ms)
  local x = math.floor(ms / 1000)
  if x <= 0 then return '0' end
  local out = ''
  while x > 0 do
    local r = x % 36
    out = string.sub(D36, r + 1, r + 1) .. out
    x = (x - r) / 36
  end
  return out
end
local function f36(s) return tonumber(s, 36) * 1000 end
-- signed: a difference of two times
local function s36(ms) if ms < 0 then return '-' .. t36(-ms) end return t36(ms) end
local function g36(s) if string.sub(s, 1, 1) == '-' then return -f36(string.sub(s, 2)) end return f36(s) end
-- A code: 'secret|binding|expiresAt|attempts|cooldownUntil - expiresAt' (the binding is base64url or '').
-- Returns secret, binding, expiresAt, attempts, cooldownUntil. A code of an older release (no binding)
-- reads as bound to nothing.
local function code_of(v)
  if not v then return '', '', 0, 0, 0 end
  local s, b, e, a, c = string.match(v, '^(.*)|([%w_%-]*)|(%w+)|(%d+)|(%-?%w+)$')
  if not s then
    s, e, a, c = string.match(v, '^(.*)|(%w+)|(%d+)|(%-?%w+)$')
    b = ''
  end
  e = f36(e)
  return s, b, e, tonumber(a), e + g36(c)
end
local function code(s, b, e, a, c) return s .. '|' .. b .. '|' .. t36(e) .. '|' .. a .. '|' .. s36(c - e) end
-- Where the phone stands against its failure ceilings: 'locked' (hard limit), 'captcha' (soft limit, not
-- solved) or nil.
local function failures(fs, fc, now, failWin, failLimit, hardLimit, solved)
  if now >= fs + failWin then return nil end
  if fc >= hardLimit then return 'locked' end
  if fc >= failLimit and not solved then return 'captcha' end
  return nil
end
-- A fixed window 'start|count' (the per-IP failed-verify window, the shared send windows).
local function bucket_of(v)
  if not v then return 0, 0 end
  local a, b = string.match(v, '^(%d+)|(%d+)$')
  return tonumber(a), tonumber(b)
end
-- The windows: 'dayStart|dayCount|hourStart - dayStart|hourCount', then '|failStart|failCount' only while
-- there are failures (most pending codes have none).
local function win_of(v)
  if not v then return 0, 0, 0, 0, 0, 0 end
  local ds, dc, ho, hc, rest = string.match(v, '^(%w+)|(%d+)|(%-?%w+)|(%d+)(.*)$')
  ds = f36(ds)
  local fs, fc = string.match(rest, '^|(%w+)|(%d+)$')
  if not fs then return ds + g36(ho), tonumber(hc), ds, tonumber(dc), 0, 0 end
  return ds + g36(ho), tonumber(hc), ds, tonumber(dc), f36(fs), tonumber(fc)
end
local function win(hs, hc, ds, dc, fs, fc)
  local out = t36(ds) .. '|' .. dc .. '|' .. s36(hs - ds) .. '|' .. hc
  if fc > 0 then out = out .. '|' .. t36(fs) .. '|' .. fc end
  return out
end
local function keep(key, ms)
  local cur = redis.call('PTTL', key)
  if cur >= 0 and cur >= ms then return end
  if ms > 0 then redis.call('PEXPIRE', key, n(ms)) end
end
local function same(a, b)
  if #a ~= #b then return false end
  local d = 0
  for i = 1, #a do d = bit.bor(d, bit.bxor(string.byte(a, i), string.byte(b, i))) end
  return d == 0
end
`;

/**
 * KEYS[1] phone hash. ARGV: purpose, now, secret, ttlMs, cooldownsMs (comma-separated, by send of the hour),
 * hourLimit, dayLimit, failLimit, failWindowMs, captchaAfter (-1: none), captchaSolved ('1'/'0'),
 * distinctSecret ('1': the same call run again is told by its secret and answered as the first run was),
 * binding, hardFailLimit, captchaPastLimits ('1'/'0').
 * Returns {'ok', undo, cooldownMs} or {reason, retryAfterMs}.
 */
const ISSUE_FN = `
-- Whether ISSUE's call A finds its own code already stored (s, e): the same call run again (ioredis re-sends
-- a command whose reply a dropped connection lost), told by the code's distinct secret and the expiry it set.
local function rerun(s, e, A)
  return A[12] == '1' and s == A[3] and e == tonumber(A[2]) + tonumber(A[4])
end
local function issue(KEYS, ARGV)
local key, purpose = KEYS[1], ARGV[1]
local now, secret = tonumber(ARGV[2]), ARGV[3]
local ttl = tonumber(ARGV[4])
local hourLimit, dayLimit = tonumber(ARGV[6]), tonumber(ARGV[7])
local failLimit, failWin = tonumber(ARGV[8]), tonumber(ARGV[9])
local captchaAfter, solved = tonumber(ARGV[10]), ARGV[11] == '1'
local binding, hardLimit, past = ARGV[13], tonumber(ARGV[14]), ARGV[15] == '1'
local v = redis.call('HMGET', key, purpose, W)
local s, b, e, a, c = code_of(v[1])
local hs, hc, ds, dc, fs, fc = win_of(v[2])
-- The same call run again: answered as the first run was; nothing is counted twice.
if rerun(s, e, ARGV) then return {'ok', n(hs) .. '#' .. n(ds) .. '#', n(c - now)} end
local cooldowns = {}
for x in string.gmatch(ARGV[5], '%d+') do cooldowns[#cooldowns + 1] = tonumber(x) end
if now < c then return {'cooldown', n(c - now), n(cooldowns[math.min(math.max(hc, 1), #cooldowns)])} end
local f = failures(fs, fc, now, failWin, failLimit, hardLimit, solved)
if f == 'locked' then return {'locked', n(fs + failWin - now)} end
if f == 'captcha' then return {'captcha', '0'} end
if now >= hs + HOUR then hs = now; hc = 0 end
if now >= ds + DAY then ds = now; dc = 0 end
-- A full window asks for a captcha (captchaPastLimits) until it holds twice its limit.
if hc >= hourLimit then
  if not past or hc >= 2 * hourLimit then return {'phone_hour', n(hs + HOUR - now)} end
  if not solved then return {'captcha', '0'} end
end
if dc >= dayLimit then
  if not past or dc >= 2 * dayLimit then return {'phone_day', n(ds + DAY - now)} end
  if not solved then return {'captcha', '0'} end
end
if captchaAfter >= 0 and hc >= captchaAfter and not solved then return {'captcha', '0'} end
local cooldown = cooldowns[math.min(hc + 1, #cooldowns)]
redis.call('HSET', key, purpose, code(secret, binding, now + ttl, 0, now + cooldown), W, win(hs, hc + 1, ds, dc + 1, fs, fc))
local until_ = math.max(now + ttl, now + cooldown, ds + DAY, hs + HOUR)
if fc > 0 then until_ = math.max(until_, fs + failWin) end
keep(key, until_ - now)
return {'ok', n(hs) .. '#' .. n(ds) .. '#' .. (v[1] or ''), n(cooldown)}
end
`;

export const ISSUE = `${HELPERS}${ISSUE_FN}return issue(KEYS, ARGV)
`;

/** KEYS[1] phone hash. ARGV: purpose, secret, undo, '1' to keep the hour and day counts. */
export const ROLLBACK = `${HELPERS}
local key, purpose, secret = KEYS[1], ARGV[1], ARGV[2]
local hs0, ds0, prev = string.match(ARGV[3], '^(%d+)#(%d+)#(.*)$')
local v = redis.call('HMGET', key, purpose, W)
if v[1] then
  local s = code_of(v[1])
  if s == secret then
    if prev == '' then redis.call('HDEL', key, purpose) else redis.call('HSET', key, purpose, prev) end
  end
end
if v[2] and ARGV[4] ~= '1' then
  local hs, hc, ds, dc, fs, fc = win_of(v[2])
  if hs == tonumber(hs0) and hc > 0 then hc = hc - 1 end
  if ds == tonumber(ds0) and dc > 0 then dc = dc - 1 end
  redis.call('HSET', key, W, win(hs, hc, ds, dc, fs, fc))
end
return 1
`;

/**
 * KEYS: the phone hash, the token record's key, and (standalone Redis only) the client's failed-verify
 * window. ARGV: purpose, now, candidate, maxAttempts, failLimit, failWindowMs, mode, call id, binding,
 * hardFailLimit, captchaSolved ('1'/'0'), token ttl ms, then with a window key its limit and windowMs.
 * mode 'v' compares the candidate; mode 'r' reserves an attempt for a vendor check. A right code is
 * consumed as 'v:<call id>' (expired for every other call), so that the same call run again (ioredis re-sends
 * a command whose reply a dropped connection lost) answers 'ok' again rather than 'expired'.
 * Returns {'ok'} | {'invalid', left} | {'reserved', ref, left} | {'expired'} | {'mismatch'} | {'dead', ms}
 * | {'locked', ms} | {'captcha'} | {'ip_limit', ms}.
 */
export const VERIFY = `${HELPERS}
local key, purpose = KEYS[1], ARGV[1]
local now, candidate = tonumber(ARGV[2]), ARGV[3]
local maxAttempts, failLimit, failWin = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local mode, consumed = ARGV[7], 'v:' .. ARGV[8]
local binding, hardLimit, solved = ARGV[9], tonumber(ARGV[10]), ARGV[11] == '1'
local ipKey, ipStart, ipCount, ipWin = KEYS[3]
if ipKey then
  ipWin = tonumber(ARGV[14])
  ipStart, ipCount = bucket_of(redis.call('GET', ipKey))
  if now >= ipStart + ipWin then ipStart = now; ipCount = 0 end
  if ipCount >= tonumber(ARGV[13]) then return {'ip_limit', n(ipStart + ipWin - now)} end
end
local function check()
  local v = redis.call('HMGET', key, purpose, W)
  local s, b, e, a, c = code_of(v[1])
  if mode == 'v' and s == consumed then return {'ok'} end
  local hs, hc, ds, dc, fs, fc = win_of(v[2])
  local f = failures(fs, fc, now, failWin, failLimit, hardLimit, solved)
  if f == 'locked' then return {'locked', n(fs + failWin - now)} end
  if f == 'captcha' then return {'captcha'} end
  -- A binding that is not the live code's (none pending counts as '') costs nothing and tells nothing.
  if not same(b, binding) then return {'mismatch'} end
  if s == '' or now >= e then return {'expired'} end
  if a >= maxAttempts then return {'dead', n(math.max(0, c - now))} end
  if mode == 'v' and same(s, candidate) then
    redis.call('HSET', key, purpose, code(consumed, b, 0, 0, c))
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[12])
    return {'ok'}
  end
  a = a + 1
  if fc == 0 or now >= fs + failWin then fs = now; fc = 0 end
  fc = fc + 1
  redis.call('HSET', key, purpose, code(s, b, e, a, c), W, win(hs, hc, ds, dc, fs, fc))
  keep(key, fs + failWin - now)
  local left = math.max(0, math.min(maxAttempts - a, hardLimit - fc))
  if mode == 'r' then return {'reserved', s, left} end
  return {'invalid', left}
end
local r = check()
-- Every answer but a success (and a reservation, which settle counts) is a failed verify of the client.
if ipKey and r[1] ~= 'ok' and r[1] ~= 'reserved' then
  redis.call('SET', ipKey, n(ipStart) .. '|' .. (ipCount + 1), 'PX', n(ipStart + ipWin - now))
end
return r
`;

/**
 * KEYS[1] a fixed window 'start|count'. ARGV: now, windowMs. Counts one in it (a window starts at the first).
 * RedisStore counts a client's failed verify with it where the window cannot share the verify's script
 * (Redis Cluster: another slot).
 */
export const BUMP = `${HELPERS}
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local st, c = bucket_of(redis.call('GET', KEYS[1]))
if now >= st + window then st = now; c = 0 end
redis.call('SET', KEYS[1], n(st) .. '|' .. (c + 1), 'PX', n(st + window - now))
return c + 1
`;

/** KEYS[1] phone hash. ARGV: purpose, from, to. Swaps a placeholder secret for a vendor reference. */
export const REKEY = `${HELPERS}
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local s, b, e, a, c = code_of(v)
if s ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], code(ARGV[3], b, e, a, c))
return 1
`;

/**
 * KEYS: the phone hash, the token record's key, and (standalone Redis only) the client's failed-verify
 * window. ARGV: purpose, now, ref, ok ('1' or '0'), call id, token ttl ms, then with a window key its
 * windowMs. Returns 'ok' or 'expired'. A settled code is marked 'v:<call id>', so that the same call run
 * again (an ioredis re-send) answers 'ok' again and every other call 'expired'.
 */
export const SETTLE = `${HELPERS}
local key, purpose = KEYS[1], ARGV[1]
local now, ref = tonumber(ARGV[2]), ARGV[3]
local consumed = 'v:' .. ARGV[5]
local v = redis.call('HMGET', key, purpose, W)
local s, b, e, a, c = code_of(v[1])
if ARGV[4] == '1' and s == consumed then return 'ok' end
if s == '' or s ~= ref or now >= e then return 'expired' end
if ARGV[4] == '1' then
  -- The reservation counted this attempt as a failure; the vendor found the code right.
  local hs, hc, ds, dc, fs, fc = win_of(v[2])
  redis.call('HSET', key, purpose, code(consumed, b, 0, 0, c), W, win(hs, hc, ds, dc, fs, math.max(0, fc - 1)))
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[6])
elseif KEYS[3] then
  local window = tonumber(ARGV[7])
  local st, n1 = bucket_of(redis.call('GET', KEYS[3]))
  if now >= st + window then st = now; n1 = 0 end
  redis.call('SET', KEYS[3], n(st) .. '|' .. (n1 + 1), 'PX', n(st + window - now))
end
return 'ok'
`;

const WINDOWS = `
local function n(x) return string.format('%.0f', x) end
local function bucket_of(v)
  if not v then return 0, 0 end
  local a, b = string.match(v, '^(%d+)|(%d+)$')
  return tonumber(a), tonumber(b)
end
-- A breaker: 'start|sends|verifies|prevSends|prevVerifies|openUntil|open|subnets|prevSubnets', the subnets
-- comma-joined ('-' for none). Returns a table.
local function breaker_of(v, now)
  local b = {st = now, s = 0, ve = 0, ps = 0, pv = 0, ou = 0, op = 0, sub = '', psub = ''}
  if not v then return b end
  local t = {}
  for x in string.gmatch(v, '[^|]+') do t[#t + 1] = x end
  b.st, b.s, b.ve, b.ps, b.pv = tonumber(t[1]), tonumber(t[2]), tonumber(t[3]), tonumber(t[4]), tonumber(t[5])
  b.ou, b.op = tonumber(t[6]), tonumber(t[7])
  if t[8] and t[8] ~= '-' then b.sub = t[8] end
  if t[9] and t[9] ~= '-' then b.psub = t[9] end
  return b
end
-- Forgets a breaker past its keeping time, then moves its halves forward to now.
local function roll(b, now, half)
  if now >= math.max(b.st + 2 * half, b.ou + (b.op == 1 and 2 * half or 0)) then
    b.st, b.s, b.ve, b.ps, b.pv, b.ou, b.op, b.sub, b.psub = now, 0, 0, 0, 0, 0, 0, '', ''
  elseif now >= b.st + 2 * half then
    b.st, b.s, b.ve, b.ps, b.pv, b.sub, b.psub = now, 0, 0, 0, 0, '', ''
  elseif now >= b.st + half then
    b.st, b.ps, b.pv, b.psub, b.s, b.ve, b.sub = b.st + half, b.s, b.ve, b.sub, 0, 0, ''
  end
end
-- Kept until max(start + window, open ? openUntil + window : openUntil) (stores/types.ts, admit).
local function put_breaker(key, b, half, now)
  local ttl = math.max(b.st + 2 * half, b.ou + (b.op == 1 and 2 * half or 0)) - now
  local sub, psub = b.sub, b.psub
  if sub == '' then sub = '-' end
  if psub == '' then psub = '-' end
  redis.call('SET', key, table.concat({n(b.st), b.s, b.ve, b.ps, b.pv, n(b.ou), b.op, sub, psub}, '|'), 'PX', n(math.max(1, ttl)))
end
-- Distinct subnets over both halves.
local function subnets(b)
  local seen, count = {}, 0
  for _, list in ipairs({b.sub, b.psub}) do
    for x in string.gmatch(list, '[^,]+') do
      if not seen[x] then seen[x] = true; count = count + 1 end
    end
  end
  return count
end
-- Adds a subnet to the current half's list, keeping at most max distinct ones.
local function add_subnet(b, subnet, max)
  if subnet == '' then return end
  local count = 0
  for x in string.gmatch(b.sub, '[^,]+') do
    if x == subnet then return end
    count = count + 1
  end
  if count >= max then return end
  if b.sub == '' then b.sub = subnet else b.sub = b.sub .. ',' .. subnet end
end
-- Adds verify counts to K[first..last]; their (windowMs, count) pairs start at A[at]. K and A are passed in
-- (not the globals) so that a script combining several steps can hand each its own slice.
local function convert(K, A, first, last, at, now)
  for j = first, last do
    local half, count = tonumber(A[at]) / 2, tonumber(A[at + 1])
    at = at + 2
    local b = breaker_of(redis.call('GET', K[j]), now)
    roll(b, now, half)
    b.ve = b.ve + count
    put_breaker(K[j], b, half, now)
  end
  return at
end
`;

/**
 * KEYS: the bucket keys, the breaker keys, then the keys of buffered conversions (all under one hash tag,
 * so one Cluster slot). ARGV: now, captchaSolved, bucket count, conversion count, subnet ('' none), then
 * (limit, windowMs, captchaAfter or -1) per bucket, (windowMs, minVolume, threshold, coolOffMs, block,
 * minSubnets) per breaker, and (windowMs, count) per conversion. Conversions are counted first.
 * Returns {status, keyIndex, retryAfterMs, transition…}; a transition is 'keyIndex|open|sent|verified'.
 */
const ADMIT_FN = `
local function admit(KEYS, ARGV)
local now, solved, nb, nc = tonumber(ARGV[1]), ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4])
local subnet = ARGV[5]
local nk = #KEYS - nc
convert(KEYS, ARGV, nk + 1, #KEYS, 6 + nb * 3 + (nk - nb) * 6, now)
local a, buckets, trans = 6, {}, {}
for i = 1, nb do
  local st, c = bucket_of(redis.call('GET', KEYS[i]))
  local limit, window, after = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  if now >= st + window then st = now; c = 0 end
  if c >= limit then return {'limit', i, n(st + window - now)} end
  buckets[i] = {st, c, window, after}
end
local refusal
local breakers = {}
for j = nb + 1, nk do
  local window, minv, thr, cool, block, mins = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), ARGV[a + 4] == '1', tonumber(ARGV[a + 5])
  a = a + 6
  local half = window / 2
  local b = breaker_of(redis.call('GET', KEYS[j]), now)
  roll(b, now, half)
  -- The previous half counts whole: a weight fading with time let a burst timed at a half's end go uncounted.
  local sent, ver = b.ps + b.s, b.pv + b.ve
  if now >= b.ou then
    if sent >= minv and subnets(b) >= mins and ver < thr * sent then
      b.ou = now + cool
      if b.op == 0 then b.op = 1; trans[#trans + 1] = j .. '|open|' .. math.floor(sent + 0.5) .. '|' .. math.floor(ver + 0.5) end
    elseif b.op == 1 then
      b.op = 0; trans[#trans + 1] = j .. '|closed|' .. math.floor(sent + 0.5) .. '|' .. math.floor(ver + 0.5)
    end
  end
  if not refusal and now < b.ou and (block or not solved) then
    refusal = {block and 'blocked' or 'captcha', j, n(b.ou - now)}
  end
  breakers[j] = {b = b, half = half, mins = mins}
end
local function reply(status, i, ms)
  local out = {status, i, ms}
  for _, t in ipairs(trans) do out[#out + 1] = t end
  return out
end
local function save_breakers(admitted)
  for j = nb + 1, nk do
    local x = breakers[j]
    if admitted then
      x.b.s = x.b.s + 1
      add_subnet(x.b, subnet, x.mins)
    end
    put_breaker(KEYS[j], x.b, x.half, now)
  end
end
if refusal then save_breakers(false); return reply(refusal[1], refusal[2], refusal[3]) end
for i = 1, nb do
  local b = buckets[i]
  if b[4] >= 0 and b[2] >= b[4] and not solved then save_breakers(false); return reply('captcha', i, '0') end
end
for i = 1, nb do
  local b = buckets[i]
  redis.call('SET', KEYS[i], n(b[1]) .. '|' .. (b[2] + 1), 'PX', n(b[1] + b[3] - now))
end
save_breakers(true)
return reply('ok', 0, '0')
end
`;

export const ADMIT = `${WINDOWS}${ADMIT_FN}return admit(KEYS, ARGV)
`;

/** KEYS: bucket keys then breaker keys. Uncounts one admitted send, keeping TTLs. */
const RELEASE_FN = `
local function release(KEYS)
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local t = {}
    for x in string.gmatch(v, '[^|]+') do t[#t + 1] = x end
    -- buckets are 'start|count', breakers 'start|sends|…': the count of sends is the 2nd field of both.
    if tonumber(t[2]) > 0 then
      t[2] = tostring(tonumber(t[2]) - 1)
      redis.call('SET', KEYS[i], table.concat(t, '|'), 'KEEPTTL')
    end
  end
end
return 1
end
`;

export const RELEASE = `${WINDOWS}${RELEASE_FN}return release(KEYS)
`;

/** KEYS: breaker keys. ARGV: now, then (windowMs, count) per breaker. Counts successful verifies. */
export const CONVERT = `${WINDOWS}
local now = tonumber(ARGV[1])
convert(KEYS, ARGV, 1, #KEYS, 2, now)
return 1
`;

/**
 * On a standalone Redis (one slot space), a send's admission and the phone's issue in one round trip.
 * KEYS: the phone hash, then ADMIT's keys. ARGV: the number of ISSUE's arguments, ISSUE's arguments, then
 * ADMIT's. When the issue is refused, the admission is released in the same step (conversions stay counted).
 * Returns {'admit', admitReply} when admission refused, else {'ok' | 'issue', issueReply, admitReply}.
 */
export const ADMIT_ISSUE = `${HELPERS}${WINDOWS}${ISSUE_FN}${ADMIT_FN}${RELEASE_FN}
local ni = tonumber(ARGV[1])
local ia, aa, ak = {}, {}, {}
for i = 1, ni do ia[i] = ARGV[1 + i] end
for i = ni + 2, #ARGV do aa[#aa + 1] = ARGV[i] end
for i = 2, #KEYS do ak[#ak + 1] = KEYS[i] end
-- The same call run again: its issue answers as the first run did, and nothing is admitted twice.
local s0, b0, e0 = code_of(redis.call('HGET', KEYS[1], ia[1]))
if rerun(s0, e0, ia) then return {'ok', issue({KEYS[1]}, ia), {'ok', 0, '0'}} end
local a = admit(ak, aa)
if a[1] ~= 'ok' then return {'admit', a} end
local r = issue({KEYS[1]}, ia)
if r[1] ~= 'ok' then
  -- ADMIT's ARGV[4] is the number of conversion keys, which come last: those stay counted.
  local counted = {}
  for i = 1, #ak - tonumber(aa[4]) do counted[i] = ak[i] end
  release(counted)
  return {'issue', r, a}
end
return {'ok', r, a}
`;
