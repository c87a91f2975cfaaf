-- claim-events: ingest's dedupe for one consumed batch, in one round trip.
-- KEYS[i]    ns:dd:<eventId> of message i (i = 1..n)
-- ARGV[1]    dedupe window in ms (PX of a new claim)
-- ARGV[i+1]  source coordinates "<topic>/<partition>/<offset>" of message i
-- Returns    array of n integers: 1 = new (claimed now), 2 = replay (the claim holds this very
--            message's coordinates: an earlier attempt claimed it and may have crashed before
--            producing, so produce again), 0 = duplicate (another message claimed the id)
local out = {}
local ttl = ARGV[1]
for i = 1, #KEYS do
  local coords = ARGV[i + 1]
  if redis.call('SET', KEYS[i], coords, 'NX', 'PX', ttl) then
    out[i] = 1
  elseif redis.call('GET', KEYS[i]) == coords then
    out[i] = 2
  else
    out[i] = 0
  end
end
return out
