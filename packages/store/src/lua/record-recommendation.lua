-- record-recommendation: what the scorer served, for attribution and impressions. Idempotent per recId.
-- KEYS[1]    ns:recm:{rec.<k>}:<recId>   idempotency marker
-- KEYS[2]    ns:rec:{rec.<k>}:<recId>    the record
-- KEYS[3]    ns:is:{rec.<k>}             item stats of shard k, fields "<itemId>|<stat>"
-- ARGV[1] marker TTL ms   ARGV[2] record expire-at ms (servedAt + window + grace)
-- ARGV[3] policy   ARGV[4] servedAt ms   ARGV[5] model version
-- ARGV[3+3j] itemId_j   ARGV[4+3j] expected clicks of slot j   ARGV[5+3j] bandit context x of slot j
--   expected: the model's predicted click probability, summed per item as 'exp' so bandits can
--   learn an item's lift over the model rather than its raw CTR ("" when unknown);
--   x: the user ⊙ item vector as float32 little-endian bytes (encodeBanditContext), kept in the
--   record as 'xb:<item>' for linear-rewards ("" when none)
-- Returns 1 when recorded, 0 when this recId was recorded before
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local policy = ARGV[3]
redis.call('HSET', KEYS[2], 'policy', policy, 'servedAt', ARGV[4], 'mv', ARGV[5])
local stats = KEYS[3]
for j = 1, (#ARGV - 5) / 3 do
  local item = ARGV[3 + 3 * j]
  redis.call('HSET', KEYS[2], 'i:' .. item, j)
  if ARGV[5 + 3 * j] ~= '' then redis.call('HSET', KEYS[2], 'xb:' .. item, ARGV[5 + 3 * j]) end
  redis.call('HINCRBY', stats, item .. '|imp', 1)
  redis.call('HINCRBY', stats, item .. '|imp:' .. policy, 1)
  local expected = ARGV[4 + 3 * j]
  if expected ~= '' then
    redis.call('HINCRBYFLOAT', stats, item .. '|exp', expected)
    redis.call('HINCRBYFLOAT', stats, item .. '|exp:' .. policy, expected)
  end
end
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
return 1
