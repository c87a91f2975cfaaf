-- erase-user: deletes a user's data key and every key in the user's slot, atomically. The
-- caller deleted the key's by-id copy (ns:dk:<kid>) before and, after this, deletes the keys
-- older layouts wrote (other slots) and appends the receipt.
-- KEYS[1]      ns:dk:u:{<user>} (the user's data key, "<kid>.<wrapped>")
-- KEYS[2..]    the user's keys (StoreKeys.userKeys: all tagged {<user>})
-- ARGV[1]      the value of KEYS[1] the caller read ("" when none)
-- Returns the number of keys deleted, or -1 (nothing done) when the data key changed since the
-- caller read it (a key was created meanwhile): read it again and retry.
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return -1 end
local deleted = 0
for i = 1, #KEYS do deleted = deleted + redis.call('DEL', KEYS[i]) end
return deleted
