-- add-linear: adds a vector into hash fields "0".."m-1" in one call (the neural-linear bandit's
-- Σ x·xᵀ and Σ −p·x): one command instead of a pipeline of m HINCRBYFLOATs, which for d = 64 was
-- 4,160 commands a second to build and parse per scorer.
-- KEYS[1]  the hash (ns:lb:<version>:A or :b)
-- ARGV[1]  the values as float64 little-endian bytes, 8 a value; zeros are skipped
-- ARGV[2]  TTL ms   ARGV[3] count to add to field "n" ("" for none)
-- Returns the number of fields changed.
local v = ARGV[1]
local changed = 0
for pos = 1, #v - 7, 8 do
  local x = struct.unpack('<d', v, pos)
  if x ~= 0 then
    redis.call('HINCRBYFLOAT', KEYS[1], tostring((pos - 1) / 8), string.format('%.17g', x))
    changed = changed + 1
  end
end
if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[1], 'n', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return changed
