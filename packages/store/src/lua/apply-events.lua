-- apply-events: the features update for one consumed batch, atomic and idempotent per event.
-- Keys are passed once each (a user's or a bucket's keys appear once however many events name
-- them); events refer to them by index into KEYS.
-- KEYS[1]            ns:pop (decayed popularity zset)
-- KEYS[1+i]          ns:ap:<eventId> applied-marker of event i (i = 1..n)
-- KEYS[j..]          the other keys, each once, at the indexes the events name:
--   user keys as 4 consecutive keys ns:u:<user>:hist, :cnt, :seen, :rl (recent items zset,
--   counts by type, seen items, refresh rate limit); ns:ic:h:<bucket> / ns:ic:d:<bucket> (the
--   5-minute / 1-hour buckets of event times); ns:is:<itemId> (item stats) and ns:rec:<recId>
--   (the recommendation a reward answers)
-- ARGV[1] history cap   ARGV[2] applied-marker TTL ms   ARGV[3] attribution window ms
-- ARGV[4] refresh interval ms   ARGV[5] n (events)   ARGV[6] m (count buckets)
-- ARGV[7 .. 6+2m]  per count bucket: KEYS index, expire-at ms (PEXPIREAT)
-- ARGV[7+2m]  the events as one JSON array (cjson decodes it in C, far cheaper than one
--   argument per field), 11 values per event i (0-based) from e = 11*i:
--   [e+1] KEYS index of the user's hist key (cnt, seen, rl follow it)
--   [e+2] KEYS index of the hour bucket   [e+3] KEYS index of the day bucket
--   [e+4] KEYS index of the item stats key, [e+5] of the rec key (both 0 unless flag 2)
--   [e+6] history member "<itemId>|<type>|<eventId>"   [e+7] itemId   [e+8] type
--   [e+9] ts (integer ms)   [e+10] log popularity weight
--   [e+11] flags: 1 mark seen, 2 reward with recId, 4 refresh candidate
-- Returns {applied, replayed, attributed, {indexes (0-based) of events whose refresh request is due}}
-- An event whose applied-marker exists changes nothing (a replay after a crash or rebalance).
-- Markers, attribution and refresh limits are decided event by event, in order. The commutative
-- parts (history adds, seen items, counts, popularity, buckets) are aggregated in Lua tables and
-- written with one variadic call per key at the end, so most of a batch's cost is one SET per
-- event plus a few calls per distinct user.
local cap = tonumber(ARGV[1])
local appliedTtl = ARGV[2]
local window = tonumber(ARGV[3])
local refreshMs = ARGV[4]
local n = tonumber(ARGV[5])
local m = tonumber(ARGV[6])
local applied, replayed, attributed = 0, 0, 0
local refresh = {}
local pop = KEYS[1]
-- per user (by hist key index): {hist = {score, member, ...}, seen = {item, ...}, counts = {type = n}}
local users, userOrder = {}, {}
local popAdd, popItems = {}, {}
-- per bucket key index: {item = count}, and the items in first-seen order
local buckets, bucketItems = {}, {}

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

local function bucketAdd(idx, item)
  local b = buckets[idx]
  local by = b[item]
  if by then
    b[item] = by + 1
  else
    b[item] = 1
    local list = bucketItems[idx]
    list[#list + 1] = item
  end
end

for j = 0, m - 1 do
  local idx = tonumber(ARGV[7 + 2 * j])
  buckets[idx] = {}
  bucketItems[idx] = {}
end

local ev = cjson.decode(ARGV[7 + 2 * m])
for i = 0, n - 1 do
  local a = 11 * i
  if redis.call('SET', KEYS[2 + i], '1', 'NX', 'PX', appliedTtl) then
    applied = applied + 1
    local uidx = ev[a + 1]
    local item = ev[a + 7]
    local etype = ev[a + 8]
    local ts = ev[a + 9]
    local flags = ev[a + 11]
    local u = users[uidx]
    if not u then
      u = { hist = {}, seen = {}, counts = {} }
      users[uidx] = u
      userOrder[#userOrder + 1] = uidx
    end
    local h = u.hist
    h[#h + 1] = ts
    h[#h + 1] = ev[a + 6]
    u.counts[etype] = (u.counts[etype] or 0) + 1
    if flags % 2 == 1 then u.seen[#u.seen + 1] = item end
    local w = ev[a + 10]
    local cur = popAdd[item]
    if cur then
      popAdd[item] = logsumexp(cur, w)
    else
      popAdd[item] = w
      popItems[#popItems + 1] = item
    end
    bucketAdd(ev[a + 2], item)
    bucketAdd(ev[a + 3], item)
    if math.floor(flags / 2) % 2 == 1 then
      local rec = KEYS[ev[a + 5]]
      local served = redis.call('HGET', rec, 'servedAt')
      if served then
        served = tonumber(served)
        if ts >= served and ts - served <= window and redis.call('HEXISTS', rec, 'i:' .. item) == 1
          and redis.call('HSETNX', rec, 'c:' .. item, '1') == 1 then
          local policy = redis.call('HGET', rec, 'policy')
          local stats = KEYS[ev[a + 4]]
          redis.call('HINCRBY', stats, 'clk', 1)
          redis.call('HINCRBY', stats, 'clk:' .. policy, 1)
          attributed = attributed + 1
        end
      end
    end
    if math.floor(flags / 4) % 2 == 1 then
      if redis.call('SET', KEYS[uidx + 3], '1', 'NX', 'PX', refreshMs) then refresh[#refresh + 1] = i end
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
  for etype, by in pairs(u.counts) do redis.call('HINCRBY', KEYS[uidx + 1], etype, by) end
  if #u.seen > 0 then variadic('SADD', KEYS[uidx + 2], u.seen) end
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

for j = 0, m - 1 do
  local idx = tonumber(ARGV[7 + 2 * j])
  local key = KEYS[idx]
  local counts, items = buckets[idx], bucketItems[idx]
  if #items > 0 then
    for s = 1, #items, CHUNK do
      local e = math.min(s + CHUNK - 1, #items)
      local current = redis.call('ZMSCORE', key, unpack(items, s, e))
      local pairs_ = {}
      for t = s, e do
        local item = items[t]
        local cur = current[t - s + 1]
        pairs_[#pairs_ + 1] = (cur and tonumber(cur) or 0) + counts[item]
        pairs_[#pairs_ + 1] = item
      end
      redis.call('ZADD', key, unpack(pairs_))
    end
    redis.call('PEXPIREAT', key, ARGV[8 + 2 * j])
  end
end
return {applied, replayed, attributed, refresh}
