-- wrk script for the paced (fixed-rate) runs: each connection waits delay() ms before each request.
-- Debian's wrk has no constant-rate mode (that is wrk2), and wrk's delay() is whole milliseconds, so a
-- fractional mean delay (the first script argument) is rounded up or down at random in the right
-- proportion: the mean over many requests is the fraction asked for. Latency is timed from when the
-- request is written, after the delay. bench/pacing.py picks the connections and the mean delay.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_report.lua")  -- the same done() report as the max-throughput runs

local whole, fraction = 0, 0

function init(args)
  local mean = tonumber(args[1]) or 0
  whole = math.floor(mean)
  fraction = mean - whole
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function delay()
  if math.random() < fraction then
    return whole + 1
  end
  return whole
end
