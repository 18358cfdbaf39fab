-- wrk script for scripts/bench-scale.sh: every request carries a credential that no earlier
-- request of the run used, so each one misses the server's caches (user states, verified
-- tokens, API keys, verified Basic credentials).
--
--   wrk -t T -c C ... -s cold.lua URL -- MODE SOURCE COUNT T C DONE_DIR [PASSWORD]
--
--   MODE bearer  SOURCE is a file of access tokens, one a line: GET /users/me, Authorization: Bearer
--   MODE apikey  SOURCE is a file of API keys, one a line:      GET /users/me, X-API-Key
--   MODE login   SOURCE is the first user index: password grant at /oauth2/token for
--                user%07d from SOURCE on, COUNT users, with PASSWORD
--
-- Thread t of T takes every T-th credential. Once it has answers for its share less one
-- credential per connection (those may still be in flight, and none may repeat), it stops and
-- touches DONE_DIR/t; the runner then interrupts wrk, which would otherwise wait out -d.
-- done() prints one line: RESULT n=... rps=... p50_ms=... p99_ms=... non2xx=... socket_errors=...

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
setup = common.setup

local requests, cap, i, answered, bad, done_dir

function init(args)
  local mode, source, count = args[1], args[2], tonumber(args[3])
  local nthreads, conns = tonumber(args[4]), tonumber(args[5])
  done_dir = args[6]
  local per_thread_conns = math.ceil(conns / nthreads)
  requests = {}
  if mode == "login" then
    local first, password = tonumber(source), args[7]
    local k = id
    while k < count do
      local body = string.format(
        "grant_type=password&client_id=swagger&username=user%07d&password=%s", first + k, password)
      requests[#requests + 1] = wrk.format("POST", "/oauth2/token",
        { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
      k = k + nthreads
    end
  else
    local n = 0
    for line in io.lines(source) do
      if n % nthreads == id and line ~= "" then
        local headers
        if mode == "bearer" then
          headers = { ["Authorization"] = "Bearer " .. line }
        else
          headers = { ["X-API-Key"] = line }
        end
        requests[#requests + 1] = wrk.format("GET", "/users/me", headers)
      end
      n = n + 1
    end
  end
  cap = #requests - per_thread_conns
  if cap < 1 then
    error("too few credentials for " .. conns .. " connections")
  end
  i, answered, bad = 0, 0, 0
end

function request()
  i = i + 1
  -- Past the share (answers still in flight when the thread stops): wrap, never recorded.
  return requests[(i - 1) % #requests + 1]
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    bad = bad + 1
  end
  if answered == cap then
    local f = io.open(done_dir .. "/" .. id, "w")
    if f then f:close() end
    wrk.thread:stop()
  end
end

function done(summary, latency, reqs)
  common.result(summary, latency)
end
