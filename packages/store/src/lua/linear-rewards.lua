-- linear-rewards: folds attributed clicks into the neural-linear bandit's b = Σ target·x.
-- Impressions already added −p·x (p = the model's click probability) when served; a click adds
-- +x, so each shown item ends with (click − p)·x. Once per (recId, item), within the window.
-- One call per recommendation shard k (one slot).
-- KEYS[1]   ns:lb:{rec.<k>}:<version>:b   the clicks' part of b for shard k
-- KEYS[1+j] ns:rec:{rec.<k>}:<recId_j>    (j = 1..m)
-- ARGV[1] attribution window ms   ARGV[2] model version (records served by another version are skipped)
-- ARGV[2j+1] itemId_j   ARGV[2j+2] click ts_j (ms)
-- Returns the number of clicks folded in.
local folded = 0
local window = tonumber(ARGV[1])
for j = 1, #KEYS - 1 do
  local rec = KEYS[1 + j]
  local item = ARGV[2 * j + 1]
  local ts = tonumber(ARGV[2 * j + 2])
  local served = tonumber(redis.call('HGET', rec, 'servedAt') or '')
  -- 'xb:' float32 little-endian bytes; 'x:' "v1,v2,…" text from records a scorer before the binary
  -- form wrote (they live one attribution window, so a rolling upgrade loses no click).
  local xb = redis.call('HGET', rec, 'xb:' .. item)
  local x = xb or redis.call('HGET', rec, 'x:' .. item)
  if served and x and redis.call('HGET', rec, 'mv') == ARGV[2] and ts >= served and ts - served <= window and redis.call('HSETNX', rec, 'lr:' .. item, '1') == 1 then
    if xb then
      for pos = 1, #xb - 3, 4 do
        redis.call('HINCRBYFLOAT', KEYS[1], tostring((pos - 1) / 4), tostring((struct.unpack('<f', xb, pos))))
      end
    else
      local i = 0
      for value in string.gmatch(x, '[^,]+') do
        redis.call('HINCRBYFLOAT', KEYS[1], tostring(i), value)
        i = i + 1
      end
    end
    folded = folded + 1
  end
end
return folded
