-- claim-events: ingest's duplicate filter for one clickstream partition's batch, one slot.
-- KEYS[1]    ns:dd:{cs.<p>}  zset  event fingerprint -> offset of its first copy
-- ARGV[1]    how many fingerprints to keep (the newest by offset)
-- ARGV[2i], ARGV[2i+1]  fingerprint and offset of message i (i = 1..n)
-- Returns    array of n integers: 1 = new (claimed now), 2 = replay (the claim holds this very
--            message's offset: an earlier attempt claimed it and may have crashed before
--            producing, so produce again), 0 = duplicate (another message claimed the id)
local out = {}
for i = 1, (#ARGV - 1) / 2 do
  local fp, offset = ARGV[2 * i], ARGV[2 * i + 1]
  -- NX: a new fingerprint is claimed in one call; an old one keeps its first copy's offset.
  if redis.call('ZADD', KEYS[1], 'NX', offset, fp) == 1 then
    out[i] = 1
  elseif tonumber(redis.call('ZSCORE', KEYS[1], fp)) == tonumber(offset) then
    out[i] = 2
  else
    out[i] = 0
  end
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[1]) + 1))
return out
