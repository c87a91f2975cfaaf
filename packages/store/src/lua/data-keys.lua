-- data-keys: each user's current data key, created when the user has none (atomic per user).
-- Users whose keys share a slot go in one call (on a single Redis: all of them).
-- KEYS[i]   ns:dk:u:{<user i>}
-- ARGV[i]   candidate "<kid>.<wrapped key>" for user i (its by-id copy ns:dk:<kid> is already
--           written: a reader that finds the kid here always finds the key)
-- Returns, per user, its "<kid>.<wrapped key>": the existing one, or the candidate. The caller
-- deletes the by-id copies of candidates that lost.
local out = {}
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if not current then
    current = ARGV[i]
    redis.call('SET', KEYS[i], current)
  end
  out[i] = current
end
return out
