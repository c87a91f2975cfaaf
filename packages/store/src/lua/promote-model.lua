-- Atomically makes a model version current, once every item shard has been embedded.
-- KEYS[1] current-version key (string)
-- KEYS[2] promotion history (list, newest first)
-- KEYS[3] the version's shard-done hash (shard -> rows)
-- KEYS[4] the version's meta hash
-- ARGV[1] version
-- ARGV[2] expected number of shards
-- ARGV[3] promotedAt (epoch ms)
-- Returns {1, previous-version-or-""} on success, {0, shards-done} when shards are missing.
local done = redis.call('HLEN', KEYS[3])
if done < tonumber(ARGV[2]) then
  return {0, tostring(done)}
end
local previous = redis.call('GET', KEYS[1]) or ''
if previous == ARGV[1] then
  return {1, previous}
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], 0, 99)
redis.call('HSET', KEYS[4], 'status', 'current', 'promotedAt', ARGV[3])
return {1, previous}
