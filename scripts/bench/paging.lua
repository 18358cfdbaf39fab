-- wrk script for scripts/bench-scale.sh: GET /users?limit=50&offset=X as an admin, X uniform
-- over the whole table (so most pages are deep ones; a `cursor` page costs the same at any depth,
-- docs/benchmarks.md).
--
--   wrk ... -s paging.lua URL -- TOKEN USERS
--
-- done() prints one line: RESULT n=... rps=... p50_ms=... p99_ms=... non2xx=... socket_errors=...

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
setup = common.setup

local headers, users, bad

function init(args)
  headers = { ["Authorization"] = "Bearer " .. args[1] }
  users = tonumber(args[2])
  bad = 0
  math.randomseed(os.time() + id * 7919)
end

function request()
  local offset = math.random(0, math.max(users - 50, 0))
  return wrk.format("GET", "/users?limit=50&offset=" .. offset, headers)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  end
end

function done(summary, latency, reqs)
  common.result(summary, latency)
end
