-- wrk script for the fallback load generator: POST a form body with one
-- extra header, and print a machine-readable summary line for summarize.py.
-- WRK_BODY: form body (empty = GET); WRK_HEADER: "Name: value" (optional).
local body = os.getenv("WRK_BODY") or ""
if body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local header = os.getenv("WRK_HEADER") or ""
local name, value = header:match("^([^:]+):%s*(.*)$")
if name then
  wrk.headers[name] = value
end

-- WRK_TOKEN_PREFIX / WRK_TOKEN_COUNT: instead of WRK_BODY, each request
-- introspects a random seeded token "token=<prefix><0..count-1>".
local prefix = os.getenv("WRK_TOKEN_PREFIX") or ""
local count = tonumber(os.getenv("WRK_TOKEN_COUNT") or "0") or 0

-- WRK_VALUES_FILE / WRK_THREADS: single-use values (authorization codes,
-- rotating refresh tokens), one a line. Each request's body is WRK_BODY
-- followed by the next value. Every wrk thread has its own Lua state, so
-- thread N (1-based) of WRK_THREADS takes lines N, N+WRK_THREADS, …: no value
-- is handed out twice. When a thread's share runs out it stops (it never
-- reuses one); the summary then says "exhausted" and the run's figures are
-- not valid. Every answer other than 200 is counted as non-200.
local values_file = os.getenv("WRK_VALUES_FILE") or ""
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1") or 1
-- A request sent after a thread's values ran out, while it stops: a path
-- the server answers with 404, so its answer is recognizable and not
-- counted (a token endpoint answer is never 404).
local EXHAUSTED_PATH = "/bench-values-exhausted"

local threads = 0
local all_threads = {}
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
  table.insert(all_threads, thread)
end

-- Per-thread state (each thread's own Lua state). The counters are globals
-- so that done() can read them with thread:get().
local values, n_values, next_value = nil, 0, 1
v_loaded, v_handed, v_ok, v_non200, v_stray, v_exhausted = 0, 0, 0, 0, 0, 0

function init(args)
  -- Each thread has its own Lua state: seed them differently.
  math.randomseed(os.time() * 1000 + (thread_no or 0))
  if values_file ~= "" then
    values = {}
    local me = (thread_no or 1) - 1
    local i = 0
    for line in io.lines(values_file) do
      if line ~= "" then
        if i % nthreads == me then
          values[#values + 1] = line
        end
        i = i + 1
      end
    end
    n_values = #values
    v_loaded = n_values
  end
end

if values_file ~= "" then
  local prefix_body = body
  request = function()
    if next_value > n_values then
      if v_exhausted == 0 then
        v_exhausted = 1
        wrk.thread:stop()
      end
      return wrk.format("GET", EXHAUSTED_PATH, nil, "")
    end
    local v = values[next_value]
    values[next_value] = nil -- handed out: never again
    next_value = next_value + 1
    v_handed = v_handed + 1
    return wrk.format(nil, nil, nil, prefix_body .. v)
  end
  response = function(status, headers, resp_body)
    if status == 200 then
      v_ok = v_ok + 1
    elseif status == 404 and v_exhausted == 1 then
      v_stray = v_stray + 1
    else
      v_non200 = v_non200 + 1
      if v_non200 <= 3 then
        io.stderr:write(string.format("[wrk thread %d] HTTP %d: %s\n", thread_no or 0, status,
          (resp_body or ""):sub(1, 300)))
      end
    end
  end
elseif prefix ~= "" and count > 0 then
  request = function()
    return wrk.format(nil, nil, nil, "token=" .. prefix .. math.random(0, count - 1))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local extra = ""
  if values_file ~= "" then
    local loaded_n, handed, bad, ok, strays, ex = 0, 0, 0, 0, 0, 0
    for _, t in ipairs(all_threads) do
      loaded_n = loaded_n + (t:get("v_loaded") or 0)
      handed = handed + (t:get("v_handed") or 0)
      bad = bad + (t:get("v_non200") or 0)
      ok = ok + (t:get("v_ok") or 0)
      strays = strays + (t:get("v_stray") or 0)
      ex = ex + (t:get("v_exhausted") or 0)
    end
    extra = string.format(',"values_loaded":%d,"values_handed_out":%d,"ok_200":%d,' ..
      '"non_200":%d,"exhausted_threads":%d,"stray_after_exhaustion":%d',
      loaded_n, handed, ok, bad, ex, strays)
  end
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d%s}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, extra))
end
