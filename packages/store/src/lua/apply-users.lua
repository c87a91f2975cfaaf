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

local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n)
  if n == 0 then return '0' end
  local s = ''
  while n > 0 do
    local d = n % 36
    s = string.sub(DIGITS, d + 1, d + 1) .. s
    n = (n - d) / 36
  end
  return s
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
  return string.match(e, '^([0-9a-z]+)([A-Z])(%*?)(.+)$')
end

-- A state as read: watermarks decoded, older seen items and history still packed (most calls
-- only append to the history and never need it decoded).
local function read(key)
  if redis.call('TYPE', key).ok == 'hash' then return readLegacy(key) end
  local st = { wm = {}, olderRaw = '', histRaw = '' }
  local packed = redis.call('GET', key)
  if not packed then return st end
  local wm
  wm, st.olderRaw, st.histRaw = string.match(packed, '^([^|]*)|([^|]*)|(.*)$')
  for _, part in ipairs(split(wm, ',', {})) do
    local p, o = string.match(part, '^(.*):(%d+)$')
    st.wm[p] = tonumber(o)
  end
  return st
end

local function decodeHistory(raw)
  local hist, t = {}, 0
  for _, e in ipairs(split(raw, ';', {})) do
    local dt, code, star, item = parseEntry(e)
    if dt then
      t = t + tonumber(dt, 36)
      hist[#hist + 1] = { t = t, c = code, i = item, s = star == '*' }
    end
  end
  return hist
end

-- (second, code, item, seen): the newest `cap` are the same whatever the order of additions.
local function before(a, b)
  if a.t ~= b.t then return a.t < b.t end
  if a.c ~= b.c then return a.c < b.c end
  if a.i ~= b.i then return a.i < b.i end
  return (not a.s) and b.s
end

local function encodeEntry(e, previous)
  return base36(e.t - previous) .. e.c .. (e.s and '*' or '') .. e.i
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
  table.sort(hist, before)
  local kept, packed, previous = {}, {}, 0
  for n = math.max(1, #hist - cap + 1), #hist do
    local e = hist[n]
    kept[#kept + 1] = e
    packed[#packed + 1] = encodeEntry(e, previous)
    previous = e.t
  end
  for _, e in ipairs(kept) do if e.s then seen[e.i] = nil end end
  local older = {}
  for item in pairs(seen) do older[#older + 1] = item end
  table.sort(older)
  return table.concat(older, ','), table.concat(packed, ';')
end

-- The usual case: every new entry is at or after the history's last, so the packed entries are
-- kept as they are, new ones appended and the oldest dropped; only dropped entries are decoded.
-- Returns nil when the new entries do not all come last (mergeSorted then does the work).
local function mergeAppend(olderRaw, histRaw, new)
  local entries, times, t = split(histRaw, ';', {}), {}, 0
  for n, e in ipairs(entries) do
    t = t + tonumber(string.match(e, '^[0-9a-z]+'), 36)
    times[n] = t
  end
  if #entries > 0 then
    local _, code, star, item = parseEntry(entries[#entries])
    if before(new[1], { t = t, c = code, i = item, s = star == '*' }) then return nil end
  end
  for _, e in ipairs(new) do
    entries[#entries + 1] = encodeEntry(e, t)
    t = e.t
    times[#entries] = t
  end
  local drop = math.max(0, #entries - cap)
  local kept = {}
  for n = drop + 1, #entries do kept[#kept + 1] = entries[n] end
  if drop > 0 then kept[1] = base36(times[drop + 1]) .. string.match(kept[1], '^[0-9a-z]+(.*)$') end
  local histPacked = table.concat(kept, ';')
  -- Older seen items: dropped seen entries join unless the item is still seen in the history;
  -- new seen entries that stay leave it (an item is listed in one place only).
  local search, olderSearch = ';' .. histPacked .. ';', ',' .. olderRaw .. ','
  local add, remove, changed = {}, {}, false
  for n = 1, drop do
    local _, _, star, item = parseEntry(entries[n])
    if star == '*' and not string.find(search, '*' .. item .. ';', 1, true)
      and not string.find(olderSearch, ',' .. item .. ',', 1, true) then
      add[item], changed = true, true
    end
  end
  for n = math.max(1, #new - cap + 1), #new do
    local e = new[n]
    if e.s and string.find(olderSearch, ',' .. e.i .. ',', 1, true) then remove[e.i], changed = true, true end
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
    if not st.legacy and #u.new > 0 then older, hist = mergeAppend(st.olderRaw, st.histRaw, u.new) end
    if not hist then
      local decoded = st.legacy and st.hist or decodeHistory(st.histRaw)
      local olderList = st.legacy and st.older or split(st.olderRaw, ',', {})
      older, hist = mergeSorted(decoded, olderList, u.new)
    end
    if u.top > u.wm then st.wm[label] = u.top end
    write(KEYS[2 * j - 1], st.wm, older, hist)
  end
end
return {applied, refresh}
