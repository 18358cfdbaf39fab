-- wrk script for scripts/bench-scale.sh: GET /users?limit=50&offset=X as an admin, X uniform
-- over the whole table (so most pages are deep ones: the API pages by offset).
--
--   wrk ... -s paging.lua URL -- TOKEN USERS
--
-- done() prints one line: RESULT n=... rps=... p50_ms=... p99_ms=... non2xx=... socket_errors=...

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

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
  local e = summary.errors
  local non2xx = 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + (t:get("bad") or 0)
  end
  io.write(string.format(
    "RESULT n=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, non2xx,
    e.connect + e.read + e.write + e.timeout))
end
