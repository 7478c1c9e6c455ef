package trunkcount

import "github.com/redis/go-redis/v9"

// The Redis layout, under the prefix P = "palio:{<cluster>}:" (one hash
// slot, so that the scripts work on a Redis Cluster too):
//
//	P nodes               sorted set: node -> when it expires (ms, Redis's clock)
//	P alarms              hash: trunk key -> 1 while the trunk's alarm is raised
//	P trunk:gateway:<id>  hash: u:<node> used, c:<node> calls, s:<node> stamp
//	P trunk:carrier:<id>
//
// Stamps are passed and stored as the strings Go formats: Lua's numbers
// are doubles and would print a 16-digit stamp in exponent form.

// reserveScript admits a call when every trunk has room.
//
// KEYS[1] nodes, KEYS[2..] trunks. ARGV[1] node, ARGV[2] stamp, ARGV[3]
// expiry in ms, then per trunk: channels, used, calls. Returns {-1, 0}
// after recording the node's counts, or {index, used} of the first full
// trunk (0-based), recording nothing but the removal of dead nodes.
var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, seq = ARGV[1], tonumber(ARGV[2])
local alive = {}
local function live(n)
  local a = alive[n]
  if a == nil then
    local s = redis.call('ZSCORE', KEYS[1], n)
    a = s ~= false and s ~= nil and tonumber(s) > now
    alive[n] = a
  end
  return a
end
local newer = {}
for i = 2, #KEYS do
  local j = 4 + (i - 2) * 3
  local ch, used = tonumber(ARGV[j]), tonumber(ARGV[j + 1])
  local f = redis.call('HGETALL', KEYS[i])
  local others, mu, ms = 0, nil, nil
  for k = 1, #f, 2 do
    local kind, n = string.sub(f[k], 1, 1), string.sub(f[k], 3)
    if n == me then
      if kind == 'u' then mu = tonumber(f[k + 1]) elseif kind == 's' then ms = tonumber(f[k + 1]) end
    elseif kind == 'u' then
      if live(n) then
        others = others + tonumber(f[k + 1])
      else
        redis.call('HDEL', KEYS[i], 'u:' .. n, 'c:' .. n, 's:' .. n)
      end
    end
  end
  local mine = used
  newer[i] = true
  if mu ~= nil and ms ~= nil and ms >= seq then
    mine = mu
    newer[i] = false
  end
  if ch > 0 and others + mine > ch then
    return {i - 2, others + mine - 1}
  end
end
for i = 2, #KEYS do
  if newer[i] then
    local j = 4 + (i - 2) * 3
    redis.call('HSET', KEYS[i], 'u:' .. me, ARGV[j + 1], 'c:' .. me, ARGV[j + 2], 's:' .. me, ARGV[2])
  end
end
redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[3]), me)
return {-1, 0}
`)

// reportScript records a node's counts, keeps it alive and returns the
// totals, raising and clearing the cluster's alarms.
//
// KEYS[1] nodes, KEYS[2] alarms, KEYS[3..] trunks. ARGV[1] node, ARGV[2]
// stamp, ARGV[3] expiry in ms, ARGV[4] how long a trunk's hash outlives
// its last report (ms), then per trunk: channels, alarm at, used, calls.
// Returns per trunk {used, calls, alarm, changed}.
var reportScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, seq = ARGV[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), me)
local alive = {}
local function live(n)
  local a = alive[n]
  if a == nil then
    a = redis.call('ZSCORE', KEYS[1], n) ~= false
    alive[n] = a
  end
  return a
end
local out = {}
for i = 3, #KEYS do
  local j = 5 + (i - 3) * 4
  local at, used, calls = tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
  local f = redis.call('HGETALL', KEYS[i])
  local ou, oc, mu, mc, ms = 0, 0, nil, nil, nil
  local dead = {}
  for k = 1, #f, 2 do
    local kind, n = string.sub(f[k], 1, 1), string.sub(f[k], 3)
    local v = tonumber(f[k + 1])
    if n == me then
      if kind == 'u' then mu = v elseif kind == 'c' then mc = v elseif kind == 's' then ms = v end
    elseif live(n) then
      if kind == 'u' then ou = ou + v elseif kind == 'c' then oc = oc + v end
    elseif kind == 'u' then
      redis.call('HDEL', KEYS[i], 'u:' .. n, 'c:' .. n, 's:' .. n)
    end
  end
  if mu == nil or mc == nil or ms == nil or ms < seq then
    redis.call('HSET', KEYS[i], 'u:' .. me, ARGV[j + 2], 'c:' .. me, ARGV[j + 3], 's:' .. me, ARGV[2])
    mu, mc = used, calls
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[4])
  local tu, tc = ou + mu, oc + mc
  local al = redis.call('HEXISTS', KEYS[2], KEYS[i]) == 1
  local changed = 0
  if not al and at > 0 and tc >= at then
    redis.call('HSET', KEYS[2], KEYS[i], 1)
    al, changed = true, 1
  elseif al and (at <= 0 or tc < at) then
    redis.call('HDEL', KEYS[2], KEYS[i])
    al, changed = false, 1
  end
  local a = 0
  if al then a = 1 end
  out[#out + 1] = {tu, tc, a, changed}
end
return out
`)
