#!/usr/bin/env bash
# Tollgate benchmark harness: builds the release binary, starts real servers on
# loopback and drives them with a real HTTP load generator (oha, or wrk as a
# fallback). Prints one JSON line per scenario and concurrency on stdout and
# appends the same lines to bench/out/results-<timestamp>.jsonl. Progress and
# diagnostics go to stderr. See bench/README.md for the knobs.
#
# These are benchmarks, not tests: nothing here fails on a slow figure; the
# script fails only if a server cannot be built, started or reached.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
OUT_DIR="$BENCH_DIR/out"
mkdir -p "$OUT_DIR"

DURATION="${BENCH_DURATION:-10}"          # seconds per measured run
WARMUP="${BENCH_WARMUP:-2}"               # seconds of warm-up before each scenario
CONCURRENCY="${BENCH_CONCURRENCY:-16 64}"
SCENARIOS="${BENCH_SCENARIOS:-ceiling cc_sqlite cc_postgres introspect_sqlite}"
PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
PG_PSQL="${BENCH_PSQL:-psql -h 127.0.0.1 -U postgres -d test}"
LOADGEN="${BENCH_LOADGEN:-}"              # oha | wrk; empty = oha, else wrk
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"
SQLITE_SYNC="${BENCH_SQLITE_SYNC:-}"      # full | normal; empty = server default
SQLITE_TUNING="${BENCH_SQLITE_TUNING:-}"  # empty = server default; off | cache | on (see README)
PERF="${BENCH_PERF:-}"                    # "scenario:concurrency", e.g. cc_sqlite:64
SEED_LIVE="${BENCH_SEED_LIVE:-1000000}"   # live tokens in the *_1m scenarios
SEED_SMALL="${BENCH_SEED_SMALL:-10000}"   # live tokens in the *_10k baselines
SEED_EXPIRED="${BENCH_SEED_EXPIRED:-200000}" # expired tokens refilled before each *_purge run
TS="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$OUT_DIR/results-$TS.jsonl"
CEILING_TARGET_DIR="${BENCH_CEILING_TARGET_DIR:-$ROOT/target/bench-ceiling}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")"
PIDS=()
PG_SCHEMAS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
    done
    for s in "${PG_SCHEMAS[@]:-}"; do
        [ -n "$s" ] && $PG_PSQL -q -c "DROP SCHEMA IF EXISTS \"$s\" CASCADE" >/dev/null 2>&1 || true
    done
    if [ "${BENCH_KEEP_WORK:-0}" = 1 ]; then
        log "kept work dir $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tooling ---

ensure_loadgen() {
    if [ -z "$LOADGEN" ] || [ "$LOADGEN" = oha ]; then
        if ! oha --version >/dev/null 2>&1; then
            log "installing oha (cargo install oha --locked)"
            if ! cargo install oha --locked >&2; then
                [ "$LOADGEN" = oha ] && die "oha could not be installed"
                log "oha failed to install; falling back to wrk"
            fi
        fi
        if oha --version >/dev/null 2>&1; then
            LOADGEN=oha
            return
        fi
    fi
    if ! command -v wrk >/dev/null 2>&1; then
        log "installing wrk (apt-get install -y wrk)"
        (apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }) \
            || die "neither oha nor wrk could be installed"
    fi
    LOADGEN=wrk
}

loadgen_version() {
    case "$LOADGEN" in
        oha) oha --version 2>/dev/null | head -n1 ;;
        wrk) wrk -v 2>&1 | head -n1 ;;
    esac
}

# oha renamed its JSON switch: newer versions use --output-format json.
OHA_JSON=()
OHA_WAIT=()
oha_flags() {
    local help
    help="$(oha --help 2>&1)"
    if grep -q -- '--output-format' <<<"$help"; then
        OHA_JSON=(--output-format json)
    else
        OHA_JSON=(--json)
    fi
    # Without this, requests in flight at the deadline count as errors.
    if grep -q -- '--wait-ongoing-requests-after-deadline' <<<"$help"; then
        OHA_WAIT=(-w)
    fi
}

build() {
    if [ "$SKIP_BUILD" = 1 ]; then
        log "BENCH_SKIP_BUILD=1: not building"
    else
        log "building tollgate (release)"
        (cd "$ROOT" && cargo build --release -p tollgate >&2)
        log "building the ceiling server (release)"
        (cd "$BENCH_DIR/ceiling" && CARGO_TARGET_DIR="$CEILING_TARGET_DIR" cargo build --release >&2)
    fi
    TOLLGATE_BIN="$ROOT/target/release/tollgate"
    CEILING_BIN="$CEILING_TARGET_DIR/release/tollgate-bench-ceiling"
    [ -x "$TOLLGATE_BIN" ] || die "$TOLLGATE_BIN missing"
    [ -x "$CEILING_BIN" ] || die "$CEILING_BIN missing"
}

# ---------------------------------------------------------------- servers ---

# wait_listen LOGFILE PID PATTERN -> prints the base URL
wait_listen() {
    local logf="$1" pid="$2" i url
    for i in $(seq 1 300); do
        url="$(grep -oE 'listening on http://[0-9.:]+' "$logf" 2>/dev/null | head -n1 | sed 's/listening on //')" || true
        if [ -n "$url" ]; then
            printf '%s\n' "$url"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "server exited before listening"; }
        sleep 0.1
    done
    die "server did not report a listening address in 30 s"
}

start_ceiling() {
    local logf="$WORK/ceiling.out"
    "$CEILING_BIN" 127.0.0.1:0 >"$logf" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL="$(wait_listen "$logf" "$SERVER_PID")"
}

# tollgate_env BACKEND DATA_DIR [SCHEMA]: exports the server's configuration.
tollgate_env() {
    local backend="$1" dir="$2" schema="${3:-}"
    export TOLLGATE_SERVER__LISTEN=127.0.0.1:0
    export TOLLGATE_SERVER__DATA_DIR="$dir"
    export TOLLGATE_LOG__LEVEL=warn
    unset TOLLGATE_DATABASE__SCHEMA TOLLGATE_TOKENS__ACCESS_TOKEN_FORMAT TOLLGATE_DATABASE__SQLITE_SYNCHRONOUS \
        TOLLGATE_CACHE__TOKEN_CAPACITY TOLLGATE_PURGE__INTERVAL_SECS \
        TOLLGATE_DATABASE__SQLITE_CACHE_MIB TOLLGATE_DATABASE__SQLITE_BACKGROUND_CHECKPOINT
    case "$backend" in
        sqlite)
            export TOLLGATE_DATABASE__URL="sqlite://$dir/tollgate.db"
            [ -n "$SQLITE_SYNC" ] && export TOLLGATE_DATABASE__SQLITE_SYNCHRONOUS="$SQLITE_SYNC"
            case "$SQLITE_TUNING" in
                off)
                    export TOLLGATE_DATABASE__SQLITE_CACHE_MIB=2
                    export TOLLGATE_DATABASE__SQLITE_BACKGROUND_CHECKPOINT=false
                    ;;
                cache)
                    export TOLLGATE_DATABASE__SQLITE_CACHE_MIB=64
                    export TOLLGATE_DATABASE__SQLITE_BACKGROUND_CHECKPOINT=false
                    ;;
                on)
                    export TOLLGATE_DATABASE__SQLITE_CACHE_MIB=64
                    export TOLLGATE_DATABASE__SQLITE_BACKGROUND_CHECKPOINT=true
                    ;;
            esac
            ;;
        postgres)
            export TOLLGATE_DATABASE__URL="$PG_URL"
            export TOLLGATE_DATABASE__SCHEMA="$schema"
            ;;
    esac
    if [ "${TOKEN_FORMAT:-opaque}" = jwt ]; then
        export TOLLGATE_TOKENS__ACCESS_TOKEN_FORMAT=jwt
    fi
    # Every introspection goes to the store (measures the store, not moka).
    [ "${NO_TOKEN_CACHE:-0}" = 1 ] && export TOLLGATE_CACHE__TOKEN_CAPACITY=0
    # The purge scenarios: a run every second instead of every minute.
    [ "${PURGE_FAST:-0}" = 1 ] && export TOLLGATE_PURGE__INTERVAL_SECS=1
    return 0
}

# ---------------------------------------------------------------- seeding ---

# A seeded SQLite database is built once per run and copied into each
# scenario's data directory (copying 300 MB beats re-inserting 1M rows).
declare -A SQLITE_TEMPLATES=()

# seed_store BACKEND DIR SCHEMA COUNT: COUNT live tokens "bench-live-N",
# valid for a day, before the server starts. Sets SEED_TARGET.
seed_store() {
    local backend="$1" dir="$2" schema="$3" count="$4" tpl
    case "$backend" in
        sqlite)
            SEED_TARGET="$dir/tollgate.db"
            tpl="${SQLITE_TEMPLATES[$count]:-}"
            if [ -z "$tpl" ]; then
                tpl="$WORK/template-$count/tollgate.db"
                mkdir -p "$(dirname "$tpl")"
                log "seeding a SQLite template with $count live tokens"
                TOLLGATE_DATABASE__URL="sqlite://$tpl" "$TOLLGATE_BIN" migrate >/dev/null \
                    || die "tollgate migrate failed"
                python3 "$BENCH_DIR/seed.py" sqlite "$tpl" bench-live- "$count" 86400
                SQLITE_TEMPLATES[$count]="$tpl"
            fi
            cp "$tpl" "$SEED_TARGET"
            ;;
        postgres)
            SEED_TARGET="$schema"
            TOLLGATE_DATABASE__SCHEMA="$schema" "$TOLLGATE_BIN" migrate >/dev/null \
                || die "tollgate migrate failed"
            python3 "$BENCH_DIR/seed.py" postgres "$schema" bench-live- "$count" 86400
            ;;
    esac
}

# Before each measured run of a *_purge scenario: SEED_EXPIRED tokens that
# expired a minute ago, for the running server's purge to work off.
refill_expired() { # CONCURRENCY
    python3 "$BENCH_DIR/seed.py" "$SEED_BACKEND" "$SEED_TARGET" "bench-exp-$1-" "$SEED_EXPIRED" -60
}

# After each measured run of a *_purge scenario: how many expired tokens the
# purge left (sets EXTRA_JSON).
count_expired() {
    local left
    case "$SEED_BACKEND" in
        sqlite)
            left="$(python3 -c 'import sqlite3,sys,time
con = sqlite3.connect(sys.argv[1], timeout=60)
print(con.execute("SELECT count(*) FROM tokens WHERE expires_at < ?", (int(time.time()),)).fetchone()[0])' "$SEED_TARGET")"
            ;;
        postgres)
            left="$($PG_PSQL -tA -c "SELECT count(*) FROM \"$SEED_TARGET\".tokens WHERE expires_at < extract(epoch FROM now())")"
            ;;
    esac
    EXTRA_JSON="{\"expired_seeded\":$SEED_EXPIRED,\"expired_left\":$left}"
}

# start_tollgate BACKEND: fresh data dir (and schema), one client, a server.
# Sets SERVER_PID, SERVER_URL, AUTH_HEADER.
start_tollgate() {
    local backend="$1" dir schema="" creds id secret logf
    dir="$(mktemp -d "$WORK/data-$backend.XXXX")"
    if [ "$backend" = postgres ]; then
        schema="bench_${TS,,}_$$_${RANDOM}"
        PG_SCHEMAS+=("$schema")
    fi
    tollgate_env "$backend" "$dir" "$schema"
    SEED_BACKEND="$backend"
    if [ "${SEED:-0}" -gt 0 ]; then
        seed_store "$backend" "$dir" "$schema" "$SEED"
    fi
    creds="$("$TOLLGATE_BIN" client add bench --scope "read write" --json)" \
        || die "tollgate client add failed ($backend)"
    id="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$creds")"
    secret="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$creds")"
    AUTH_HEADER="Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
    logf="$dir/server.out"
    "$TOLLGATE_BIN" serve >"$logf" 2>"$dir/server.err" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL="$(wait_listen "$logf" "$SERVER_PID")"
    log "tollgate ($backend${schema:+, schema $schema}) at $SERVER_URL, pid $SERVER_PID"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

get_token() {
    local resp
    resp="$(curl -fsS -H "$AUTH_HEADER" -d 'grant_type=client_credentials&scope=read' "$SERVER_URL/oauth2/token")" \
        || die "could not obtain a token from $SERVER_URL"
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$resp"
}

# ------------------------------------------------------------------- load ---

# run_load SECONDS CONCURRENCY URL BODY JSON_OUT [HEADER]
# BODY empty = GET. Writes a normalized JSON summary to JSON_OUT.
run_load() {
    local secs="$1" conc="$2" url="$3" body="$4" out="$5" header="${6:-}"
    case "$LOADGEN" in
        oha)
            local args=(--no-tui -z "${secs}s" -c "$conc" "${OHA_WAIT[@]}" "${OHA_JSON[@]}")
            if [ -n "$body" ]; then
                args+=(-m POST -T application/x-www-form-urlencoded -d "$body")
            fi
            [ -n "$header" ] && args+=(-H "$header")
            oha "${args[@]}" "$url" >"$out.raw" 2>"$out.err" || { cat "$out.err" >&2; die "oha failed"; }
            python3 "$BENCH_DIR/summarize.py" oha "$out.raw" >"$out"
            ;;
        wrk)
            local threads=2
            [ "$conc" -lt "$threads" ] && threads="$conc"
            WRK_BODY="$body" WRK_HEADER="$header" \
                WRK_TOKEN_PREFIX="${RANDOM_TOKEN_PREFIX:-}" WRK_TOKEN_COUNT="${RANDOM_TOKEN_COUNT:-0}" \
                wrk -t"$threads" -c"$conc" -d"${secs}s" --latency -s "$BENCH_DIR/wrk.lua" "$url" \
                >"$out.raw" 2>"$out.err" || { cat "$out.err" >&2; die "wrk failed"; }
            python3 "$BENCH_DIR/summarize.py" wrk "$out.raw" >"$out"
            ;;
    esac
}

declare -A CEILING_RPS=()

# measure SCENARIO URL BODY [HEADER]: warm-up, then one run per concurrency.
measure() {
    local scenario="$1" url="$2" body="$3" header="${4:-}" conc out perf_pid line ceiling
    log "$scenario: warm-up ${WARMUP}s"
    run_load "$WARMUP" 16 "$url" "$body" "$WORK/warmup.json" "$header"
    for conc in $CONCURRENCY; do
        out="$WORK/$scenario-c$conc.json"
        perf_pid=""
        if [ "$PERF" = "$scenario:$conc" ]; then
            local pdata="$OUT_DIR/perf-$scenario-c$conc-$TS.data"
            log "$scenario c=$conc: perf record -g on pid $SERVER_PID -> $pdata"
            perf record -e cpu-clock -g -F 999 -p "$SERVER_PID" -o "$pdata" -- sleep "$DURATION" >/dev/null 2>"$WORK/perf.err" &
            perf_pid=$!
        fi
        [ -n "${BEFORE_RUN:-}" ] && "$BEFORE_RUN" "$conc"
        log "$scenario c=$conc: ${DURATION}s"
        run_load "$DURATION" "$conc" "$url" "$body" "$out" "$header"
        EXTRA_JSON="{}"
        [ -n "${AFTER_RUN:-}" ] && "$AFTER_RUN" "$conc"
        if [ -n "$perf_pid" ]; then
            wait "$perf_pid" || { cat "$WORK/perf.err" >&2; log "perf record failed"; }
        fi
        if [ "$scenario" = ceiling ]; then
            CEILING_RPS[$conc]="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$out")"
        fi
        ceiling="${CEILING_RPS[$conc]:-}"
        line="$(python3 - "$out" "$scenario" "$conc" "$ceiling" "$EXTRA_JSON" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ceiling = float(sys.argv[4]) if sys.argv[4] else None
frac = round(s["rps"] / ceiling, 3) if ceiling else None
print(json.dumps({**json.loads(sys.argv[5]), **{
    "scenario": sys.argv[2],
    "concurrency": int(sys.argv[3]),
    "rps": round(s["rps"], 1),
    "p50_ms": round(s["p50_ms"], 3),
    "p99_ms": round(s["p99_ms"], 3),
    "errors": s["errors"],
    "non_2xx": s["non_2xx"],
    "fraction_of_ceiling": frac,
}}, separators=(",", ":")))
PY
)"
        printf '%s\n' "$line"
        printf '%s\n' "$line" >>"$RESULTS"
    done
}

# -------------------------------------------------------------- scenarios ---

scenario_ceiling() {
    start_ceiling
    measure ceiling "$SERVER_URL/" "grant_type=client_credentials&scope=read" "$AUTH_DUMMY"
    stop_server
}

scenario_cc() { # BACKEND NAME
    start_tollgate "$1"
    get_token >/dev/null # fail early if the server does not answer
    measure "$2" "$SERVER_URL/oauth2/token" "grant_type=client_credentials&scope=read" "$AUTH_HEADER"
    stop_server
}

scenario_introspect() { # BACKEND NAME
    local token
    start_tollgate "$1"
    token="$(get_token)"
    measure "$2" "$SERVER_URL/oauth2/introspect" "token=$token" "$AUTH_HEADER"
    stop_server
}

# Large-store scenarios (see README.md): SEED live tokens before the server
# starts; the purge runs as configured by default (every 60 s).

scenario_cc_seeded() { # BACKEND NAME
    SEED="$SEED_LIVE" scenario_cc "$1" "$2"
}

# With the purge working off SEED_EXPIRED expired tokens during each run.
scenario_cc_purge() { # BACKEND NAME
    SEED="$SEED_LIVE" PURGE_FAST=1 BEFORE_RUN=refill_expired AFTER_RUN=count_expired \
        scenario_cc "$1" "$2"
}

# Introspection of random seeded tokens with the token cache off, so every
# request is a primary-key lookup in a store of COUNT tokens. Needs wrk (a
# different body per request).
scenario_introspect_random() { # BACKEND NAME COUNT
    local saved="$LOADGEN"
    ensure_wrk
    LOADGEN=wrk
    start_tollgate_seeded "$1" "$3"
    RANDOM_TOKEN_PREFIX=bench-live- RANDOM_TOKEN_COUNT="$3" \
        measure "$2" "$SERVER_URL/oauth2/introspect" "token=x" "$AUTH_HEADER"
    stop_server
    LOADGEN="$saved"
}

start_tollgate_seeded() { # BACKEND COUNT
    SEED="$2" NO_TOKEN_CACHE=1 start_tollgate "$1"
}

ensure_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        log "installing wrk (apt-get install -y wrk)"
        (apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }) \
            || die "wrk could not be installed"
    fi
}

# ------------------------------------------------------------------- main ---

ensure_loadgen
[ "$LOADGEN" = oha ] && oha_flags
build
if [ -n "$PERF" ]; then
    # Hardware counters are often missing in VMs: sample on the cpu-clock
    # software event, which works wherever perf works at all.
    perf stat -e cpu-clock true >/dev/null 2>&1 || die "BENCH_PERF set but perf does not work here"
fi

# The ceiling gets the same request shape (POST, form body, Basic header).
AUTH_DUMMY="Authorization: Basic $(printf 'x:y' | base64 -w0)"

log "load generator: $(loadgen_version); duration ${DURATION}s; concurrency: $CONCURRENCY"
log "results: $RESULTS"
case " $SCENARIOS " in *" ceiling "*) ;; *) log "note: no ceiling scenario, fraction_of_ceiling will be null" ;; esac

for s in $SCENARIOS; do
    case "$s" in
        ceiling) scenario_ceiling ;;
        cc_sqlite) scenario_cc sqlite cc_sqlite ;;
        cc_postgres) scenario_cc postgres cc_postgres ;;
        cc_jwt_sqlite) TOKEN_FORMAT=jwt scenario_cc sqlite cc_jwt_sqlite ;;
        introspect_sqlite) scenario_introspect sqlite introspect_sqlite ;;
        introspect_postgres) scenario_introspect postgres introspect_postgres ;;
        cc_sqlite_1m) scenario_cc_seeded sqlite cc_sqlite_1m ;;
        cc_postgres_1m) scenario_cc_seeded postgres cc_postgres_1m ;;
        cc_sqlite_1m_purge) scenario_cc_purge sqlite cc_sqlite_1m_purge ;;
        cc_postgres_1m_purge) scenario_cc_purge postgres cc_postgres_1m_purge ;;
        introspect_sqlite_nocache_10k) scenario_introspect_random sqlite introspect_sqlite_nocache_10k "$SEED_SMALL" ;;
        introspect_sqlite_nocache_1m) scenario_introspect_random sqlite introspect_sqlite_nocache_1m "$SEED_LIVE" ;;
        introspect_postgres_nocache_10k) scenario_introspect_random postgres introspect_postgres_nocache_10k "$SEED_SMALL" ;;
        introspect_postgres_nocache_1m) scenario_introspect_random postgres introspect_postgres_nocache_1m "$SEED_LIVE" ;;
        *) die "unknown scenario '$s'" ;;
    esac
done
log "done: $RESULTS"
