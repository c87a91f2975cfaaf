-- apply-events: the features update for one consumed batch, atomic and idempotent per event.
-- Keys are passed once each (a user's keys appear once however many events name them); events
-- refer to them by index into KEYS.
-- KEYS[1]            ns:pop (decayed popularity zset)
-- KEYS[1+i]          ns:ap:<eventId> applied-marker of event i (i = 1..n)
-- KEYS[j..]          the other keys, each once, at the indexes the events name:
--   user keys as 3 consecutive keys ns:u:<user>:hist, :seen, :rl (recent items zset, seen
--   items, refresh rate limit); ns:is:<itemId> (item stats) and ns:rec:<recId> (the
--   recommendation a reward answers)
-- ARGV[1] history cap   ARGV[2] applied-marker TTL ms   ARGV[3] attribution window ms
-- ARGV[4] refresh interval ms   ARGV[5] n (events)
-- ARGV[6]  the events as one JSON array (cjson decodes it in C, far cheaper than one argument
--   per field), 8 values per event i (0-based) from e = 8*i:
--   [e+1] KEYS index of the user's hist key (seen, rl follow it)
--   [e+2] KEYS index of the item stats key, [e+3] of the rec key (both 0 unless flag 2)
--   [e+4] history member "<itemId>|<type>|<eventId>"   [e+5] itemId
--   [e+6] ts (integer ms)   [e+7] log popularity weight
--   [e+8] flags: 1 mark seen, 2 reward with recId, 4 refresh candidate
-- Returns {applied, replayed, attributed, {indexes (0-based) of events whose refresh request is due}}
-- An event whose applied-marker exists changes nothing (a replay after a crash or rebalance).
-- Markers, attribution and refresh limits are decided event by event, in order. The commutative
-- parts (history adds, seen items, popularity) are aggregated in Lua tables and written with one
-- variadic call per key at the end, so most of a batch's cost is one SET per event plus a few
-- calls per distinct user.
local cap = tonumber(ARGV[1])
local appliedTtl = ARGV[2]
local window = tonumber(ARGV[3])
local refreshMs = ARGV[4]
local n = tonumber(ARGV[5])
local applied, replayed, attributed = 0, 0, 0
local refresh = {}
local pop = KEYS[1]
-- per user (by hist key index): {hist = {score, member, ...}, seen = {item, ...}}
local users, userOrder = {}, {}
local popAdd, popItems = {}, {}

-- unpack() is bounded by the Lua C stack: variadic calls go out in chunks.
local CHUNK = 2000
local function variadic(cmd, key, list)
  for s = 1, #list, CHUNK do
    redis.call(cmd, key, unpack(list, s, math.min(s + CHUNK - 1, #list)))
  end
end

local function logsumexp(x, y)
  local hi, lo = x, y
  if y > x then hi, lo = y, x end
  return hi + math.log(1 + math.exp(lo - hi))
end

local ev = cjson.decode(ARGV[6])
for i = 0, n - 1 do
  local a = 8 * i
  if redis.call('SET', KEYS[2 + i], '1', 'NX', 'PX', appliedTtl) then
    applied = applied + 1
    local uidx = ev[a + 1]
    local item = ev[a + 5]
    local ts = ev[a + 6]
    local flags = ev[a + 8]
    local u = users[uidx]
    if not u then
      u = { hist = {}, seen = {} }
      users[uidx] = u
      userOrder[#userOrder + 1] = uidx
    end
    local h = u.hist
    h[#h + 1] = ts
    h[#h + 1] = ev[a + 4]
    if flags % 2 == 1 then u.seen[#u.seen + 1] = item end
    local w = ev[a + 7]
    local cur = popAdd[item]
    if cur then
      popAdd[item] = logsumexp(cur, w)
    else
      popAdd[item] = w
      popItems[#popItems + 1] = item
    end
    if math.floor(flags / 2) % 2 == 1 then
      local rec = KEYS[ev[a + 3]]
      local served = redis.call('HGET', rec, 'servedAt')
      if served then
        served = tonumber(served)
        if ts >= served and ts - served <= window and redis.call('HEXISTS', rec, 'i:' .. item) == 1
          and redis.call('HSETNX', rec, 'c:' .. item, '1') == 1 then
          local policy = redis.call('HGET', rec, 'policy')
          local stats = KEYS[ev[a + 2]]
          redis.call('HINCRBY', stats, 'clk', 1)
          redis.call('HINCRBY', stats, 'clk:' .. policy, 1)
          attributed = attributed + 1
        end
      end
    end
    if math.floor(flags / 4) % 2 == 1 then
      if redis.call('SET', KEYS[uidx + 2], '1', 'NX', 'PX', refreshMs) then refresh[#refresh + 1] = i end
    end
  else
    replayed = replayed + 1
  end
end

for _, uidx in ipairs(userOrder) do
  local u = users[uidx]
  local hist = KEYS[uidx]
  variadic('ZADD', hist, u.hist)
  -- Keep the top `cap` entries by (ts, member): the same set whatever the order of additions.
  redis.call('ZREMRANGEBYRANK', hist, 0, -(cap + 1))
  if #u.seen > 0 then variadic('SADD', KEYS[uidx + 1], u.seen) end
end

-- log-sum-exp keeps the decayed sum order-independent and free of overflow
for s = 1, #popItems, CHUNK do
  local e = math.min(s + CHUNK - 1, #popItems)
  local current = redis.call('ZMSCORE', pop, unpack(popItems, s, e))
  local pairs_ = {}
  for t = s, e do
    local item = popItems[t]
    local w = popAdd[item]
    local cur = current[t - s + 1]
    if cur then w = logsumexp(tonumber(cur), w) end
    pairs_[#pairs_ + 1] = w
    pairs_[#pairs_ + 1] = item
  end
  redis.call('ZADD', pop, unpack(pairs_))
end

return {applied, replayed, attributed, refresh}
