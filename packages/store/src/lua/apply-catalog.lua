-- apply-catalog: store catalog changes, newest ts per item wins; note each applied one in the change stream.
-- KEYS[1] ns:cat   KEYS[2] ns:cat:ts   KEYS[3] ns:cat:chg
-- ARGV[1] change stream cap (approximate MAXLEN)
-- ARGV[1+3j-2..1+3j] per change j: itemId, ts, stored JSON
-- A change whose ts is not newer than the stored one is skipped (a replay, or a late older change).
-- Returns the number of changes applied
local applied = 0
for j = 2, #ARGV, 3 do
  local item, ts, json = ARGV[j], ARGV[j + 1], ARGV[j + 2]
  local old = redis.call('HGET', KEYS[2], item)
  if (not old) or tonumber(old) < tonumber(ts) then
    redis.call('HSET', KEYS[1], item, json)
    redis.call('HSET', KEYS[2], item, ts)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'item', item)
    applied = applied + 1
  end
end
return applied
