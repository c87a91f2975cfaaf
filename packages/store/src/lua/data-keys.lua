-- data-keys: each user's current data key, created when the user has none (atomic per user).
-- KEYS[2i-1]   ns:dk:u:<user i>          KEYS[2i]   ns:dk:<candidate kid i>
-- ARGV[i]      candidate "<kid>.<wrapped key>" for user i
-- Returns, per user, its "<kid>.<wrapped key>": the existing one, or the candidate (then also
-- stored by kid). A candidate that loses to an existing key is simply dropped.
local out = {}
for i = 1, #ARGV do
  local current = redis.call('GET', KEYS[2 * i - 1])
  if not current then
    current = ARGV[i]
    redis.call('SET', KEYS[2 * i - 1], current)
    local dot = string.find(current, '.', 1, true)
    redis.call('SET', KEYS[2 * i], string.sub(current, dot + 1))
  end
  out[i] = current
end
return out
