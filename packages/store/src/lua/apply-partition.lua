-- apply-partition: the part of a features batch that belongs to its events partition — which
-- events are new, replayed or duplicates, and the partition's popularity — in one slot.
-- KEYS[1] ns:ap:{ev.<p>}      zset   event fingerprint -> offset of its first copy
-- KEYS[2] ns:ap:{ev.<p>}:wm   string highest offset applied in this partition
-- KEYS[3] ns:pop:{ev.<p>}     zset   item -> log decayed popularity of this partition
-- ARGV[1] how many fingerprints to keep (the newest by offset)
-- ARGV[2] the events as one JSON array, 4 values per event i (0-based) from e = 4*i:
--   [e+1] fingerprint   [e+2] offset (-1: no position, e.g. a direct call)   [e+3] itemId
--   [e+4] log popularity weight
-- ARGV[3] 1: the partition must have state already (its watermark): the features worker's live
--   path, whose consumer sits past the start of the log. Without a watermark (Redis restarted
--   empty, or the keys were lost) nothing is applied and the reply is {"state_missing"}: the
--   worker rewinds the partition to the start of the log and replays it, in order, so the
--   watermarks grow again from the first event. 0: no such requirement (rebuild, direct calls).
-- Returns one status per event: 0 new (applied now), 1 replay (an offset at or below the
-- watermark that was new when first applied), 2 duplicate (another copy of an event seen before).
-- A replay changes nothing; whether it had been a duplicate is read back from the fingerprint's
-- first offset, so the user scripts that follow get the same events on every pass.
local capacity = tonumber(ARGV[1])
local ev = cjson.decode(ARGV[2])
local stored = redis.call('GET', KEYS[2])
if not stored and ARGV[3] == '1' then return {'state_missing'} end
local wm = tonumber(stored or '-1')
local top = wm
local status = {}
local popAdd, popItems = {}, {}

local function logsumexp(x, y)
  local hi, lo = x, y
  if y > x then hi, lo = y, x end
  return hi + math.log(1 + math.exp(lo - hi))
end

for i = 0, #ev / 4 - 1 do
  local a = 4 * i
  local fp, offset = ev[a + 1], ev[a + 2]
  if offset >= 0 and offset <= wm then
    local first = redis.call('ZSCORE', KEYS[1], fp)
    if first and tonumber(first) ~= offset then status[i + 1] = 2 else status[i + 1] = 1 end
  elseif redis.call('ZADD', KEYS[1], 'NX', math.max(offset, 0), fp) == 0 then
    -- Claimed before by another copy (NX: the first copy's offset stays).
    status[i + 1] = 2
  else
    status[i + 1] = 0
    local item, w = ev[a + 3], ev[a + 4]
    local cur = popAdd[item]
    if cur then
      popAdd[item] = logsumexp(cur, w)
    else
      popAdd[item] = w
      popItems[#popItems + 1] = item
    end
    if offset > top then top = offset end
  end
end

if top > wm then redis.call('SET', KEYS[2], string.format('%d', top)) end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(capacity + 1))

-- log-sum-exp keeps the decayed sum order-independent and free of overflow
local CHUNK = 2000
for s = 1, #popItems, CHUNK do
  local e = math.min(s + CHUNK - 1, #popItems)
  local current = redis.call('ZMSCORE', KEYS[3], unpack(popItems, s, e))
  local pairs_ = {}
  for t = s, e do
    local item = popItems[t]
    local w = popAdd[item]
    local cur = current[t - s + 1]
    if cur then w = logsumexp(tonumber(cur), w) end
    pairs_[#pairs_ + 1] = w
    pairs_[#pairs_ + 1] = item
  end
  redis.call('ZADD', KEYS[3], unpack(pairs_))
end
return status
