-- attribute-rewards: counts reward events (clicks) against the recommendations they answer, once
-- per (recId, item), when the item was in the slate and the event falls within the window. One
-- call per recommendation shard k (one slot).
-- KEYS[1]   ns:is:{rec.<k>}              item stats of shard k, fields "<itemId>|<stat>"
-- KEYS[1+j] ns:rec:{rec.<k>}:<recId_j>   (j = 1..m)
-- ARGV[1] attribution window ms   ARGV[2j] itemId_j   ARGV[2j+1] event ts_j (ms)
-- The record's c:<item> field is the idempotency marker: a replay or a duplicate counts nothing.
-- Returns the number of clicks attributed.
local window = tonumber(ARGV[1])
local stats = KEYS[1]
local attributed = 0
for j = 1, #KEYS - 1 do
  local rec = KEYS[1 + j]
  local item, ts = ARGV[2 * j], tonumber(ARGV[2 * j + 1])
  local served = tonumber(redis.call('HGET', rec, 'servedAt') or '')
  if served and ts >= served and ts - served <= window and redis.call('HEXISTS', rec, 'i:' .. item) == 1
    and redis.call('HSETNX', rec, 'c:' .. item, '1') == 1 then
    local policy = redis.call('HGET', rec, 'policy')
    redis.call('HINCRBY', stats, item .. '|clk', 1)
    redis.call('HINCRBY', stats, item .. '|clk:' .. policy, 1)
    attributed = attributed + 1
  end
end
return attributed
