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
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_no", threads)
end
function init(args)
  -- Each thread has its own Lua state: seed them differently.
  math.randomseed(os.time() * 1000 + (thread_no or 0))
end
if prefix ~= "" and count > 0 then
  request = function()
    return wrk.format(nil, nil, nil, "token=" .. prefix .. math.random(0, count - 1))
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
