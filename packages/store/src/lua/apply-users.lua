-- apply-users: the per-user part of a features batch — history, seen items, refresh limits —
-- for users whose keys share one slot (on a single Redis: all the batch's users).
-- KEYS[2j-1] ns:u:{<user j>}      hash   h packed history, s seen items, w:<p> watermark
-- KEYS[2j]   ns:u:{<user j>}:rl   string refresh-on-event rate limit
-- ARGV[1] history cap   ARGV[2] refresh interval ms   ARGV[3] partition label p
-- ARGV[4] the events (not duplicates, in partition order) as one JSON array, 5 values per event
--   from e = 5*i: [e+1] user j   [e+2] offset (-1: no position)   [e+3] history entry
--   "<ts36>,<code>,<item>"   [e+4] item to mark seen ("" when none)
--   [e+5] index of the event in the caller's batch when it asks for a refresh, else -1
-- An event at or below the user's watermark for p was applied before and changes nothing.
-- Returns {applied, {batch indexes whose refresh request is due}}.
local cap = tonumber(ARGV[1])
local refreshMs = ARGV[2]
local wmField = 'w:' .. ARGV[3]
local ev = cjson.decode(ARGV[4])
local applied = 0
local refresh = {}
local users, order = {}, {}

for i = 0, #ev / 5 - 1 do
  local a = 5 * i
  local j, offset = ev[a + 1], ev[a + 2]
  local u = users[j]
  if not u then
    local wm = redis.call('HGET', KEYS[2 * j - 1], wmField)
    u = { wm = tonumber(wm or '-1'), top = tonumber(wm or '-1'), hist = {}, seen = {} }
    users[j] = u
    order[#order + 1] = j
  end
  if offset < 0 or offset > u.wm then
    applied = applied + 1
    u.hist[#u.hist + 1] = ev[a + 3]
    if ev[a + 4] ~= '' then u.seen[#u.seen + 1] = ev[a + 4] end
    if offset > u.top then u.top = offset end
    if ev[a + 5] >= 0 and redis.call('SET', KEYS[2 * j], '1', 'NX', 'PX', refreshMs) then
      refresh[#refresh + 1] = ev[a + 5]
    end
  end
end

local function split(s, sep, into)
  if s then for part in string.gmatch(s, '[^' .. sep .. ']+') do into[#into + 1] = part end end
  return into
end

for _, j in ipairs(order) do
  local u = users[j]
  if #u.hist > 0 then
    local key = KEYS[2 * j - 1]
    local current = redis.call('HMGET', key, 'h', 's')
    -- Entries sort as text in (ts, type, item) order: the newest `cap` are the same whatever the
    -- order of additions.
    local hist = split(current[1], ';', {})
    for _, e in ipairs(u.hist) do hist[#hist + 1] = e end
    table.sort(hist)
    local from = math.max(1, #hist - cap + 1)
    local fields = { 'h', table.concat(hist, ';', from, #hist) }
    if #u.seen > 0 then
      local seen, has = split(current[2], ',', {}), {}
      for _, s in ipairs(seen) do has[s] = true end
      for _, s in ipairs(u.seen) do
        if not has[s] then
          has[s] = true
          seen[#seen + 1] = s
        end
      end
      table.sort(seen)
      fields[#fields + 1] = 's'
      fields[#fields + 1] = table.concat(seen, ',')
    end
    if u.top > u.wm then
      fields[#fields + 1] = wmField
      fields[#fields + 1] = string.format('%d', u.top)
    end
    redis.call('HSET', key, unpack(fields))
  end
end
return {applied, refresh}
