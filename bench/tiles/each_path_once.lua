-- wrk script: every path from the file named by BENCH_PATHS (one per line) requested exactly once.
-- Thread k of n takes the paths k, k + n, k + 2n, ...; it stops when all of its paths are answered and
-- appends "first-request last-answer" (CLOCK_MONOTONIC seconds) to BENCH_TIMES, because wrk itself
-- reports requests per second over its whole -d duration, however early its threads stopped.
-- A connection that is free after its thread's last path went out repeats that thread's first path
-- (an in-memory cache hit, at most connections - 1 per thread); the latencies include those.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local function now()
  local t = ffi.new("bench_timespec")
  ffi.C.clock_gettime(CLOCK_MONOTONIC, t)
  return tonumber(t.tv_sec) + tonumber(t.tv_nsec) / 1e9
end

local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("index", threads)
end

local mine = {}
local sent = 0
local answered = 0
local began = nil

init = function(args)
  local index = wrk.thread:get("index")
  local n = 0
  for line in io.lines(os.getenv("BENCH_PATHS")) do
    n = n + 1
    if (n - index) % tonumber(os.getenv("BENCH_THREADS")) == 0 then
      mine[#mine + 1] = line
    end
  end
end

request = function()
  began = began or now()
  sent = sent + 1
  return wrk.format("GET", mine[sent] or mine[1])
end

response = function(status, headers, body)
  answered = answered + 1
  if answered == #mine then
    local times = io.open(os.getenv("BENCH_TIMES"), "a")
    times:write(string.format("%.6f %.6f\n", began, now()))
    times:close()
    wrk.thread:stop()
  end
end
