/**
 * The Lua scripts behind RedisStore. Each touches one key, so it runs on one Redis Cluster slot.
 *
 * A phone's hash (`{prefix}{+8613800138000}`) holds one field per purpose, `secret|expiresAt|attempts|cooldownUntil`,
 * and the field `w`, `hourStart|hourCount|dayStart|dayCount|failStart|failCount`. Times are epoch ms from
 * the engine's clock (passed in, so every app instance and the memory store agree on the rules); Redis TTLs
 * only clean up, they never decide.
 */

const HELPERS = `
local HOUR, DAY = 3600000, 86400000
local function n(x) return string.format('%.0f', x) end
local function code_of(v)
  if not v then return '', 0, 0, 0 end
  local s, e, a, c = string.match(v, '^(.*)|(%d+)|(%d+)|(%d+)$')
  return s, tonumber(e), tonumber(a), tonumber(c)
end
local function win_of(v)
  if not v then return 0, 0, 0, 0, 0, 0 end
  local hs, hc, ds, dc, fs, fc = string.match(v, '^(%d+)|(%d+)|(%d+)|(%d+)|(%d+)|(%d+)$')
  return tonumber(hs), tonumber(hc), tonumber(ds), tonumber(dc), tonumber(fs), tonumber(fc)
end
local function win(hs, hc, ds, dc, fs, fc)
  return n(hs) .. '|' .. hc .. '|' .. n(ds) .. '|' .. dc .. '|' .. n(fs) .. '|' .. fc
end
local function code(s, e, a, c) return s .. '|' .. n(e) .. '|' .. a .. '|' .. n(c) end
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
 * KEYS[1] phone hash. ARGV: purpose, now, secret, ttlMs, cooldownMs, hourLimit, dayLimit, failLimit, failWindowMs.
 * Returns {'ok', undo} or {reason, retryAfterMs}.
 */
export const ISSUE = `${HELPERS}
local key, purpose = KEYS[1], ARGV[1]
local now, secret = tonumber(ARGV[2]), ARGV[3]
local ttl, cooldown = tonumber(ARGV[4]), tonumber(ARGV[5])
local hourLimit, dayLimit = tonumber(ARGV[6]), tonumber(ARGV[7])
local failLimit, failWin = tonumber(ARGV[8]), tonumber(ARGV[9])
local v = redis.call('HMGET', key, purpose, 'w')
local s, e, a, c = code_of(v[1])
local hs, hc, ds, dc, fs, fc = win_of(v[2])
if now < c then return {'cooldown', n(c - now)} end
if fc >= failLimit and now < fs + failWin then return {'locked', n(fs + failWin - now)} end
if now >= hs + HOUR then hs = now; hc = 0 end
if now >= ds + DAY then ds = now; dc = 0 end
if hc >= hourLimit then return {'phone_hour', n(hs + HOUR - now)} end
if dc >= dayLimit then return {'phone_day', n(ds + DAY - now)} end
redis.call('HSET', key, purpose, code(secret, now + ttl, 0, now + cooldown), 'w', win(hs, hc + 1, ds, dc + 1, fs, fc))
local until_ = math.max(now + ttl, now + cooldown, ds + DAY)
if fc > 0 then until_ = math.max(until_, fs + failWin) end
keep(key, until_ - now)
return {'ok', n(hs) .. '#' .. n(ds) .. '#' .. (v[1] or '')}
`;

/** KEYS[1] phone hash. ARGV: purpose, secret, undo. */
export const ROLLBACK = `${HELPERS}
local key, purpose, secret = KEYS[1], ARGV[1], ARGV[2]
local hs0, ds0, prev = string.match(ARGV[3], '^(%d+)#(%d+)#(.*)$')
local v = redis.call('HMGET', key, purpose, 'w')
if v[1] then
  local s = code_of(v[1])
  if s == secret then
    if prev == '' then redis.call('HDEL', key, purpose) else redis.call('HSET', key, purpose, prev) end
  end
end
if v[2] then
  local hs, hc, ds, dc, fs, fc = win_of(v[2])
  if hs == tonumber(hs0) and hc > 0 then hc = hc - 1 end
  if ds == tonumber(ds0) and dc > 0 then dc = dc - 1 end
  redis.call('HSET', key, 'w', win(hs, hc, ds, dc, fs, fc))
end
return 1
`;

/**
 * KEYS[1] phone hash. ARGV: purpose, now, candidate, maxAttempts, failLimit, failWindowMs, mode.
 * mode 'v' compares the candidate; mode 'r' reserves an attempt for a vendor check.
 * Returns {'ok'} | {'invalid', left} | {'reserved', ref, left} | {'expired'} | {'dead'} | {'locked', ms}.
 */
export const VERIFY = `${HELPERS}
local key, purpose = KEYS[1], ARGV[1]
local now, candidate = tonumber(ARGV[2]), ARGV[3]
local maxAttempts, failLimit, failWin = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local mode = ARGV[7]
local v = redis.call('HMGET', key, purpose, 'w')
local hs, hc, ds, dc, fs, fc = win_of(v[2])
if fc >= failLimit and now < fs + failWin then return {'locked', n(fs + failWin - now)} end
local s, e, a, c = code_of(v[1])
if s == '' or now >= e then return {'expired'} end
if a >= maxAttempts then return {'dead', n(math.max(0, c - now))} end
if mode == 'v' and same(s, candidate) then
  redis.call('HSET', key, purpose, code('', 0, 0, c), 'w', win(hs, hc, ds, dc, fs, 0))
  return {'ok'}
end
a = a + 1
if now >= fs + failWin then fs = now; fc = 0 end
fc = fc + 1
redis.call('HSET', key, purpose, code(s, e, a, c), 'w', win(hs, hc, ds, dc, fs, fc))
keep(key, fs + failWin - now)
local left = math.max(0, math.min(maxAttempts - a, failLimit - fc))
if mode == 'r' then return {'reserved', s, left} end
return {'invalid', left}
`;

/** KEYS[1] phone hash. ARGV: purpose, from, to. Swaps a placeholder secret for a vendor reference. */
export const REKEY = `${HELPERS}
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local s, e, a, c = code_of(v)
if s ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], code(ARGV[3], e, a, c))
return 1
`;

/** KEYS[1] phone hash. ARGV: purpose, now, ref, ok ('1' or '0'). Returns 'ok' or 'expired'. */
export const SETTLE = `${HELPERS}
local key, purpose = KEYS[1], ARGV[1]
local now, ref = tonumber(ARGV[2]), ARGV[3]
local v = redis.call('HMGET', key, purpose, 'w')
local s, e, a, c = code_of(v[1])
if s == '' or s ~= ref or now >= e then return 'expired' end
if ARGV[4] == '1' then
  local hs, hc, ds, dc, fs, fc = win_of(v[2])
  redis.call('HSET', key, purpose, code('', 0, 0, c), 'w', win(hs, hc, ds, dc, fs, 0))
end
return 'ok'
`;

/** KEYS[1] bucket. ARGV: now, limit, windowMs. Returns -1 when counted, else ms until the window ends. */
export const HIT = `
local v = redis.call('GET', KEYS[1])
local now, limit, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start, count = 0, 0
if v then
  local a, b = string.match(v, '^(%d+)|(%d+)$')
  start, count = tonumber(a), tonumber(b)
end
if now >= start + window then start = now; count = 0 end
if count >= limit then return start + window - now end
redis.call('SET', KEYS[1], string.format('%.0f', start) .. '|' .. (count + 1), 'PX', string.format('%.0f', start + window - now))
return -1
`;

/** KEYS[1] bucket. Uncounts one hit, keeping the window's TTL. */
export const UNHIT = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local a, b = string.match(v, '^(%d+)|(%d+)$')
if tonumber(b) > 0 then redis.call('SET', KEYS[1], a .. '|' .. (tonumber(b) - 1), 'KEEPTTL') end
return 1
`;
