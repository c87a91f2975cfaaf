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
  local st = { wm = {}, olderRaw = '', histRaw = '', newestT = 0, count = 0 }
  if not packed then return st end
  local wm, newest, count
  wm, st.olderRaw, newest, count, st.histRaw = string.match(packed, '^([^|]*)|([^|]*)|([0-9a-f]*),?([0-9a-f]*)|(.*)$')
  if not wm then error('apply-users: unreadable user state at ' .. key) end
  for _, part in ipairs(split(wm, ',', {})) do
    local p, o = string.match(part, '^(.*):(%d+)$')
    st.wm[p] = tonumber(o)
  end
  if st.histRaw ~= '' then st.newestT, st.count = tonumber(newest, 16), tonumber(count, 16) end
  return st
end

-- (second, code, item, seen): the newest `cap` are the same whatever the order of additions.
local function before(a, b)
  if a.t ~= b.t then return a.t < b.t end
  if a.c ~= b.c then return a.c < b.c end
  if a.i ~= b.i then return a.i < b.i end
  return (not a.s) and b.s
end

-- `n`: seconds since the entry before e (0 for the oldest).
local function encodeEntry(e, n)
  return hex(n) .. e.c .. (e.s and '*' or '') .. e.i
end

local function write(key, st, older)
  local labels = {}
  for p in pairs(st.wm) do labels[#labels + 1] = p end
  table.sort(labels)
  local wm = {}
  for n, p in ipairs(labels) do wm[n] = p .. ':' .. string.format('%d', st.wm[p]) end
  local newest = st.count > 0 and (hex(st.newestT) .. ',' .. hex(st.count)) or ''
  redis.call('SET', key, table.concat(wm, ',') .. '|' .. older .. '|' .. newest .. '|' .. st.histRaw)
end

-- Any order of additions: decode, sort, keep the newest `cap`, recompute the older seen items.
-- Sets st.histRaw, st.newestT, st.count; returns the older seen items, packed.
local function mergeSorted(st, olderList, new)
  local hist = st.hist
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
  for n, e in ipairs(kept) do packed[n] = encodeEntry(e, n == 1 and 0 or (e.t - kept[n - 1].t)) end
  for _, e in ipairs(kept) do if e.s then seen[e.i] = nil end end
  local older = {}
  for item in pairs(seen) do older[#older + 1] = item end
  table.sort(older)
  st.histRaw, st.count = table.concat(packed, ';'), #kept
  st.newestT = #kept > 0 and kept[#kept].t or 0
  return table.concat(older, ',')
end

-- The oldest entries past the cap leave the history (the next one's number becomes 0); seen
-- items of the ones that leave join the older list unless still seen in the history, and the
-- history's seen items leave it (an item is listed in one place only). `new`: the entries this
-- call added. Returns the older seen items, packed.
local function trim(st, new)
  local drop = math.max(0, st.count - cap)
  -- Nothing leaves and no older list to move items out of: the common case while a history fills.
  if drop == 0 and st.olderRaw == '' then return '' end
  local packed = st.histRaw
  local dropped, pos = {}, 0
  for k = 1, drop do
    local sep = string.find(packed, ';', pos + 1, true)
    dropped[k] = string.sub(packed, pos + 1, sep - 1)
    pos = sep
  end
  if drop > 0 then
    local d = string.match(packed, '^[0-9a-f]+', pos + 1)
    packed = '0' .. string.sub(packed, pos + 1 + #d)
    st.histRaw, st.count = packed, cap
  end
  local search, olderSearch = ';' .. packed .. ';', ',' .. st.olderRaw .. ','
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
  if not changed then return st.olderRaw end
  local older = {}
  for _, item in ipairs(split(st.olderRaw, ',', {})) do
    if not remove[item] then older[#older + 1] = item end
  end
  for item in pairs(add) do older[#older + 1] = item end
  table.sort(older)
  return table.concat(older, ',')
end

-- One new entry into a packed history without decoding it. Newer than the newest (the usual
-- case: one user's events arrive in order): appended, nothing read. Otherwise entries are read
-- back from the newest only as far as its place (one hex number each, the whole entry only on a
-- tie of seconds); the entry after it is renumbered and the string is cut there.
local function insertEntry(st, e)
  local raw = st.histRaw
  st.count = st.count + 1
  if raw == '' then
    st.histRaw, st.newestT = encodeEntry(e, 0), e.t
    return
  end
  if e.t > st.newestT then
    st.histRaw = raw .. ';' .. encodeEntry(e, e.t - st.newestT)
    st.newestT = e.t
    return
  end
  local len = #raw
  -- Separators are found from the end in the reversed string (entries hold no ';').
  local rev = string.reverse(raw)
  -- Where the entry that ends just before `stop` (its ';', or len + 1) starts.
  local function startBefore(stop)
    local r = string.find(rev, ';', len - stop + 2, true)
    return r and (len - r + 2) or 1
  end
  -- The entry at [from, stop - 1] has time tk; the one after it (if any) starts at afterFrom, time tAfter.
  local stop = len + 1
  local from = startBefore(stop)
  local tk, afterFrom, tAfter = st.newestT, nil, nil
  while true do
    local d = string.match(raw, '^[0-9a-f]+', from)
    local goesBefore
    if e.t ~= tk then
      goesBefore = e.t < tk
    else
      local _, c, star, i = parseEntry(string.sub(raw, from, stop - 1))
      goesBefore = before(e, { t = tk, c = c, i = i, s = star == '*' })
    end
    if not goesBefore then
      if not afterFrom then
        st.histRaw, st.newestT = raw .. ';' .. encodeEntry(e, e.t - tk), e.t
      else
        -- Between this entry and the next, which now counts its seconds from e.
        local dAfter = string.match(raw, '^[0-9a-f]+', afterFrom)
        st.histRaw = string.sub(raw, 1, stop) .. encodeEntry(e, e.t - tk) .. ';' .. hex(tAfter - e.t)
          .. string.sub(raw, afterFrom + #dAfter)
      end
      return
    end
    if from == 1 then
      -- Before the oldest: e is the oldest now, and the old oldest counts its seconds from e.
      st.histRaw = encodeEntry(e, 0) .. ';' .. hex(tk - e.t) .. string.sub(raw, 1 + #d)
      return
    end
    afterFrom, tAfter = from, tk
    stop = from - 1
    from = startBefore(stop)
    tk = tk - tonumber(d, 16)
  end
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
    local older
    if st.legacy then
      older = mergeSorted(st, st.older, u.new)
    else
      for _, e in ipairs(u.new) do insertEntry(st, e) end
      older = trim(st, u.new)
    end
    if u.top > u.wm then st.wm[label] = u.top end
    write(KEYS[2 * j - 1], st, older)
  end
end
return {applied, refresh}
