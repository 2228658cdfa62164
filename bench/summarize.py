#!/usr/bin/env python3
"""Normalizes a load generator's output to one JSON object:
{"rps", "p50_ms", "p99_ms", "errors", "non_2xx", "requests"}.

usage: summarize.py oha FILE   (oha --output-format json / --json output)
       summarize.py wrk FILE   (wrk output with the "JSON {...}" line from wrk.lua)

rps counts every HTTP response received (whatever its status) per second of
the run; `errors` are transport-level failures (connect, read, timeout...);
`non_2xx` are responses whose status is not 2xx (with wrk.lua's single-use
values: not 200, counted by the script; see "single_use").
"""
import json
import sys

# With -w (wait for in-flight requests after the deadline) oha reports none of
# these; older oha without -w reports the in-flight requests cut at the end.
DEADLINE_ABORT = "aborted due to deadline"


def oha(path):
    d = json.load(open(path))
    summary = d["summary"]
    codes = {int(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
    errs = d.get("errorDistribution") or {}
    errors = sum(v for k, v in errs.items() if DEADLINE_ABORT not in k)
    responses = sum(codes.values())
    total = summary.get("total") or 0
    rps = responses / total if total else 0.0
    pct = d.get("latencyPercentiles") or {}
    return {
        "rps": rps,
        "p50_ms": (pct.get("p50") or 0) * 1000,
        "p99_ms": (pct.get("p99") or 0) * 1000,
        "errors": errors,
        "non_2xx": sum(v for k, v in codes.items() if not 200 <= k < 300),
        "requests": responses,
        "error_kinds": {k: v for k, v in errs.items() if DEADLINE_ABORT not in k},
    }


def wrk(path):
    line = next(l for l in open(path) if l.startswith("JSON "))
    w = json.loads(line[5:])
    secs = w["duration_us"] / 1e6
    errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
    out = {
        "rps": w["requests"] / secs if secs else 0.0,
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
        "errors": errors,
        # wrk counts only status >= 400 as "status" errors.
        "non_2xx": w["status"],
        "requests": w["requests"],
        "error_kinds": {k: w[k] for k in ("connect", "read", "write", "timeout") if w[k]},
    }
    if "values_loaded" in w:
        # Single-use values (wrk.lua's WRK_VALUES_FILE): the script counted
        # every answer other than 200 itself.
        out["non_2xx"] = w["non_200"]
        out["single_use"] = {k: w[k] for k in (
            "values_loaded", "values_handed_out", "ok_200", "non_200",
            "exhausted_threads", "stray_after_exhaustion")}
    return out


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    print(json.dumps({"oha": oha, "wrk": wrk}[kind](path)))
