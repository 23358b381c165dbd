//! The shared ledger's Redis scripts: each one round trip, atomic. An account's hash holds
//! `avail` (what no instance holds), `gen` (moves on each commit and re-base) and one
//! `o:<instance>` field per instance holding part of it: what it leased and has not given
//! back or committed. So `avail + Σ o:* = database` once every commit has landed.
//!
//! Numbers are formatted with `%d`: Lua's own formatting would round large integers.

/// Redis's clock in milliseconds (scripts run with effects replication, so TIME is allowed).
const NOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// KEYS: instances, held-set, account... ARGV: instance, then (need, hint) per account.
/// Answers {-1} when the instance's registration lapsed, {-2, i} when account i is not
/// initialised, {-3, i} when account i cannot cover its need (nothing is taken), else
/// {0, grant...}: each need plus up to a quarter of the rest, at most 32 hints, in whole
/// hints (slices of calls of one size do not fragment).
pub fn lease() -> String {
    format!(
        r"{NOW}
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp or tonumber(exp) < now then return {{-1}} end
local grants = {{0}}
for i = 3, #KEYS do
  local avail = redis.call('HGET', KEYS[i], 'avail')
  if not avail then return {{-2, i - 2}} end
  avail = tonumber(avail)
  local need = tonumber(ARGV[2 * (i - 2)])
  local hint = tonumber(ARGV[2 * (i - 2) + 1])
  local grant = 0
  if need > 0 then
    if avail < need then return {{-3, i - 2}} end
    local extra = math.min(math.floor((avail - need) / 4), hint * 32)
    if hint > 0 then extra = math.floor(extra / hint) * hint end
    grant = need + math.max(0, extra)
  end
  grants[i - 1] = grant
end
for i = 3, #KEYS do
  local g = grants[i - 1]
  if g > 0 then
    redis.call('HINCRBY', KEYS[i], 'avail', string.format('%d', -g))
    redis.call('HINCRBY', KEYS[i], 'o:' .. ARGV[1], string.format('%d', g))
    redis.call('SADD', KEYS[2], KEYS[i])
  end
end
return grants
"
    )
}

/// KEYS: account. ARGV: the database's value. Creates the account when it is missing.
pub const INIT: &str = r"
if redis.call('HEXISTS', KEYS[1], 'avail') == 0 then
  redis.call('HSET', KEYS[1], 'avail', ARGV[1], 'gen', 0)
end
return 0
";

/// KEYS: held-set, account. ARGV: instance, amount. Holds `amount` under the instance
/// whatever `avail` is (it may go below zero): what calls under way hold when an instance
/// lapsed and registered anew. Answers -2 when the account is not initialised.
pub const HOLD: &str = r"
if redis.call('HEXISTS', KEYS[2], 'avail') == 0 then return -2 end
redis.call('HINCRBY', KEYS[2], 'avail', string.format('%d', -tonumber(ARGV[2])))
redis.call('HINCRBY', KEYS[2], 'o:' .. ARGV[1], ARGV[2])
redis.call('SADD', KEYS[1], KEYS[2])
return 0
";

/// KEYS: account. ARGV: instance, amount. Gives back up to what the instance holds; answers
/// what was given back (nothing when its holding was reclaimed meanwhile).
pub const GIVE_BACK: &str = r"
local f = 'o:' .. ARGV[1]
local o = tonumber(redis.call('HGET', KEYS[1], f) or '0')
local r = math.min(tonumber(ARGV[2]), o)
if r <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'avail', string.format('%d', r))
if o == r then
  redis.call('HDEL', KEYS[1], f)
else
  redis.call('HINCRBY', KEYS[1], f, string.format('%d', -r))
end
return r
";

/// KEYS: account. ARGV: instance, quota. The instance's batch writer committed `quota` to
/// the database: its holding shrinks by as much (or, reclaimed meanwhile, what no instance
/// holds does), and the generation moves on.
pub const COMMIT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local f = 'o:' .. ARGV[1]
local q = tonumber(ARGV[2])
local o = redis.call('HGET', KEYS[1], f)
if o then
  local left = tonumber(o) - q
  if left > 0 then
    redis.call('HSET', KEYS[1], f, string.format('%d', left))
  else
    redis.call('HDEL', KEYS[1], f)
    if left < 0 then redis.call('HINCRBY', KEYS[1], 'avail', string.format('%d', left)) end
  end
else
  redis.call('HINCRBY', KEYS[1], 'avail', string.format('%d', -q))
end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return 0
";

/// KEYS: account. ARGV: generation read before the database, the database's value, and a
/// dead instance ('' for none) whose holding is dropped. Re-bases `avail` on the database
/// unless a commit or re-base landed since the generation was read (answers 0 then).
pub const REBASE: &str = r"
local g = redis.call('HGET', KEYS[1], 'gen')
if not g then return 1 end
if g ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' then redis.call('HDEL', KEYS[1], 'o:' .. ARGV[3]) end
local fields = redis.call('HGETALL', KEYS[1])
local held = 0
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 2) == 'o:' then held = held + tonumber(fields[i + 1]) end
end
redis.call('HSET', KEYS[1], 'avail', string.format('%d', tonumber(ARGV[2]) - held))
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return 1
";

/// KEYS: instances. ARGV: instance, lease milliseconds, '1' to register anew. Renews the
/// registration; answers 0 when it had lapsed (its holdings may be reclaimed already).
pub fn heartbeat() -> String {
    format!(
        r"{NOW}
if ARGV[3] ~= '1' then
  local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not exp or tonumber(exp) < now then return 0 end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"
    )
}

/// KEYS: instances. The instances whose registration lapsed.
pub fn lapsed() -> String {
    format!(
        r"{NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
"
    )
}
