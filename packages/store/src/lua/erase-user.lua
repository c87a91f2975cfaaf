-- erase-user: deletes every key derived from one user and records a receipt, atomically.
-- KEYS[1]      ns:erasures (stream)
-- KEYS[2..]    the user's keys (StoreKeys.userKeys)
-- ARGV[1] receipt id   ARGV[2] time ms   ARGV[3] stream max length (approximate trim)
-- Returns the number of keys deleted. The receipt holds neither the raw id nor the pseudonym.
local deleted = 0
for i = 2, #KEYS do deleted = deleted + redis.call('DEL', KEYS[i]) end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'receipt', ARGV[1], 'at', ARGV[2], 'keys', deleted)
return deleted
