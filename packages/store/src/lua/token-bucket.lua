-- Token bucket of one API key: refills at ARGV[2] tokens per second up to ARGV[1], takes ARGV[3].
-- Time is the Redis server's (TIME), so every gateway instance sees the same clock.
-- KEYS[1] bucket hash (fields: tokens, ts)
-- ARGV[1] capacity (burst), ARGV[2] refill rate per second (> 0), ARGV[3] cost of this request
-- Returns {allowed 1|0, whole tokens left, ms until the cost would be available (0 when allowed)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
tokens = math.min(cap, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
-- A full bucket is the same as no bucket: expire once it would have refilled.
redis.call('PEXPIRE', KEYS[1], math.ceil(cap * 1000 / rate) + 1000)
return {allowed, math.floor(tokens), retry}
