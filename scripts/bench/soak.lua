-- wrk script for scripts/bench-scale.sh --soak: mixed traffic over many open connections.
--
--   wrk -t T ... -s soak.lua URL -- TOKENS_FILE KEYS_FILE PASSWORD USERS LOGINS_PER_S T STATS_DIR
--
-- Each request is, at random: GET /users/me with a bearer token (45%), GET /users/me with an
-- API key (35%), GET /healthz (20%); tokens and keys cycle through their files (a user's state
-- is cached until auth.cache_max_age_s, then read again). On top, a password grant for a random
-- seeded user (of the first USERS) whenever this thread is under its share of LOGINS_PER_S in
-- the current second.
--
-- Each thread writes its running totals to STATS_DIR/<thread> once a second (one line:
-- time requests 2xx 4xx 5xx other logins login_2xx); the runner samples them with the server's
-- RSS. done() prints the totals, socket errors included (wrk counts those itself).

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
setup = common.setup

local tokens, keys, password, users, login_share, stats_path
local ti, ki, second, logins_this_second
local n, ok, c4, c5, other, logins, logins_ok, last_flush
local healthz

local function load(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then out[#out + 1] = line end
  end
  return out
end

function init(args)
  tokens, keys = load(args[1]), load(args[2])
  password, users = args[3], tonumber(args[4])
  -- This thread's share of the logins per second.
  login_share = tonumber(args[5]) / tonumber(args[6])
  stats_path = args[7] .. "/" .. id
  math.randomseed(os.time() + id * 7919)
  ti, ki = id * 997 % #tokens, id * 991 % #keys
  second, logins_this_second = os.time(), 0
  n, ok, c4, c5, other, logins, logins_ok, last_flush = 0, 0, 0, 0, 0, 0, 0, 0
  healthz = wrk.format("GET", "/healthz")
end

function request()
  local now = os.time()
  if now ~= second then
    second, logins_this_second = now, 0
  end
  if logins_this_second < login_share then
    logins_this_second = logins_this_second + 1
    local body = string.format(
      "grant_type=password&client_id=swagger&username=user%07d&password=%s",
      math.random(0, users - 1), password)
    return wrk.format("POST", "/oauth2/token",
      { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
  end
  local r = math.random()
  if r < 0.45 then
    ti = ti % #tokens + 1
    return wrk.format("GET", "/users/me", { ["Authorization"] = "Bearer " .. tokens[ti] })
  elseif r < 0.80 then
    ki = ki % #keys + 1
    return wrk.format("GET", "/users/me", { ["X-API-Key"] = keys[ki] })
  end
  return healthz
end

local function flush(now)
  -- Written aside and renamed, so the runner never reads a half-written line.
  local f = io.open(stats_path .. ".tmp", "w")
  if f then
    f:write(string.format("%d %d %d %d %d %d %d %d\n", now, n, ok, c4, c5, other, logins, logins_ok))
    f:close()
    os.rename(stats_path .. ".tmp", stats_path)
  end
  last_flush = now
end

function response(status, headers, body)
  n = n + 1
  -- Only token answers carry "access_token"; a login is recognised by its answer.
  local is_login = body ~= nil and (body:find("access_token", 1, true) or body:find("invalid_grant", 1, true))
  if is_login then
    logins = logins + 1
    if status == 200 then logins_ok = logins_ok + 1 end
  end
  if status >= 200 and status <= 299 then
    ok = ok + 1
  elseif status >= 400 and status <= 499 then
    c4 = c4 + 1
  elseif status >= 500 then
    c5 = c5 + 1
  else
    other = other + 1
  end
  local now = os.time()
  if now ~= last_flush then flush(now) end
end

function done(summary, latency, reqs)
  local e = summary.errors
  io.write(string.format(
    "RESULT n=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
