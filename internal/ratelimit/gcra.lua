-- One GCRA step for the bucket KEYS[1], run atomically by Redis.
-- ARGV[1]: emission interval (ns); ARGV[2]: tolerance, burst x emission (ns).
-- ARGV[3], ARGV[4], only from tests: now as Unix seconds and nanoseconds,
-- instead of the server's TIME.
-- Returns {allowed 0|1, remaining, retry after (ns), reset after (ns)}:
-- the same arithmetic as gcra.decide in ratelimit.go.
--
-- Time is the Redis server's, so every gateway sharing the bucket uses one
-- clock. The TAT is stored as decimal nanoseconds since the Unix epoch; that
-- does not fit a Lua number (a double) exactly, so it is read as seconds and
-- nanoseconds and all arithmetic is done in nanoseconds relative to now,
-- which stay well below 2^53.
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])

local now_s, now_ns
if ARGV[3] then
  now_s, now_ns = tonumber(ARGV[3]), tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now_s, now_ns = tonumber(t[1]), tonumber(t[2]) * 1000
end

-- tat: the TAT relative to now. A missing key, or one that is not ours to
-- parse, is a full bucket; the script overwrites it.
local tat = 0
local stored = redis.call('GET', KEYS[1])
if stored then
  local s, ns = tonumber(string.sub(stored, 1, -10)), tonumber(string.sub(stored, -9))
  if s and ns then
    tat = (s - now_s) * 1e9 + (ns - now_ns)
  end
end
if tat < 0 then
  tat = 0
end

local new_tat = tat + emission
local allow_at = new_tat - tolerance
if allow_at > 0 then
  return {0, 0, allow_at, tat}
end

-- floor(-allow_at / emission), corrected so that rounding of the division
-- cannot make it differ from Go's integer division.
local credit = -allow_at
local remaining = math.floor(credit / emission)
if (remaining + 1) * emission <= credit then
  remaining = remaining + 1
elseif remaining * emission > credit then
  remaining = remaining - 1
end

local abs_ns = now_ns + new_tat
local abs_s = now_s + math.floor(abs_ns / 1e9)
abs_ns = abs_ns % 1e9
-- The key lives until the bucket is full again: after that, forgetting it
-- changes nothing.
redis.call('SET', KEYS[1], string.format('%d%09d', abs_s, abs_ns), 'PX', math.ceil(new_tat / 1e6))
return {1, remaining, 0, new_tat}
