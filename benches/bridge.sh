#!/usr/bin/env bash
# The bridge benchmark: load generator -> client gateway -> provider gateway -> sample provider,
# against an nginx two-hop mutual-TLS proxy chain in front of the same provider, in the same run
# on the same machine. Prints requests/s and p50/p99 latency for both, and the ratio.
#
#   bash benches/bridge.sh            # 3 paired rounds of 10 s per chain and body size
#   DURATION=30 CONNECTIONS=64 ROUNDS=5 bash benches/bridge.sh
#
# Körpü runs with everything on: signing and verification both ways, stapled-OCSP checks, and
# durable (fsync'ed, group-committed) recording at both gateways.
#
# The nginx chain does none of that required work, so the ratio to it is a figure, not the
# target. The target is the floor: nginx's CPU per request plus the work an exchange cannot do
# without, measured in the same run by `crates/korpu-gateway/examples/floor.rs` with the
# gateway's own signer, verifier and ledger: SHA-256 of each body twice, the request hash
# (SHA-512 over the signed request), two messages signed and two verified amortised by the
# batch sizes that the gateways' /metrics show for this body size, and one fdatasync'ed record
# at each gateway amortised by the group-commit size they show. `floor ratio` is Körpü's CPU
# per request over that floor (median round); the target is ≤ 1.5×.
# FLOOR_BIN=path measures with an already built floor binary. TOKIO_WORKER_THREADS=1 runs the
# demo (both gateways and the provider) on one thread: what cross-thread scheduling costs per
# exchange, the part of a thread-per-core gateway's gain that needs no sharding.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"

command -v wrk >/dev/null && command -v nginx >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk nginx >/dev/null
}
# KORPU_BIN=path measures an already built binary instead of building one.
if [ -z "${KORPU_BIN:-}" ]; then
  cargo build --release -q -p korpu
fi
KORPU="${KORPU_BIN:-$PWD/target/release/korpu}"
if [ -z "${FLOOR_BIN:-}" ]; then
  cargo build --release -q -p korpu-gateway --example floor
fi
FLOOR="${FLOOR_BIN:-$PWD/target/release/examples/floor}"

WORK="$(mktemp -d)"
cleanup() {
  [ -n "${DEMO_PID:-}" ] && kill "$DEMO_PID" 2>/dev/null || true
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

KORPU_LOG=warn "$KORPU" demo --dir "$WORK/demo" >"$WORK/demo.out" 2>"$WORK/demo.err" &
DEMO_PID=$!
for _ in $(seq 1 60); do [ -f "$WORK/demo/demo.json" ] && break; sleep 0.5; done
[ -f "$WORK/demo/demo.json" ] || { cat "$WORK/demo.err"; echo "korpu demo did not start" >&2; exit 1; }

jq_() { python3 -c "import json,sys; d=json.load(open('$WORK/demo/demo.json')); print($1)"; }
CLIENT_GW="$(jq_ "d['gateways']['benefits']['client']")"
PROVIDER_SYSTEM="$(jq_ "d['gateways']['population']['system']")"
CERTS="$WORK/demo/central/certs"
GWS="$WORK/demo/gateways"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HOP1="$(free_port)"; HOP2="$(free_port)"

# nginx: hop 1 (plain HTTP in, mutual TLS 1.3 out) -> hop 2 (mutual TLS 1.3 in) -> provider.
# Its certificates come from the demo's own platform PKI (P-256, same CA chain), so both chains
# do the same TLS work. Hop 2 gets a gateway certificate for "localhost", because nginx checks
# upstream names against DNS names only.
ADMIN=("$KORPU" central --config "$WORK/demo/central/central.toml")
"${ADMIN[@]}" gateway add AZ/GOV/1400001/bench --address "localhost:$HOP2" >/dev/null
"$KORPU" gateway keys --dir "$WORK/hop2" --gateway AZ/GOV/1400001/bench >/dev/null
"${ADMIN[@]}" cert issue --kind gateway-tls --owner AZ/GOV/1400001/bench \
  --csr "$WORK/hop2/tls.csr.pem" --out "$WORK/hop2/tls.pem" >/dev/null
cat "$CERTS/root.pem" "$CERTS/issuing.pem" >"$WORK/ca.pem"
cat "$WORK/hop2/tls.pem" "$CERTS/issuing.pem" >"$WORK/hop2-chain.pem"
cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_max_body_size 100m;
  client_body_buffer_size 128k;
  upstream hop2 { server 127.0.0.1:$HOP2; keepalive 64; }
  upstream provider { server ${PROVIDER_SYSTEM#http://}; keepalive 64; }
  server {
    listen 127.0.0.1:$HOP1;
    location / {
      proxy_pass https://hop2;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_protocols TLSv1.3;
      proxy_ssl_certificate $GWS/benefits/tls.pem;
      proxy_ssl_certificate_key $GWS/benefits/tls.p8;
      proxy_ssl_trusted_certificate $WORK/ca.pem;
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
    }
  }
  server {
    listen 127.0.0.1:$HOP2 ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate $WORK/hop2-chain.pem;
    ssl_certificate_key $WORK/hop2/tls.p8;
    ssl_client_certificate $WORK/ca.pem;
    ssl_verify_client on;
    location / {
      proxy_pass http://provider;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
nginx -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log"
sleep 0.5

# Sanity: both chains answer the same echo request.
curl -sf -X POST "$CLIENT_GW/r1/AZ/GOV/1400001/population/echo" -H 'X-Road-Client: AZ/GOV/1400003/benefits' -d x >/dev/null \
  || { echo "the Körpü chain does not answer" >&2; exit 1; }
curl -sf -X POST "http://127.0.0.1:$HOP1/echo" -d x >/dev/null || { cat "$WORK/nginx-error.log"; echo "the nginx chain does not answer" >&2; exit 1; }

# CPU time (clock ticks, utime+stime) of the demo process (gateways and the shared sample
# provider) and of nginx's processes: CPU per request is what the two chains cost, and unlike
# requests/s it barely moves when other work shares the machine.
cpu_ticks() {
  local pids="$DEMO_PID $(cat "$WORK/nginx.pid" 2>/dev/null) $(pgrep -P "$(cat "$WORK/nginx.pid" 2>/dev/null || echo 0)" | tr '\n' ' ')"
  local t=0 p
  for p in $pids; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
HZ="$(getconf CLK_TCK)"

# The gateways' batch counters, summed over every gateway of the demo: "signatures
# signed_messages verifications batch_reuses ledger_appends ledger_commits".
GATEWAY_URLS="$(jq_ "' '.join(g['client'] for g in d['gateways'].values())")"
batch_counters() {
  local url
  for url in $GATEWAY_URLS; do curl -sf "$url/metrics"; done | python3 -c '
import sys
names = ["korpu_signatures_total", "korpu_signed_messages_total",
         "korpu_signature_verifications_total", "korpu_signature_batch_reuses_total",
         "korpu_ledger_appends_total", "korpu_ledger_commits_total"]
sums = dict.fromkeys(names, 0.0)
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 2 and parts[0] in sums:
        sums[parts[0]] += float(parts[1])
print(" ".join("%d" % sums[n] for n in names))'
}

run() { # name url body_bytes -> "rps p50_ms p99_ms cpu_us_per_request"
  local lua="$WORK/post.lua"
  cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = string.rep("a", $3)
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["X-Road-Client"] = "AZ/GOV/1400003/benefits"
LUA
  local c0 c1
  c0="$(cpu_ticks)"
  local seconds="$DURATION"
  [ "$1" = warmup ] && seconds=3
  wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -s "$lua" "$2" >"$WORK/$1.txt"
  c1="$(cpu_ticks)"
  python3 - "$WORK/$1.txt" "$((c1 - c0))" "$HZ" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if errs: print("warning: %s non-2xx responses" % errs.group(1), file=sys.stderr)
n = int(re.search(r"(\d+) requests in", t).group(1))
cpu_us = int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / max(n, 1)
print("%.0f %.2f %.2f %.0f" % (rps, ms("50%"), ms("99%"), cpu_us))
PY
}

# Warm both chains up first (connections, HPACK tables, TLS sessions, the allocator's pools),
# so that neither pays its start-up inside a measured run.
for url in "$CLIENT_GW/r1/AZ/GOV/1400001/population/echo" "http://127.0.0.1:$HOP1/echo"; do
  run warmup "$url" 1024 >/dev/null
done

# The machine is shared and noisy: each size is measured in ROUNDS paired rounds (the two chains
# back to back, their order alternating), and the verdict is the median round's ratio.
ROUNDS="${ROUNDS:-3}"
printf '\n%-8s %-6s %-8s %12s %10s %10s %14s\n' body round chain "requests/s" "p50 ms" "p99 ms" "CPU µs/req"
for size in 1024 65536; do
  label="$((size / 1024)) KiB"
  ratios=()
  cpus=()
  read -r -a before < <(batch_counters)
  for round in $(seq 1 "$ROUNDS"); do
    chains=(korpu nginx)
    [ $((round % 2)) -eq 0 ] && chains=(nginx korpu)
    for chain in "${chains[@]}"; do
      if [ "$chain" = korpu ]; then
        read -r k_rps k_p50 k_p99 k_cpu < <(run "korpu-$size-$round" "$CLIENT_GW/r1/AZ/GOV/1400001/population/echo" "$size")
      else
        read -r n_rps n_p50 n_p99 n_cpu < <(run "nginx-$size-$round" "http://127.0.0.1:$HOP1/echo" "$size")
      fi
    done
    printf '%-8s %-6s %-8s %12s %10s %10s %14s\n' "$label" "$round" korpu "$k_rps" "$k_p50" "$k_p99" "$k_cpu"
    printf '%-8s %-6s %-8s %12s %10s %10s %14s\n' "$label" "$round" nginx "$n_rps" "$n_p50" "$n_p99" "$n_cpu"
    ratios+=("$(python3 -c "print('%.3f %.2f' % ($k_rps / $n_rps, $k_cpu / max($n_cpu, 1)))")")
    cpus+=("$k_cpu $n_cpu")
  done
  read -r -a after < <(batch_counters)
  # Batch sizes of this body size's Körpü rounds: messages per signature, verifications per
  # message received, records per group commit.
  read -r sign_batch verify_share commit_size < <(python3 -c "
b, a = [$(IFS=,; echo "${before[*]}")], [$(IFS=,; echo "${after[*]}")]
d = [y - x for x, y in zip(b, a)]
print('%.3f %.4f %.3f' % (d[1] / max(d[0], 1), d[2] / max(d[2] + d[3], 1), d[4] / max(d[5], 1)))")
  # The floor's run with the median total of three: a single-record commit's CPU (an fdatasync)
  # varies several-fold between runs when other work shares the disk.
  floor_out="$(for _ in 1 2 3; do FLOOR_DIR="$WORK" "$FLOOR" "$size" "$sign_batch" "$verify_share" "$commit_size"; done \
    | python3 -c "import sys; runs = sorted(sys.stdin, key=lambda l: float(l.split()[0].split('=')[1])); print(runs[1].strip())")"
  printf '%s\n' "${ratios[@]}" | python3 -c "
import sys
rows = sorted(tuple(map(float, l.split())) for l in sys.stdin if l.strip())
rps = [r[0] for r in rows]
mid = rows[len(rows) // 2]
print('%-8s ratio korpu/nginx requests/s: median %.2f (rounds: %s), CPU per request %.1fx' % ('$label', mid[0], ', '.join('%.2f' % r for r in rps), mid[1]))
"
  printf '%s\n' "${cpus[@]}" | python3 -c "
import sys
work = dict(kv.split('=') for kv in '$floor_out'.split())
floor_work = float(work['floor_us'])
rounds = sorted((k / (n + floor_work), k, n) for k, n in (map(float, l.split()) for l in sys.stdin if l.strip()))
ratio, k, n = rounds[len(rounds) // 2]
print('%-8s floor µs/req %.0f (nginx %.0f + required work %.0f: %s)' % ('$label', n + floor_work, n, floor_work,
      ', '.join('%s %s' % (name, work[name]) for name in ('sha256', 'request_hash', 'sign', 'verify', 'record'))))
print('%-8s batches: %s messages per signature, %s verifications per message, %s records per commit' % ('$label', '$sign_batch', '$verify_share', '$commit_size'))
print('%-8s Körpü CPU µs/req %.0f, floor ratio %.2f (target <= 1.5; rounds: %s)' % ('$label', k, ratio, ', '.join('%.2f' % r[0] for r in rounds)))
"
done
