/**
 * The server-side half of shared rate limits: one Lua script, run atomically by Redis
 * (EVALSHA; the client falls back to EVAL after a Redis restart empties the script cache).
 *
 * Algorithm: GCRA (the generic cell rate algorithm), not a sliding window, because
 * - it is exactly the token bucket the memory store runs (rate `requests / per`, size `burst`),
 *   so switching a route from store: memory to store: redis keeps the meaning of its settings;
 * - it keeps one number per key (the theoretical arrival time, TAT), where a sliding-window log
 *   keeps one entry per request and a two-window counter only approximates;
 * - a batch of n tokens is one comparison and one addition (TAT += n × interval), which is what
 *   a process reserving several tokens at a time needs, and a partial grant is as cheap;
 * - a key is worth nothing once its bucket is full again (TAT ≤ now), so its TTL is exactly
 *   TAT − now: idle keys expire by themselves and Redis memory follows the active keys only.
 *
 * Time is Redis's own clock (TIME), so the routers' clocks need not agree.
 *
 * KEYS[1]  the bucket's key
 * ARGV[1]  emission interval T: microseconds per token (per / requests)
 * ARGV[2]  capacity τ: burst × T, microseconds
 * ARGV[3]  tokens wanted (≥ 1)
 * Returns {granted, waitUs}: granted tokens (0 to wanted; the TAT moves by granted × T), and
 * when none was granted the microseconds until one will be.
 *
 * Numbers: Lua in Redis has doubles only; microsecond timestamps (~1.7e15) are exact below
 * 2^53, and the TAT is written with %.0f so no exponent form loses digits.
 */
export const GCRA_RESERVE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local available = math.floor((now + capacity - tat) / interval)
if available < 1 then
  return {0, math.ceil(tat + interval - capacity - now)}
end
local granted = wanted
if available < granted then granted = available end
tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
return {granted, 0}
`;
