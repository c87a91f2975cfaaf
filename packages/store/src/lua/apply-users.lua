-- apply-users: the per-user part of a features batch — history, seen items, refresh limits —
-- for users whose keys share one slot (on a single Redis: all the batch's users).
-- KEYS[2j-1] ns:u:{<user j>}      string the user's packed state (user-state.ts documents the layout)
-- KEYS[2j]   ns:u:{<user j>}:rl   string refresh-on-event rate limit
-- ARGV[1] history cap   ARGV[2] refresh interval ms   ARGV[3] partition label p
-- ARGV[4] the events (not duplicates, in partition order) as one JSON array, 7 values per event
--   from e = 7*i: [e+1] user j   [e+2] offset (-1: no position)   [e+3] time in whole seconds
--   [e+4] type code (one upper-case letter)   [e+5] item id   [e+6] 1 when the item counts as seen
--   [e+7] index of the event in the caller's batch when it asks for a refresh, else -1
-- An event at or below the user's watermark for p was applied before and changes nothing.
-- The result is exactly user-state.ts's applyUserEntries + encodeUserState (the reference store).
-- Returns {applied, {batch indexes whose refresh request is due}}.
local cap = tonumber(ARGV[1])
local refreshMs = ARGV[2]
local label = ARGV[3]
local ev = cjson.decode(ARGV[4])
local applied = 0
local refresh = {}
local users, order = {}, {}

-- Numbers are hexadecimal: string.format and tonumber do them in C.
local function hex(n)
  return string.format('%x', n)
end

local function split(s, sep, into)
  if s then for part in string.gmatch(s, '[^' .. sep .. ']+') do into[#into + 1] = part end end
  return into
end

-- Versions before the packed string kept a hash: h "<ms36>,<code>,<item>;…", s seen items, w:<p>.
local LEGACY_CODES = { v = 'V', c = 'C', a = 'A', p = 'P', r = 'R' }
local function readLegacy(key)
  local st = { wm = {}, older = {}, hist = {}, legacy = true }
  local flat = redis.call('HGETALL', key)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  local seen = {}
  for _, s in ipairs(split(fields.s, ',', {})) do seen[s] = true end
  for f, v in pairs(fields) do
    if string.sub(f, 1, 2) == 'w:' then st.wm[string.sub(f, 3)] = tonumber(v) end
  end
  local inHistory = {}
  for _, e in ipairs(split(fields.h, ';', {})) do
    local ts, code, item = string.match(e, '^([^,]*),([^,]*),(.+)$')
    if item then
      st.hist[#st.hist + 1] = {
        t = math.floor(tonumber(ts, 36) / 1000), c = LEGACY_CODES[code] or 'V', i = item, s = seen[item] or false,
      }
      if seen[item] then inHistory[item] = true end
    end
  end
  for item in pairs(seen) do
    if not inHistory[item] then st.older[#st.older + 1] = item end
  end
  table.sort(st.older)
  redis.call('DEL', key)
  return st
end

local function parseEntry(e)
  return string.match(e, '^([0-9a-f]+)([A-Z])(%*?)(.+)$')
end

-- A state as read: watermarks decoded, older seen items and history still packed (most calls
-- only append to the history and never need it decoded).
local function read(key)
  -- GET fails with WRONGTYPE on a legacy hash: one call for the common case instead of TYPE + GET.
  local packed = redis.pcall('GET', key)
  if type(packed) == 'table' and packed.err then return readLegacy(key) end
  local st = { wm = {}, olderRaw = '', histRaw = '' }
  if not packed then return st end
  local wm
  wm, st.olderRaw, st.histRaw = string.match(packed, '^([^|]*)|([^|]*)|(.*)$')
  for _, part in ipairs(split(wm, ',', {})) do
    local p, o = string.match(part, '^(.*):(%d+)$')
    st.wm[p] = tonumber(o)
  end
  return st
end

-- An entry's number is the seconds to the next entry; the newest entry's is its own time.

-- (second, code, item, seen): the newest `cap` are the same whatever the order of additions.
local function before(a, b)
  if a.t ~= b.t then return a.t < b.t end
  if a.c ~= b.c then return a.c < b.c end
  if a.i ~= b.i then return a.i < b.i end
  return (not a.s) and b.s
end

-- `nextT`: the time of the entry after e, or nil when e is the newest.
local function encodeEntry(e, nextT)
  return hex(nextT and (nextT - e.t) or e.t) .. e.c .. (e.s and '*' or '') .. e.i
end

local function write(key, wmTable, older, hist)
  local labels = {}
  for p in pairs(wmTable) do labels[#labels + 1] = p end
  table.sort(labels)
  local wm = {}
  for n, p in ipairs(labels) do wm[n] = p .. ':' .. string.format('%d', wmTable[p]) end
  redis.call('SET', key, table.concat(wm, ',') .. '|' .. older .. '|' .. hist)
end

-- Any order of additions: decode, sort, keep the newest `cap`, recompute the older seen items.
local function mergeSorted(hist, olderList, new)
  local seen = {}
  for _, item in ipairs(olderList) do seen[item] = true end
  for _, e in ipairs(hist) do if e.s then seen[e.i] = true end end
  for _, e in ipairs(new) do
    hist[#hist + 1] = e
    if e.s then seen[e.i] = true end
  end
  -- Sorted as strings (C comparisons, not a Lua comparator per pair): "<t, 8 hex digits><code>
  -- <item><' ' | '*'>" orders by (second, code, item, seen) since item characters sort after '*'.
  local sortable = {}
  for n, e in ipairs(hist) do sortable[n] = string.format('%08x', e.t) .. e.c .. e.i .. (e.s and '*' or ' ') end
  table.sort(sortable)
  for n, k in ipairs(sortable) do
    hist[n] = {
      t = tonumber(string.sub(k, 1, 8), 16), c = string.sub(k, 9, 9), i = string.sub(k, 10, -2),
      s = string.sub(k, -1) == '*',
    }
  end
  local kept, packed = {}, {}
  for n = math.max(1, #hist - cap + 1), #hist do kept[#kept + 1] = hist[n] end
  for n, e in ipairs(kept) do packed[n] = encodeEntry(e, kept[n + 1] and kept[n + 1].t) end
  for _, e in ipairs(kept) do if e.s then seen[e.i] = nil end end
  local older = {}
  for item in pairs(seen) do older[#older + 1] = item end
  table.sort(older)
  return table.concat(older, ','), table.concat(packed, ';')
end

-- The oldest entries past the cap leave `packed` (count entries); seen items of the ones that
-- leave join the older list unless still seen in the history, and the history's seen items
-- leave it (an item is listed in one place only). `new`: the entries this call added.
local function trim(olderRaw, packed, count, new)
  local drop = math.max(0, count - cap)
  -- Nothing leaves and no older list to move items out of: the common case while a history fills.
  if drop == 0 and olderRaw == '' then return olderRaw, packed end
  local dropped, pos = {}, 0
  for k = 1, drop do
    local sep = string.find(packed, ';', pos + 1, true)
    dropped[k] = string.sub(packed, pos + 1, sep - 1)
    pos = sep
  end
  local histPacked = string.sub(packed, pos + 1)
  local search, olderSearch = ';' .. histPacked .. ';', ',' .. olderRaw .. ','
  local add, remove, changed = {}, {}, false
  for _, e in ipairs(dropped) do
    local _, _, star, item = parseEntry(e)
    if star == '*' and not string.find(search, '*' .. item .. ';', 1, true)
      and not string.find(olderSearch, ',' .. item .. ',', 1, true) then
      add[item], changed = true, true
    end
  end
  for _, e in ipairs(new) do
    if e.s and string.find(olderSearch, ',' .. e.i .. ',', 1, true)
      and string.find(search, '*' .. e.i .. ';', 1, true) then
      remove[e.i], changed = true, true
    end
  end
  if not changed then return olderRaw, histPacked end
  local older = {}
  for _, item in ipairs(split(olderRaw, ',', {})) do
    if not remove[item] then older[#older + 1] = item end
  end
  for item in pairs(add) do older[#older + 1] = item end
  table.sort(older)
  return table.concat(older, ','), histPacked
end

-- Entries in a packed history: the ';' separators counted in C, no copy of the string.
local function countEntries(packed)
  if packed == '' then return 0 end
  local n, p = 1, string.find(packed, ';', 1, true)
  while p do
    n = n + 1
    p = string.find(packed, ';', p + 1, true)
  end
  return n
end

-- One new entry into a packed history without decoding it: after the newest, the newest is
-- rewritten to count the seconds to it and it is appended; otherwise entries are read back from
-- the newest only as far as its place (one hex number each, the whole entry only on a tie of
-- seconds), the one before it is rewritten, and the string is cut there.
local function insertEntry(histRaw, e)
  if histRaw == '' then return encodeEntry(e, nil) end
  local len = #histRaw
  -- Separators are found from the end in the reversed string (entries hold no ';').
  local rev = string.reverse(histRaw)
  -- Where the entry that ends just before `stop` (its ';', or len + 1) starts.
  local function startBefore(stop)
    local r = string.find(rev, ';', len - stop + 2, true)
    return r and (len - r + 2) or 1
  end
  local from = startBefore(len + 1)
  local num, code, star, item = parseEntry(string.sub(histRaw, from))
  local tk = tonumber(num, 16)
  if not before(e, { t = tk, c = code, i = item, s = star == '*' }) then
    return string.sub(histRaw, 1, from - 1) .. hex(e.t - tk) .. code .. star .. item .. ';' .. encodeEntry(e, nil)
  end
  while true do
    -- e sorts before the entry at `from`, whose time is tk.
    local tNext = tk
    if from == 1 then return encodeEntry(e, tNext) .. ';' .. histRaw end
    local stop = from - 1
    from = startBefore(stop)
    local d = string.match(histRaw, '^[0-9a-f]+', from)
    tk = tk - tonumber(d, 16)
    local goesBefore
    if e.t ~= tk then
      goesBefore = e.t < tk
    else
      local _, c, st, i = parseEntry(string.sub(histRaw, from, stop - 1))
      goesBefore = before(e, { t = tk, c = c, i = i, s = st == '*' })
    end
    if not goesBefore then
      -- e goes right after this entry, whose number now counts the seconds to e.
      return string.sub(histRaw, 1, from - 1) .. hex(e.t - tk) .. string.sub(histRaw, from + #d, stop)
        .. encodeEntry(e, tNext) .. ';' .. string.sub(histRaw, stop + 1)
    end
  end
end

-- Entries in a packed history: the ';' separators counted in C, no copy of the string.
local function countEntries(packed)
  if packed == '' then return 0 end
  local n, p = 1, string.find(packed, ';', 1, true)
  while p do
    n = n + 1
    p = string.find(packed, ';', p + 1, true)
  end
  return n
end

for i = 0, #ev / 7 - 1 do
  local a = 7 * i
  local j, offset = ev[a + 1], ev[a + 2]
  local u = users[j]
  if not u then
    local st = read(KEYS[2 * j - 1])
    local wm = st.wm[label] or -1
    u = { st = st, wm = wm, top = wm, new = {} }
    users[j] = u
    order[#order + 1] = j
  end
  if offset < 0 or offset > u.wm then
    applied = applied + 1
    u.new[#u.new + 1] = { t = ev[a + 3], c = ev[a + 4], i = ev[a + 5], s = ev[a + 6] == 1 }
    if offset > u.top then u.top = offset end
    if ev[a + 7] >= 0 and redis.call('SET', KEYS[2 * j], '1', 'NX', 'PX', refreshMs) then
      refresh[#refresh + 1] = ev[a + 7]
    end
  end
end

for _, j in ipairs(order) do
  local u = users[j]
  local st = u.st
  -- A legacy hash was deleted on reading: it is written back converted even when nothing is new.
  if #u.new > 0 or st.legacy then
    table.sort(u.new, before)
    local older, hist
    if st.legacy then
      older, hist = mergeSorted(st.hist, st.older, u.new)
    else
      local packed = st.histRaw
      local count = countEntries(packed)
      for _, e in ipairs(u.new) do packed = insertEntry(packed, e) end
      older, hist = trim(st.olderRaw, packed, count + #u.new, u.new)
    end
    if u.top > u.wm then st.wm[label] = u.top end
    write(KEYS[2 * j - 1], st.wm, older, hist)
  end
end
return {applied, refresh}
