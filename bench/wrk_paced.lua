-- wrk script for the paced (fixed-rate) runs: each connection waits delay() ms before each request.
-- Debian's wrk has no constant-rate mode (that is wrk2). Each wait is drawn from an exponential
-- distribution with the mean asked for (the first script argument), so the connections never fall
-- into step: with equal waits they answer together, wait together and send together, and the server
-- sees bursts of every connection at once every few ms (measured: p99 through nginx 2.9 ms at
-- 13k req/s with equal waits, 1.4 ms with exponential ones). Arrivals then approximate a Poisson
-- process, the usual model of many independent clients. wrk's delay() is whole milliseconds, so each
-- wait is rounded up or down at random in proportion, which keeps the mean. Latency is timed from when
-- the request is written, after the wait. bench/pacing.py picks the connections and the mean wait.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")  -- the same done() report as the max-throughput runs

local mean_ms = 0

function init(args)
  mean_ms = tonumber(args[1]) or 0
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function delay()
  local wait = -mean_ms * math.log(1 - math.random())
  local whole = math.floor(wait)
  if math.random() < wait - whole then
    return whole + 1
  end
  return whole
end
