-- erase-user: deletes every key derived from one user, its data key (crypto-shredding) and
-- records a receipt, atomically.
-- KEYS[1]      ns:erasures (stream)
-- KEYS[2]      ns:dk:u:<user> (the user's data key, "<kid>.<wrapped>")
-- KEYS[3]      ns:dk:<kid> of the data key the caller read (any key name when there was none)
-- KEYS[4..]    the user's keys (StoreKeys.userKeys and legacyUserKeys)
-- ARGV[1] receipt id   ARGV[2] time ms   ARGV[3] stream max length (approximate trim)
-- ARGV[4] the value of KEYS[2] the caller read ("" when none)
-- Returns the number of keys deleted, or -1 (nothing done) when the data key changed since the
-- caller read it (a key was created meanwhile): read it again and retry.
-- The receipt holds neither the raw id nor the pseudonym nor the key id.
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[4] then return -1 end
local deleted = 0
if current ~= '' then deleted = redis.call('DEL', KEYS[2]) + redis.call('DEL', KEYS[3]) end
for i = 4, #KEYS do deleted = deleted + redis.call('DEL', KEYS[i]) end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'receipt', ARGV[1], 'at', ARGV[2], 'keys', deleted)
return deleted
