-- Appends canonical events to the trainer's bounded training window, once per eventId.
-- KEYS[1] training window stream
-- KEYS[2..n+1] per-event marker keys (one per event, same order as the event groups in ARGV)
-- ARGV[1] max entries (approximate MAXLEN)
-- ARGV[2] marker TTL in ms (longer than any replay)
-- ARGV[3] min event time kept (epoch ms): older events are not added
-- ARGV[4] "plain" or "sealed"
-- ARGV[5..] groups of 5. plain: user, itemId, type, ts, eventId (fields u, i, t, ts, e);
--           sealed: key id, sealed payload, "", ts, "" (fields k, c, ts: the user is inside c)
-- Returns the number of events appended.
local appended = 0
local sealed = ARGV[4] == 'sealed'
local n = (#ARGV - 4) / 5
for i = 0, n - 1 do
  local base = 5 + i * 5
  local ts = tonumber(ARGV[base + 3])
  if ts >= tonumber(ARGV[3]) and redis.call('SET', KEYS[2 + i], '1', 'NX', 'PX', ARGV[2]) then
    if sealed then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'k', ARGV[base], 'c', ARGV[base + 1], 'ts', ARGV[base + 3])
    else
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'u', ARGV[base], 'i', ARGV[base + 1], 't', ARGV[base + 2], 'ts', ARGV[base + 3], 'e', ARGV[base + 4])
    end
    appended = appended + 1
  end
end
return appended
