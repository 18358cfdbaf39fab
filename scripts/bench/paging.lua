-- wrk script for scripts/bench-scale.sh: GET /users?limit=50 as an admin, at a random depth each
-- request, in one of two ways:
--
--   wrk ... -s paging.lua URL -- TOKEN offset USERS        # offset=X, X uniform over the table
--   wrk ... -s paging.lua URL -- TOKEN cursor CURSORS_FILE # cursor=C, C a random line of the file
--                                                          # (`seed cursors`: spread over the table)
--
-- An offset page walks the X rows before it; a cursor page starts at its key through the index,
-- so it costs the same at any depth (docs/benchmarks.md, "Scale").
--
-- done() prints one line: RESULT n=... rps=... p50_ms=... p99_ms=... non2xx=... socket_errors=...

local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
setup = common.setup

local headers, mode, users, cursors, bad

function init(args)
  headers = { ["Authorization"] = "Bearer " .. args[1] }
  mode = args[2]
  if mode == "cursor" then
    cursors = {}
    for line in io.lines(args[3]) do
      table.insert(cursors, line)
    end
    assert(#cursors > 0, "no cursors in " .. args[3])
  else
    assert(mode == "offset", "mode is offset or cursor, not " .. tostring(mode))
    users = tonumber(args[3])
  end
  bad = 0
  math.randomseed(os.time() + id * 7919)
end

function request()
  if mode == "cursor" then
    return wrk.format("GET", "/users?limit=50&cursor=" .. cursors[math.random(#cursors)], headers)
  end
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
