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
# Single-use scenarios (authcode_sqlite, refresh_sqlite): how many codes or
# refresh tokens to prepare per run. Expected rate: measured in the warm-up
# (and raised by every run) unless BENCH_SINGLE_USE_RATE fixes it.
SINGLE_USE_RATE="${BENCH_SINGLE_USE_RATE:-}"      # requests/s; empty = measure
SINGLE_USE_SAFETY="${BENCH_SINGLE_USE_SAFETY:-2}" # values prepared = rate x duration x this
SINGLE_USE_RETRIES="${BENCH_SINGLE_USE_RETRIES:-1}" # reruns of a run that ran out

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

# Extra `tollgate client add` arguments for the next start_tollgate.
CLIENT_ARGS=()
# With WITH_USER=1, start_tollgate also creates the user "bench" with the
# password USER_PASSWORD (for the login form).
USER_PASSWORD=""

# start_tollgate BACKEND: fresh data dir (and schema), one client "bench"
# (registered with CLIENT_ARGS), a server. Sets SERVER_PID, SERVER_URL,
# AUTH_HEADER, CLIENT_BASIC (the base64 "id:secret"), CLIENT_ID.
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
    creds="$("$TOLLGATE_BIN" client add bench --scope "read write" "${CLIENT_ARGS[@]}" --json)" \
        || die "tollgate client add failed ($backend)"
    id="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$creds")"
    # A private_key_jwt client has no secret.
    secret="$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("client_secret", ""))' <<<"$creds")"
    CLIENT_ID="$id"
    CLIENT_BASIC="$(printf '%s:%s' "$id" "$secret" | base64 -w0)"
    AUTH_HEADER="Authorization: Basic $CLIENT_BASIC"
    if [ "${WITH_USER:-0}" = 1 ]; then
        USER_PASSWORD="bench-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
        printf '%s\n' "$USER_PASSWORD" | "$TOLLGATE_BIN" user add bench --password-stdin >/dev/null \
            || die "tollgate user add failed ($backend)"
    fi
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
# BODY empty = GET. Writes a normalized JSON summary to JSON_OUT. With
# VALUES_FILE set (wrk only), each request's body is BODY followed by the
# next single-use value of that file.
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
                WRK_VALUES_FILE="${VALUES_FILE:-}" WRK_THREADS="$threads" \
                wrk -t"$threads" -c"$conc" -d"${secs}s" --latency -s "$BENCH_DIR/wrk.lua" "$url" \
                >"$out.raw" 2>"$out.err" || { cat "$out.err" >&2; die "wrk failed"; }
            python3 "$BENCH_DIR/summarize.py" wrk "$out.raw" >"$out"
            ;;
    esac
}

declare -A CEILING_RPS=()

# measure SCENARIO URL BODY [HEADER]: warm-up, then one run per concurrency.
# Hooks (optional): BEFORE_WARMUP, AFTER_WARMUP JSON_OUT, BEFORE_RUN CONC,
# AFTER_RUN CONC JSON_OUT (may set EXTRA_JSON, and RERUN=1 to run again,
# at most SINGLE_USE_RETRIES times).
measure() {
    local scenario="$1" url="$2" body="$3" header="${4:-}" conc out perf_pid line ceiling attempt
    [ -n "${BEFORE_WARMUP:-}" ] && "$BEFORE_WARMUP"
    log "$scenario: warm-up ${WARMUP}s"
    run_load "$WARMUP" 16 "$url" "$body" "$WORK/warmup.json" "$header"
    [ -n "${AFTER_WARMUP:-}" ] && "$AFTER_WARMUP" "$WORK/warmup.json"
    for conc in $CONCURRENCY; do
        out="$WORK/$scenario-c$conc.json"
        attempt=0
        while :; do
            [ -n "${BEFORE_RUN:-}" ] && "$BEFORE_RUN" "$conc"
            perf_pid=""
            if [ "$PERF" = "$scenario:$conc" ]; then
                local pdata="$OUT_DIR/perf-$scenario-c$conc-$TS.data"
                log "$scenario c=$conc: perf record -g on pid $SERVER_PID -> $pdata"
                perf record -e cpu-clock -g -F 999 -p "$SERVER_PID" -o "$pdata" -- sleep "$DURATION" >/dev/null 2>"$WORK/perf.err" &
                perf_pid=$!
            fi
            log "$scenario c=$conc: ${DURATION}s"
            run_load "$DURATION" "$conc" "$url" "$body" "$out" "$header"
            EXTRA_JSON="{}"
            RERUN=0
            [ -n "${AFTER_RUN:-}" ] && "$AFTER_RUN" "$conc" "$out"
            if [ -n "$perf_pid" ]; then
                wait "$perf_pid" || { cat "$WORK/perf.err" >&2; log "perf record failed"; }
            fi
            if [ "$RERUN" = 1 ] && [ "$attempt" -lt "$SINGLE_USE_RETRIES" ]; then
                attempt=$((attempt + 1))
                log "$scenario c=$conc: running it again (attempt $((attempt + 1)))"
                continue
            fi
            break
        done
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

# ------------------------------------------------- single-use credentials ---
#
# authcode_sqlite and refresh_sqlite present a value that the server accepts
# once (an authorization code; a refresh token that rotation revokes). They
# are prepared over HTTP before each run (bench/single_use.py) into a file
# that wrk.lua hands out, each line exactly once across wrk's threads; a
# thread that runs out stops instead of reusing one, and the run is then
# done again with more values (SINGLE_USE_RETRIES) or reported with
# "exhausted": true. How many: the expected rate (BENCH_SINGLE_USE_RATE, else
# measured in the warm-up and raised by every run) x duration x
# SINGLE_USE_SAFETY.

PKCE_VERIFIER="tollgate-bench-pkce-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
BENCH_REDIRECT_URI="https://bench.example/cb"
SU_RATE=0          # expected requests/s for the current scenario
SU_PREPARE=""      # prepare_codes | prepare_refresh_tokens
SU_PREPARED=0      # values in the current VALUES_FILE
SU_EXHAUSTED=0     # the last run ran out

# prepare_codes COUNT FILE: COUNT authorization codes through GET
# /oauth2/authorize with the signed-in session (SESSION_COOKIE).
prepare_codes() {
    BENCH_SESSION="$SESSION_COOKIE" python3 "$BENCH_DIR/single_use.py" codes "$SERVER_URL" \
        "$CLIENT_ID" "$BENCH_REDIRECT_URI" "$PKCE_CHALLENGE" "$1" "$2" \
        || die "could not prepare $1 authorization codes"
}

# prepare_refresh_tokens COUNT FILE: COUNT refresh tokens, one
# client_credentials request each (client_credentials_refresh).
prepare_refresh_tokens() {
    BENCH_BASIC="$CLIENT_BASIC" python3 "$BENCH_DIR/single_use.py" refresh "$SERVER_URL" read "$1" "$2" \
        || die "could not prepare $1 refresh tokens"
}

su_prepare() { # SECONDS LABEL
    local n
    n="$(python3 -c 'import math,sys; print(max(1000, math.ceil(float(sys.argv[1]) * float(sys.argv[2]) * float(sys.argv[3]))))' \
        "$SU_RATE" "$1" "$SINGLE_USE_SAFETY")"
    [ "$SU_EXHAUSTED" = 1 ] && n=$((SU_PREPARED * 3))
    VALUES_FILE="$WORK/values-$2.txt"
    log "preparing $n single-use values for $2 (expected ${SU_RATE}/s)"
    "$SU_PREPARE" "$n" "$VALUES_FILE"
    SU_PREPARED="$n"
}

su_before_warmup() {
    SU_EXHAUSTED=0
    SU_RATE="${SINGLE_USE_RATE:-2000}"
    su_prepare "$WARMUP" warmup
}

# The warm-up's rate (responses/s; if it ran out, at least its values over
# its duration) becomes the expected rate unless BENCH_SINGLE_USE_RATE is set.
su_after_warmup() { # JSON_OUT
    local rate
    rate="$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
u = s.get("single_use") or {}
r = s["rps"]
if u.get("exhausted_threads"):
    # It ran out: the rate was at least this.
    r = max(r, u["values_loaded"] / float(sys.argv[2]))
print(round(r))' "$1" "$WARMUP")"
    [ -z "$SINGLE_USE_RATE" ] && SU_RATE="$rate"
    log "warm-up: at least ${rate} responses/s"
    rm -f "$VALUES_FILE"
    return 0
}

su_before_run() { # CONCURRENCY
    su_prepare "$DURATION" "c$1"
}

su_after_run() { # CONCURRENCY JSON_OUT
    local info rate
    info="$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
u = s.get("single_use") or {}
ex = 1 if u.get("exhausted_threads") else 0
print(ex, round(s["rps"]), json.dumps({
    "values_prepared": int(sys.argv[2]),
    "values_handed_out": u.get("values_handed_out"),
    "exhausted": bool(ex),
}, separators=(",", ":")))' "$2" "$SU_PREPARED")"
    read -r SU_EXHAUSTED rate EXTRA_JSON <<<"$info"
    if [ -s "$2.err" ]; then
        log "wrk reported (first non-200 answers of each thread):"
        sed 's/^/[bench]   /' "$2.err" >&2
    fi
    if [ "$SU_EXHAUSTED" = 1 ]; then
        log "c=$1: the $SU_PREPARED prepared values ran out before the end: figures not valid"
        RERUN=1
    fi
    [ "$rate" -gt "$SU_RATE" ] && [ -z "$SINGLE_USE_RATE" ] && SU_RATE="$rate"
    rm -f "$VALUES_FILE"
    return 0
}

measure_single_use() { # SCENARIO URL BODY_PREFIX HEADER
    BEFORE_WARMUP=su_before_warmup AFTER_WARMUP=su_after_warmup \
        BEFORE_RUN=su_before_run AFTER_RUN=su_after_run measure "$@"
    VALUES_FILE=""
}

# The authorization-code exchange: a confidential client with PKCE (S256),
# consent skipped, one signed-in user; codes from GET /oauth2/authorize.
scenario_authcode() { # BACKEND NAME
    local saved="$LOADGEN" redirect_enc
    ensure_wrk
    LOADGEN=wrk
    CLIENT_ARGS=(--grant authorization_code --grant refresh_token --redirect-uri "$BENCH_REDIRECT_URI" --skip-consent)
    WITH_USER=1 start_tollgate "$1"
    CLIENT_ARGS=()
    SESSION_COOKIE="$(BENCH_USER_PASSWORD="$USER_PASSWORD" python3 "$BENCH_DIR/single_use.py" login "$SERVER_URL" bench)" \
        || die "could not sign in at $SERVER_URL/oauth2/login"
    PKCE_CHALLENGE="$(python3 "$BENCH_DIR/single_use.py" s256 "$PKCE_VERIFIER")"
    redirect_enc="$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$BENCH_REDIRECT_URI")"
    SU_PREPARE=prepare_codes
    measure_single_use "$2" "$SERVER_URL/oauth2/token" \
        "grant_type=authorization_code&redirect_uri=$redirect_enc&code_verifier=$PKCE_VERIFIER&code=" "$AUTH_HEADER"
    stop_server
    LOADGEN="$saved"
}

# Refresh in the default rotate mode: every refresh token is single-use.
scenario_refresh_rotate() { # BACKEND NAME
    local saved="$LOADGEN"
    ensure_wrk
    LOADGEN=wrk
    CLIENT_ARGS=(--grant client_credentials --grant refresh_token --client-credentials-refresh)
    start_tollgate "$1"
    CLIENT_ARGS=()
    SU_PREPARE=prepare_refresh_tokens
    measure_single_use "$2" "$SERVER_URL/oauth2/token" "grant_type=refresh_token&refresh_token=" "$AUTH_HEADER"
    stop_server
    LOADGEN="$saved"
}

# Refresh in preserve mode: one refresh token, presented by every request
# (each answer is a new access token and the same refresh token).
scenario_refresh_preserve() { # BACKEND NAME
    local resp rt
    CLIENT_ARGS=(--grant client_credentials --grant refresh_token --client-credentials-refresh --refresh-mode preserve)
    start_tollgate "$1"
    CLIENT_ARGS=()
    resp="$(curl -fsS -H "$AUTH_HEADER" -d 'grant_type=client_credentials&scope=read' "$SERVER_URL/oauth2/token")" \
        || die "could not obtain a refresh token from $SERVER_URL"
    rt="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])' <<<"$resp")"
    measure "$2" "$SERVER_URL/oauth2/token" "grant_type=refresh_token&refresh_token=$rt" "$AUTH_HEADER"
    stop_server
}

# --------------------------------------------------- JWTs and assertions ---

# Client credentials for a client registered with --access-token-format jwt:
# adds building and signing an RFC 9068 access token (ES256) to cc_sqlite.
scenario_jwt_issuance() { # BACKEND NAME
    local token
    CLIENT_ARGS=(--access-token-format jwt)
    start_tollgate "$1"
    CLIENT_ARGS=()
    token="$(get_token)"
    case "$token" in
        *.*.*) ;;
        *) log "note: $2: the server answered with an opaque access token (JWT access tokens not in this build?)" ;;
    esac
    measure "$2" "$SERVER_URL/oauth2/token" "grant_type=client_credentials&scope=read" "$AUTH_HEADER"
    stop_server
}

# prepare_assertions COUNT FILE: COUNT client assertions, signed offline.
prepare_assertions() {
    /usr/bin/python3 "$BENCH_DIR/single_use.py" assertions "$PKJWT_KEY" "$PKJWT_KID" "$CLIENT_ID" \
        "$SERVER_URL/oauth2/token" "$1" "$2" \
        || die "could not prepare $1 client assertions (needs /usr/bin/python3 with PyJWT)"
}

# Client credentials with private_key_jwt client authentication (RFC 7523
# §2.2): each request carries a fresh ES256 assertion (the server refuses a
# jti it has seen), so they are prepared like the single-use values.
scenario_private_key_jwt() { # BACKEND NAME
    local saved="$LOADGEN" kdir
    ensure_wrk
    LOADGEN=wrk
    kdir="$(mktemp -d "$WORK/pkjwt.XXXX")"
    PKJWT_KEY="$kdir/key.pem"
    "$TOLLGATE_BIN" assertion keygen --alg ES256 --key-out "$PKJWT_KEY" --jwks-out "$kdir/jwks.json" 2>/dev/null \
        || die "tollgate assertion keygen failed"
    PKJWT_KID="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][0]["kid"])' "$kdir/jwks.json")"
    CLIENT_ARGS=(--auth-method private_key_jwt --jwks-file "$kdir/jwks.json")
    start_tollgate "$1"
    CLIENT_ARGS=()
    SU_PREPARE=prepare_assertions
    measure_single_use "$2" "$SERVER_URL/oauth2/token" \
        "grant_type=client_credentials&scope=read&client_id=$CLIENT_ID&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" ""
    stop_server
    LOADGEN="$saved"
}

ensure_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        log "installing wrk (apt-get install -y wrk)"
        (apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }) \
            || die "wrk could not be installed"
    fi
}

# ------------------------------------------------------ gateway proxying ---
#
# upstream_direct, gateway_opaque_sqlite, gateway_jwt_sqlite, hyper_proxy, nginx_proxy:
# the same trivial upstream (the ceiling server, one instance for the whole
# run on its own port) called directly, through Tollgate's gateway with a
# bearer token (opaque or JWT), and through nginx as a plain reverse proxy
# without authentication. All GET. The gateway and nginx lines add
# added_p50_ms / added_p99_ms: their p50 / p99 minus upstream_direct's at the
# same concurrency (when upstream_direct ran earlier in the same invocation).

UP_PID=""
UP_URL=""
declare -A DIRECT_P50=()
declare -A DIRECT_P99=()

# The shared upstream: started on first use, stopped at the end of the run.
ensure_upstream() {
    [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null && return 0
    local logf="$WORK/upstream.out"
    "$CEILING_BIN" 127.0.0.1:0 >"$logf" 2>&1 &
    UP_PID=$!
    PIDS+=("$UP_PID")
    UP_URL="$(wait_listen "$logf" "$UP_PID")"
    UP_PORT="${UP_URL##*:}"
    log "upstream (ceiling server) at $UP_URL, pid $UP_PID"
}

stop_upstream() {
    [ -n "$UP_PID" ] || return 0
    kill "$UP_PID" 2>/dev/null || true
    wait "$UP_PID" 2>/dev/null || true
    UP_PID=""
}

# AFTER_RUN hook of upstream_direct: remember its percentiles.
direct_after_run() { # CONCURRENCY JSON_OUT
    read -r DIRECT_P50[$1] DIRECT_P99[$1] < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1])); print(s["p50_ms"], s["p99_ms"])' "$2")
}

# AFTER_RUN hook of the proxies: added latency versus upstream_direct.
added_after_run() { # CONCURRENCY JSON_OUT
    [ -n "${DIRECT_P50[$1]:-}" ] || return 0
    EXTRA_JSON="$(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
print(json.dumps({"added_p50_ms": round(s["p50_ms"] - float(sys.argv[2]), 3),
                  "added_p99_ms": round(s["p99_ms"] - float(sys.argv[3]), 3)}, separators=(",", ":")))' \
        "$2" "${DIRECT_P50[$1]}" "${DIRECT_P99[$1]}")"
}

scenario_upstream_direct() {
    ensure_upstream
    AFTER_RUN=direct_after_run measure upstream_direct "$UP_URL/" "" ""
}

# wait_status URL EXPECTED SECONDS [HEADER]: polls until URL answers EXPECTED.
wait_status() {
    local url="$1" want="$2" secs="$3" header="${4:-}" i code
    for i in $(seq 1 $((secs * 10))); do
        if [ -n "$header" ]; then
            code="$(curl -s -o /dev/null -w '%{http_code}' -H "$header" "$url" || true)"
        else
            code="$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)"
        fi
        [ "$code" = "$want" ] && return 0
        sleep 0.1
    done
    log "$url still answers $code (wanted $want) after ${secs}s"
    return 1
}

# gateway_consumer APP: a consumer of service "up" (creates its client);
# sets CONSUMER_ID and CONSUMER_BASIC.
gateway_consumer() {
    local out
    out="$("$TOLLGATE_BIN" --json service consume up --app "$1")" \
        || die "tollgate service consume up --app $1 failed"
    CONSUMER_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$out")"
    CONSUMER_BASIC="$(python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["client_id"] + ":" + d["client_secret"])' <<<"$out" | tr -d '\n' | base64 -w0)"
}

# gateway_token: a client_credentials token (scope=up) for CONSUMER_BASIC.
gateway_token() {
    local resp
    resp="$(curl -fsS -H "Authorization: Basic $CONSUMER_BASIC" -d 'grant_type=client_credentials&scope=up' \
        "$SERVER_URL/oauth2/token")" || die "could not obtain a gateway token from $SERVER_URL"
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$resp"
}

# Tollgate's gateway in front of the shared upstream: service "up" (scope
# "up") added through the CLI while the server runs (it reloads services
# every gateway.reload_interval_ms), one consumer; with FORMAT=jwt its client
# is switched to JWT access tokens (seen by the server within
# cache.client_ttl_secs).
scenario_gateway() { # BACKEND NAME FORMAT
    local token i
    ensure_upstream
    start_tollgate "$1"
    "$TOLLGATE_BIN" service add up --upstream "$UP_URL/" >/dev/null \
        || die "tollgate service add up failed"
    gateway_consumer "bench-$3"
    if [ "$3" = jwt ]; then
        "$TOLLGATE_BIN" client set-token-format "$CONSUMER_ID" jwt >/dev/null \
            || die "tollgate client set-token-format $CONSUMER_ID jwt failed"
        # The server caches clients (cache.client_ttl_secs, 5 s by default).
        for i in $(seq 1 30); do
            token="$(gateway_token)"
            case "$token" in *.*.*) break ;; esac
            sleep 0.5
        done
        case "$token" in
            *.*.*) log "$2: JWT access token (${#token} bytes)" ;;
            *) die "$2: still an opaque token after 15 s of client set-token-format jwt" ;;
        esac
    else
        token="$(gateway_token)"
        case "$token" in
            *.*.*) log "note: $2: the server issued a JWT where an opaque token was expected" ;;
        esac
    fi
    # The running server picks the service up within gateway.reload_interval_ms.
    wait_status "$SERVER_URL/gateway/up/" 200 15 "Authorization: Bearer $token" \
        || die "$2: GET /gateway/up/ with the token never answered 200"
    AFTER_RUN=added_after_run measure "$2" "$SERVER_URL/gateway/up/" "" "Authorization: Bearer $token"
    stop_server
}

ensure_nginx() {
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && return 0
    log "installing nginx-light (apt-get install -y nginx-light)"
    (apt-get install -y nginx-light >&2 || { apt-get update >&2 && apt-get install -y nginx-light >&2; }) \
        || die "nginx-light could not be installed"
}

# nginx as a plain reverse proxy (no authentication) in front of the shared
# upstream: its own prefix, config, pid, logs and temp dirs under WORK, in
# the foreground (daemon off), 2 workers, upstream keep-alive.
scenario_nginx() { # NAME
    local dir port nginx_bin
    ensure_upstream
    ensure_nginx
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
    dir="$(mktemp -d "$WORK/nginx.XXXX")"
    mkdir -p "$dir/logs" "$dir/tmp/client" "$dir/tmp/proxy" "$dir/tmp/fastcgi" "$dir/tmp/uwsgi" "$dir/tmp/scgi"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    cat >"$dir/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $dir/tmp/client;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
    "$nginx_bin" -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/test.out" 2>&1 \
        || { cat "$dir/test.out" >&2; die "nginx -t failed"; }
    "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/nginx.out" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL="http://127.0.0.1:$port"
    wait_status "$SERVER_URL/" 200 15 || { cat "$dir/logs/error.log" >&2; die "nginx did not answer 200"; }
    log "nginx ($("$nginx_bin" -v 2>&1 | sed 's/.*: //')) at $SERVER_URL, master pid $SERVER_PID"
    AFTER_RUN=added_after_run measure "$1" "$SERVER_URL/" "" ""
    # SIGTERM: nginx's fast shutdown (master and workers).
    stop_server
    if [ -s "$dir/logs/error.log" ]; then
        log "nginx error log (last lines):"
        tail -n 5 "$dir/logs/error.log" | sed 's/^/[bench]   /' >&2
    fi
}

# The floor of a hyper-based gateway: the ceiling binary's `proxy` mode
# (hyper's HTTP/1 server + the hyper-util legacy client, pooled keep-alive,
# nothing else: no token, no rewriting, no metrics) in front of the shared
# upstream. What separates Tollgate from nginx is read against this.
scenario_hyper_proxy() { # NAME
    local logf="$WORK/hyper_proxy.out"
    ensure_upstream
    "$CEILING_BIN" proxy 127.0.0.1:0 "127.0.0.1:$UP_PORT" >"$logf" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    SERVER_URL="$(wait_listen "$logf" "$SERVER_PID")"
    wait_status "$SERVER_URL/" 200 15 || die "the hyper proxy did not answer 200"
    log "hyper proxy (floor) at $SERVER_URL, pid $SERVER_PID"
    AFTER_RUN=added_after_run measure "$1" "$SERVER_URL/" "" ""
    stop_server
}

# ------------------------------------------------------------ connections ---
#
# connection_token_cached_sqlite, connection_refresh_sqlite: POST
# /admin/v1/connections/bench/token on a Tollgate whose connection "bench"
# (client credentials) has this same server as its provider. Cached: the
# token manager hands out its token (admin API authentication + a cache
# read). Refresh (?refresh=true): every call asks the provider for a new
# token and stores it (compare-and-swap) before answering, i.e. a token
# issuance plus the connection's own write.
scenario_connection() { # NAME REFRESH(0|1)
    local admin_secret admin secret url
    start_tollgate sqlite
    admin_secret="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' \
        "$TOLLGATE_SERVER__DATA_DIR/admin-client.json")" || die "no admin client in the data dir"
    admin="$(curl -fsS -u "tollgate-admin:$admin_secret" -d 'grant_type=client_credentials&scope=tollgate:admin' \
        "$SERVER_URL/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')" \
        || die "no admin token"
    secret="$(printf '%s' "$CLIENT_BASIC" | base64 -d | cut -d: -f2-)"
    printf '%s' "$secret" | "$TOLLGATE_BIN" connection add bench --flow client-credentials \
        --token-endpoint "$SERVER_URL/oauth2/token" --client-id "$CLIENT_ID" --client-secret-stdin \
        --scope read >/dev/null || die "tollgate connection add failed"
    url="$SERVER_URL/admin/v1/connections/bench/token"
    [ "$2" = 1 ] && url="$url?refresh=true"
    curl -fsS -X POST -H "Authorization: Bearer $admin" "$url" >/dev/null \
        || die "POST $url did not answer 200"
    measure "$1" "$url" "x=1" "Authorization: Bearer $admin"
    stop_server
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
        authcode_sqlite) scenario_authcode sqlite authcode_sqlite ;;
        authcode_postgres) scenario_authcode postgres authcode_postgres ;;
        refresh_sqlite) scenario_refresh_rotate sqlite refresh_sqlite ;;
        refresh_postgres) scenario_refresh_rotate postgres refresh_postgres ;;
        refresh_preserve_sqlite) scenario_refresh_preserve sqlite refresh_preserve_sqlite ;;
        jwt_issuance_sqlite) scenario_jwt_issuance sqlite jwt_issuance_sqlite ;;
        private_key_jwt_sqlite) scenario_private_key_jwt sqlite private_key_jwt_sqlite ;;
        upstream_direct) scenario_upstream_direct ;;
        gateway_opaque_sqlite) scenario_gateway sqlite gateway_opaque_sqlite opaque ;;
        gateway_jwt_sqlite) scenario_gateway sqlite gateway_jwt_sqlite jwt ;;
        nginx_proxy) scenario_nginx nginx_proxy ;;
        hyper_proxy) scenario_hyper_proxy hyper_proxy ;;
        connection_token_cached_sqlite) scenario_connection connection_token_cached_sqlite 0 ;;
        connection_refresh_sqlite) scenario_connection connection_refresh_sqlite 1 ;;
        *) die "unknown scenario '$s'" ;;
    esac
done
stop_upstream
log "done: $RESULTS"
