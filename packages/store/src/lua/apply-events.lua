-- apply-events: the features update for one consumed batch, atomic and idempotent per event.
-- KEYS[1]            ns:pop (decayed popularity zset)
-- per event i (0-based), k = 1 + 9*i:
--   KEYS[k+1] ns:ap:<eventId>        applied-marker
--   KEYS[k+2] ns:u:<user>:hist       recent items zset
--   KEYS[k+3] ns:u:<user>:cnt        counts by type
--   KEYS[k+4] ns:u:<user>:seen       seen items
--   KEYS[k+5] ns:ic:h:<bucket>       5-minute bucket of the event time
--   KEYS[k+6] ns:ic:d:<bucket>       1-hour bucket of the event time
--   KEYS[k+7] ns:is:<itemId>         item stats (clicks)
--   KEYS[k+8] ns:rec:<recId>         the recommendation it answers (any key when flag 2 is unset)
--   KEYS[k+9] ns:u:<user>:rl         refresh rate limit
-- ARGV[1] history cap   ARGV[2] applied-marker TTL ms   ARGV[3] attribution window ms
-- ARGV[4] refresh interval ms
-- per event i, a = 4 + 8*i:
--   ARGV[a+1] history member "<itemId>|<type>|<eventId>"   ARGV[a+2] itemId   ARGV[a+3] type
--   ARGV[a+4] ts   ARGV[a+5] log popularity weight   ARGV[a+6] hour bucket expire-at ms
--   ARGV[a+7] day bucket expire-at ms   ARGV[a+8] flags: 1 mark seen, 2 reward with recId, 4 refresh candidate
-- Returns {applied, replayed, attributed, {indexes (0-based) of events whose refresh request is due}}
-- An event whose applied-marker exists changes nothing (a replay after a crash or rebalance).
-- Commutative parts (counts, popularity, buckets, history trimming) are aggregated in Lua tables
-- and written once per key at the end, so a batch costs about 3 Redis calls per event.
local cap = tonumber(ARGV[1])
local appliedTtl = ARGV[2]
local window = tonumber(ARGV[3])
local refreshMs = ARGV[4]
local n = (#KEYS - 1) / 9
local applied, replayed, attributed = 0, 0, 0
local refresh = {}
local pop = KEYS[1]
local hists, counts, popAdd, buckets = {}, {}, {}, {}

local function logsumexp(x, y)
  local hi, lo = x, y
  if y > x then hi, lo = y, x end
  return hi + math.log(1 + math.exp(lo - hi))
end

local function bucketAdd(key, expireAt, item)
  local b = buckets[key]
  if not b then
    b = { exp = expireAt, items = {} }
    buckets[key] = b
  end
  b.items[item] = (b.items[item] or 0) + 1
end

for i = 0, n - 1 do
  local k = 1 + 9 * i
  local a = 4 + 8 * i
  if redis.call('SET', KEYS[k + 1], '1', 'NX', 'PX', appliedTtl) then
    applied = applied + 1
    local item = ARGV[a + 2]
    local etype = ARGV[a + 3]
    local ts = tonumber(ARGV[a + 4])
    local flags = tonumber(ARGV[a + 8])
    redis.call('ZADD', KEYS[k + 2], ts, ARGV[a + 1])
    hists[KEYS[k + 2]] = true
    local c = counts[KEYS[k + 3]]
    if not c then
      c = {}
      counts[KEYS[k + 3]] = c
    end
    c[etype] = (c[etype] or 0) + 1
    if flags % 2 == 1 then redis.call('SADD', KEYS[k + 4], item) end
    local w = tonumber(ARGV[a + 5])
    local cur = popAdd[item]
    if cur then popAdd[item] = logsumexp(cur, w) else popAdd[item] = w end
    bucketAdd(KEYS[k + 5], ARGV[a + 6], item)
    bucketAdd(KEYS[k + 6], ARGV[a + 7], item)
    if math.floor(flags / 2) % 2 == 1 then
      local rec = KEYS[k + 8]
      local served = redis.call('HGET', rec, 'servedAt')
      if served then
        served = tonumber(served)
        if ts >= served and ts - served <= window and redis.call('HEXISTS', rec, 'i:' .. item) == 1
          and redis.call('HSETNX', rec, 'c:' .. item, '1') == 1 then
          local policy = redis.call('HGET', rec, 'policy')
          redis.call('HINCRBY', KEYS[k + 7], 'clk', 1)
          redis.call('HINCRBY', KEYS[k + 7], 'clk:' .. policy, 1)
          attributed = attributed + 1
        end
      end
    end
    if math.floor(flags / 4) % 2 == 1 then
      if redis.call('SET', KEYS[k + 9], '1', 'NX', 'PX', refreshMs) then refresh[#refresh + 1] = i end
    end
  else
    replayed = replayed + 1
  end
end

-- Keep the top `cap` entries by (ts, member): the same set whatever the order of additions.
for hist in pairs(hists) do redis.call('ZREMRANGEBYRANK', hist, 0, -(cap + 1)) end
for key, c in pairs(counts) do
  for etype, by in pairs(c) do redis.call('HINCRBY', key, etype, by) end
end
-- log-sum-exp keeps the decayed sum order-independent and free of overflow
for item, w in pairs(popAdd) do
  local cur = redis.call('ZSCORE', pop, item)
  if cur then w = logsumexp(tonumber(cur), w) end
  redis.call('ZADD', pop, w, item)
end
for key, b in pairs(buckets) do
  for item, by in pairs(b.items) do redis.call('ZINCRBY', key, by, item) end
  redis.call('PEXPIREAT', key, b.exp)
end
return {applied, replayed, attributed, refresh}
