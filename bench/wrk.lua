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

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
