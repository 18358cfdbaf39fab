-- What the wrk scripts of scripts/bench-scale.sh share, loaded by each from its own folder:
--
--   local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
--   setup = common.setup
--
-- setup() numbers the threads (each reads its `id`) and keeps them for done(); result() prints
-- one line: RESULT n=... rps=... p50_ms=... p90_ms=... p99_ms=... max_ms=... non2xx=...
-- socket_errors=..., non2xx being the sum of the threads' `bad` counters.

local M = { threads = {} }
local next_id = 0

function M.setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(M.threads, thread)
end

function M.result(summary, latency)
  local e = summary.errors
  local non2xx = 0
  for _, t in ipairs(M.threads) do
    non2xx = non2xx + (t:get("bad") or 0)
  end
  io.write(string.format(
    "RESULT n=%d rps=%.0f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, non2xx,
    e.connect + e.read + e.write + e.timeout))
end

return M
