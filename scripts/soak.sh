#!/usr/bin/env bash
# The long soak: a broker with the plugin on a temporary directory, N
# provisioned devices (rs1-sim fleet) at the seed fleet's design rate for M
# minutes, with OTA rollouts, zone pushes, diagnostic requests, revocations,
# Device API traffic and one broker restart (SIGTERM, start) at the
# midpoint. It samples the broker's memory every 10 s and reports memory
# growth, rows lost against what the broker acknowledged, publish->committed
# latency and the reconnection after the restart, as markdown on stdout and
# in build/soak-report.md. Not part of scripts/test.sh: it takes M minutes.
#
#   scripts/soak.sh [--devices N (10000)] [--minutes M (30)]
#
# Exit 0 when every check passes, 1 when one fails, 2 on a usage error. The
# working directory under /tmp (database, logs, samples) is kept and named
# in the report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

devices=10000
minutes=30
while [ $# -gt 0 ]; do
  case $1 in
    --devices) devices=${2:?}; shift 2 ;;
    --minutes) minutes=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $devices$minutes in *[!0-9]*) echo "soak.sh: --devices and --minutes take whole numbers" >&2; exit 2 ;; esac
if [ "$devices" -lt 20 ] || [ "$minutes" -lt 2 ]; then
  echo "soak.sh: at least 20 devices and 2 minutes" >&2
  exit 2
fi

# The seed fleet was designed for 1,000 readings/s from 10,000 devices: one
# reading every 10 s per device.
telemetry_per_min=6
ingest_flush_ms=100
latency_target_ms=$((ingest_flush_ms + 50))
duration_s=$((minutes * 60))
restart_at_s=$((duration_s / 2))
online_limit_s=60

. scripts/deps.sh
rs1_install_deps
rs1_configure build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)" --target rs1_plugin rs1ctl rs1-sim
ctl=$root/build/tools/rs1ctl
sim=$root/build/tools/rs1-sim
plugin=$root/build/plugin/rs1_plugin.so

dir=$(mktemp -d /tmp/rs1-soak.XXXXXX)
db=$dir/rs1.db
echo "soak: working directory $dir" >&2
# 10,000 connections on each side; the container's hard limit is the most
# an unprivileged process gets.
ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port)
http_port=$(free_port)
api=http://127.0.0.1:$http_port/api/v1
now_ms() { date +%s%3N; }
log() { echo "soak: [$(date -u +%H:%M:%S)] $*" >&2; }

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$dir/broker.pid" ]; then kill "$(cat "$dir/broker.pid")" 2>/dev/null || true; fi
  wait 2>/dev/null || true
}
trap cleanup EXIT

cat > "$dir/mosquitto.conf" <<END
per_listener_settings false
allow_anonymous false
$( [ "$(id -u)" -eq 0 ] && echo "user root" )
listener $mqtt_port 127.0.0.1
max_packet_size 69632
persistence false
log_dest file $dir/mosquitto.log
log_type error
log_type warning
log_type notice
log_type information
connection_messages false
plugin $plugin
plugin_opt_db_path $db
plugin_opt_http_listen 127.0.0.1:$http_port
plugin_opt_ota_base_url http://127.0.0.1:$http_port
plugin_opt_ingest_flush_ms $ingest_flush_ms
# Every API request of the soak comes from 127.0.0.1.
plugin_opt_api_rate_limit_per_min 0
END

broker_pid=
start_broker() {
  mosquitto -c "$dir/mosquitto.conf" >> "$dir/mosquitto.stderr" 2>&1 &
  broker_pid=$!
  echo "$broker_pid" > "$dir/broker.pid"
  local i
  for i in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null &&
       curl -sf -o /dev/null "http://127.0.0.1:$http_port/healthz"; then
      return 0
    fi
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "soak: the broker did not start:" >&2
  tail -20 "$dir/mosquitto.log" >&2
  exit 1
}
# SIGTERM and wait: every accepted row is committed by the exit.
stop_broker() {
  stop_rc=0
  kill -TERM "$broker_pid"
  wait "$broker_pid" || stop_rc=$?
  rm -f "$dir/broker.pid"
}

# ------------------------------------------------------------- provisioning
log "provisioning $devices devices"
"$ctl" --db "$db" init >/dev/null
ids=()
for i in $(seq 1 "$devices"); do ids+=("$(printf 'soak-%05d' "$i")"); done
t=$(now_ms)
printf '%s\n' "${ids[@]}" | xargs -P 8 -I{} "$ctl" --db "$db" device add {} --json > "$dir/devices.json"
provision_s=$(awk -v a="$t" -v b="$(now_ms)" 'BEGIN{printf "%.1f", (b-a)/1000}')
admin_password=$("$ctl" --db "$db" account add soak-admin --role admin --json | jq -r .password)

# Who gets what: disjoint slices, none of them revoked.
ota_n=$((devices / 20)); [ "$ota_n" -gt 500 ] && ota_n=500
zone_n=$((devices / 50)); [ "$zone_n" -gt 100 ] && zone_n=100
diag_n=$((devices / 100)); [ "$diag_n" -gt 50 ] && diag_n=50
revoke_n=5
ota1=("${ids[@]:0:ota_n}")
ota2=("${ids[@]:ota_n:ota_n}")
zones1=("${ids[@]:$((2 * ota_n)):zone_n}")
zones2=("${ids[@]:$((2 * ota_n + zone_n)):zone_n}")
diags=("${ids[@]:$((2 * ota_n + 2 * zone_n)):diag_n}")
revoked=("${ids[@]:$((devices - revoke_n)):revoke_n}")
join() { local IFS=,; echo "$*"; }

head -c 524288 /dev/urandom > "$dir/fw-2.0.0.bin"
head -c 524288 /dev/urandom > "$dir/fw-2.1.0.bin"
cat > "$dir/zones.json" <<'END'
{"zones":[{"id":1,"name":"Sofa","type":"detect","points":[[-1500,1500],[2000,1500],[2000,4500],[-1500,4500]]},
          {"id":2,"name":"Fan","type":"exclude","points":[[0,2500],[600,2500],[600,3300],[0,3300]]}],
 "sensitivity":6}
END

# ------------------------------------------------------------- the system
read_meminfo() { awk -v k="$1:" '$1==k {print $2}' /proc/meminfo; }
slab_before_kb=$(read_meminfo Slab)
sockstat_before=$(tr '\n' ' ' < /proc/net/sockstat)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

start_broker
log "broker $broker_pid on MQTT $mqtt_port, HTTP $http_port"
sign_in() {
  local token
  token=$(curl -sf -X POST "$api/session" -H 'Content-Type: application/json' \
    -d "{\"username\":\"soak-admin\",\"password\":\"$admin_password\"}" | jq -r .token)
  auth=(-H "Authorization: Bearer $token")
}
sign_in

# Memory and load every 10 s: the broker's (whichever runs), the fleet's,
# the kernel's slab and socket memory, and the heap the broker's database
# engine holds (rs1_database_memory_bytes: page caches, statements).
echo "unix_s,broker_pid,vmrss_kb,rss_anon_kb,rss_file_kb,vmhwm_kb,sim_rss_kb,slab_kb,sunreclaim_kb,tcp_mem_pages,load1,db_engine_kb,broker_threads" > "$dir/memory.csv"
(
  while :; do
    bp=$(cat "$dir/broker.pid" 2>/dev/null || true)
    st() { awk -v k="$1:" '$1==k {print $2}' "/proc/$2/status" 2>/dev/null || true; }
    sp=$(cat "$dir/sim.pid" 2>/dev/null || true)
    tcp=$(awk '$1=="TCP:" {for (i=2;i<NF;i++) if ($i=="mem") print $(i+1)}' /proc/net/sockstat)
    engine=$(curl -s --max-time 2 "http://127.0.0.1:$http_port/metrics" 2>/dev/null |
      awk '$1 == "rs1_database_memory_bytes" {printf "%d", $2 / 1024}' || true)
    echo "$(date +%s),${bp:-},$( [ -n "$bp" ] && st VmRSS "$bp"),$( [ -n "$bp" ] && st RssAnon "$bp"),$( [ -n "$bp" ] && st RssFile "$bp"),$( [ -n "$bp" ] && st VmHWM "$bp"),$( [ -n "$sp" ] && st VmRSS "$sp"),$(read_meminfo Slab),$(read_meminfo SUnreclaim),$tcp,$(cut -d' ' -f1 /proc/loadavg),$engine,$( [ -n "$bp" ] && st Threads "$bp")" >> "$dir/memory.csv"
    sleep 10
  done
) &
pids+=($!)

# ------------------------------------------------------------- the fleet
log "fleet: $devices devices, $telemetry_per_min readings/min each, $minutes min"
fleet_start_ms=$(now_ms)
"$sim" fleet --devices "$dir/devices.json" --port "$mqtt_port" \
  --telemetry-per-min "$telemetry_per_min" --duration "$duration_s" --status-every 30 \
  --acked-out "$dir/acked.csv" --probe-db "$db" --probe-out "$dir/probe.csv" --json \
  > "$dir/fleet.json" 2> "$dir/fleet.log" &
sim_pid=$!
pids+=("$sim_pid")
echo "$sim_pid" > "$dir/sim.pid"
at() {  # sleeps until second $1 of the run
  local wait_ms=$((fleet_start_ms + $1 * 1000 - $(now_ms)))
  [ "$wait_ms" -gt 0 ] && sleep "$(awk -v m="$wait_ms" 'BEGIN{printf "%.3f", m/1000}')"
  return 0
}
online_count() { curl -s --max-time 2 "${auth[@]}" "$api/fleet" | jq -r '.devices.online // empty' 2>/dev/null || true; }

# All connected: the connect ramp and the kernel's cost of the fleet.
connected_s=
for i in $(seq 1 240); do
  n=$(online_count)
  if [ "${n:-0}" -ge "$devices" ]; then
    connected_s=$(awk -v a="$fleet_start_ms" -v b="$(now_ms)" 'BEGIN{printf "%.1f", (b-a)/1000}')
    break
  fi
  sleep 0.5
done
slab_connected_kb=$(read_meminfo Slab)
sockstat_connected=$(tr '\n' ' ' < /proc/net/sockstat)
sim_fds=$(find "/proc/$sim_pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
sim_unix=$(ss -xp 2>/dev/null | grep -c "pid=$sim_pid," || true)
log "all online after ${connected_s:-never} s; fleet holds $sim_fds descriptors, $sim_unix unix sockets"

# Device API traffic for the whole run: reads an app makes, one request
# every 0.2 s, each answer's status and time kept.
(
  paths=(fleet "devices?page_size=100" "devices/${ids[1]}" "devices/${ids[1]}/telemetry?metric=env&limit=20"
         "devices/${zones1[0]}/zones" firmware rollouts "devices?online=true&page_size=50"
         "devices/${ids[2]}/telemetry/hourly" "devices/${diags[0]}/zones/history")
  i=0
  while :; do
    p=${paths[$((i % ${#paths[@]}))]}
    echo "$(date +%s) $(curl -s -o /dev/null --max-time 10 -w '%{http_code} %{time_total}' "${auth[@]}" "$api/$p") $p" >> "$dir/api.log"
    i=$((i + 1))
    sleep 0.2
  done
) &
api_loop=$!
pids+=("$api_loop")

events=()
note() { events+=("| $(date -u +%H:%M:%S) | $(( ($(now_ms) - fleet_start_ms) / 1000 )) s | $* |"); log "$*"; }

rollout_api() {  # version, devices...
  local version=$1; shift
  jq -cn --arg v "$version" --args '{version:$v,devices:$ARGS.positional,stages:[10,50,100],max_per_minute:600,retries:1}' "$@" |
    curl -s "${auth[@]}" -H 'Content-Type: application/json' -X POST --data-binary @- "$api/rollouts"
}

# OTA rollout 1 (API) at 20 %.
at $((duration_s * 20 / 100))
"$ctl" --db "$db" firmware add "$dir/fw-2.0.0.bin" --version 2.0.0 --json | jq -e . >/dev/null
r1=$(rollout_api 2.0.0 "${ota1[@]}" | jq -r .rollout_id)
note "firmware 2.0.0 added (rs1ctl); rollout $r1 of ${#ota1[@]} devices created (API)"

# Zone pushes (API PUT, If-Match) at 25 %.
at $((duration_s * 25 / 100))
zone_put_ok=0
for id in "${zones1[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -X PUT -H 'Content-Type: application/json' \
    -H 'If-Match: "0"' --data-binary @"$dir/zones.json" "$api/devices/$id/zones")
  [ "$code" = 200 ] && zone_put_ok=$((zone_put_ok + 1))
done
note "zone config PUT for ${#zones1[@]} devices (API): $zone_put_ok answered 200"

# Diagnostic requests at 30 %: API for most, rs1ctl --wait for three.
at $((duration_s * 30 / 100))
diag_api_ok=0
for id in "${diags[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" -X POST -H 'Content-Type: application/json' \
    -d '{"what":["rssi","uptime","firmware"]}' "$api/devices/$id/diag")
  [ "$code" = 202 ] && diag_api_ok=$((diag_api_ok + 1))
done
diag_wait_ok=0
for id in "${diags[@]:0:3}"; do
  if "$ctl" --db "$db" diag "$id" --wait 15 --json > /dev/null; then diag_wait_ok=$((diag_wait_ok + 1)); fi
done
note "diag requests: ${#diags[@]} by API ($diag_api_ok answered 202), 3 by rs1ctl --wait ($diag_wait_ok answered)"

# Revocations at 35 %.
at $((duration_s * 35 / 100))
revoke_ms=$(now_ms)
for id in "${revoked[@]}"; do "$ctl" --db "$db" device revoke "$id" > /dev/null; done
note "revoked ${#revoked[@]} devices (rs1ctl device revoke): $(join "${revoked[@]}")"
expected_online=$((devices - ${#revoked[@]}))

# Memory of the first broker after its warm-up: a third of its half.
warmup_s=$((restart_at_s / 3)); [ "$warmup_s" -gt 180 ] && warmup_s=180

# The restart at the midpoint.
at "$restart_at_s"
cat "/proc/$broker_pid/smaps_rollup" > "$dir/smaps-before-restart.txt" 2>/dev/null || true
cat "/proc/$broker_pid/smaps" > "$dir/smaps-full-before-restart.txt" 2>/dev/null || true
curl -s "http://127.0.0.1:$http_port/metrics" > "$dir/metrics-before-restart.txt" || true
stop_ms=$(now_ms)
broker1_pid=$broker_pid
stop_broker
midpoint_stop_rc=$stop_rc
stopped_ms=$(now_ms)
start_broker
started_ms=$(now_ms)
sign_in
note "broker restarted: SIGTERM to $broker1_pid (exit $midpoint_stop_rc after $((stopped_ms - stop_ms)) ms), new broker $broker_pid accepting after $((started_ms - stopped_ms)) ms"
echo "unix_ms,online" > "$dir/online-after-restart.csv"
back_online_ms=
while [ $(( $(now_ms) - started_ms )) -lt 120000 ]; do
  n=$(online_count)
  echo "$(now_ms),${n:-}" >> "$dir/online-after-restart.csv"
  if [ "${n:-0}" -ge "$expected_online" ]; then back_online_ms=$(now_ms); break; fi
  sleep 1
done
if [ -n "$back_online_ms" ]; then
  note "all $expected_online unrevoked devices online $(( (back_online_ms - started_ms) / 1000 )) s after the new broker started ($(( (back_online_ms - stop_ms) / 1000 )) s after SIGTERM)"
else
  note "NOT all devices back online within 120 s: $(tail -1 "$dir/online-after-restart.csv")"
fi
restart2_s=$(( (started_ms - fleet_start_ms) / 1000 ))

# OTA rollout 2 (rs1ctl) and zone pushes (rs1ctl) at 60 % and 65 %.
at $((duration_s * 60 / 100))
"$ctl" --db "$db" firmware add "$dir/fw-2.1.0.bin" --version 2.1.0 --json | jq -e . >/dev/null
r2=$("$ctl" --db "$db" rollout create --version 2.1.0 --devices "$(join "${ota2[@]}")" --json | jq -r .rollout_id)
note "firmware 2.1.0 added; rollout $r2 of ${#ota2[@]} devices created (rs1ctl)"
at $((duration_s * 65 / 100))
zone_set_ok=0
for id in "${zones2[@]}"; do
  if "$ctl" --db "$db" zone set "$id" --file "$dir/zones.json" > /dev/null; then zone_set_ok=$((zone_set_ok + 1)); fi
done
note "zone set for ${#zones2[@]} devices (rs1ctl): $zone_set_ok stored"
at $((duration_s * 70 / 100))
for id in "${diags[@]}"; do
  curl -s -o /dev/null "${auth[@]}" -X POST -H 'Content-Type: application/json' -d '{"what":["rssi"]}' "$api/devices/$id/diag"
done
note "diag requests: ${#diags[@]} more by API"

# The end of the run.
wait "$sim_pid" || { echo "soak: the fleet failed:" >&2; tail -5 "$dir/fleet.log" >&2; exit 1; }
fleet_end_s=$(date +%s)
rm -f "$dir/sim.pid"
kill "$api_loop" 2>/dev/null || true
cat "/proc/$broker_pid/smaps_rollup" > "$dir/smaps-end.txt" 2>/dev/null || true
cat "/proc/$broker_pid/smaps" > "$dir/smaps-full-end.txt" 2>/dev/null || true
curl -s "http://127.0.0.1:$http_port/metrics" > "$dir/metrics-end.txt" || true
rollout1=$(curl -s "${auth[@]}" "$api/rollouts/$r1" | jq -c .counts)
rollout2=$(curl -s "${auth[@]}" "$api/rollouts/$r2" | jq -c .counts)
zones_applied=0
for id in "${zones1[@]}" "${zones2[@]}"; do
  [ "$("$ctl" --db "$db" zone show "$id" --json | jq -r .status)" = applied ] && zones_applied=$((zones_applied + 1))
done
broker2_pid=$broker_pid
stop_broker
final_stop_rc=$stop_rc
for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
pids=()
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
log "fleet done; checking the database"

# ------------------------------------------------------------- the checks
# Rows: every acknowledged reading must be a row (a resend after the restart
# may make two).
sqlite3 "$dir/check.db" <<END
CREATE TABLE acked (device_id TEXT, seq INTEGER, sent_ms INTEGER, acked_ms INTEGER);
.mode csv
.import $dir/acked.csv acked
CREATE INDEX acked_key ON acked (device_id, seq);
ATTACH '$db' AS db;
CREATE TABLE got (device_id TEXT, seq INTEGER, n INTEGER, PRIMARY KEY (device_id, seq)) WITHOUT ROWID;
INSERT INTO got SELECT d.device_id, json_extract(t.payload, '\$.seq'), count(*)
  FROM db.telemetry t JOIN db.devices d ON d.id = t.device_ref WHERE t.metric = 'env' GROUP BY 1, 2;
CREATE TABLE revoked (device_id TEXT PRIMARY KEY);
INSERT INTO revoked VALUES $(printf "('%s')," "${revoked[@]}" | sed 's/,$//');
END
q() { sqlite3 "$dir/check.db" "$1" || echo "n/a"; }
acked_total=$(q "SELECT count(*) FROM acked")
acked_distinct=$(q "SELECT count(*) FROM (SELECT DISTINCT device_id, seq FROM acked)")
q_db() { sqlite3 "$dir/check.db" "ATTACH '$db' AS db; $1" || echo "n/a"; }
env_rows=$(q_db "SELECT count(*) FROM db.telemetry WHERE metric = 'env'")
all_rows=$(q_db "SELECT count(*) FROM db.telemetry")
# The hourly aggregation (at :01) is the heaviest job a broker runs: say
# whether, and in which broker's window, it ran.
hourly=$(q_db "SELECT count(*) || ' rows for ' || count(DISTINCT hour) || ' hour(s), the last ' || coalesce(strftime('%H:%M', max(hour), 'unixepoch'), '-') FROM db.telemetry_hourly")
lost=$(q "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM got g WHERE g.device_id = a.device_id AND g.seq = a.seq) AND a.device_id NOT IN (SELECT device_id FROM revoked)")
lost_revoked_after=$(q "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM got g WHERE g.device_id = a.device_id AND g.seq = a.seq) AND a.device_id IN (SELECT device_id FROM revoked) AND a.sent_ms >= $revoke_ms")
lost_revoked_before=$(q "SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM got g WHERE g.device_id = a.device_id AND g.seq = a.seq) AND a.device_id IN (SELECT device_id FROM revoked) AND a.sent_ms < $revoke_ms")
revoked_after_acked=$(q "SELECT count(*) FROM acked a WHERE a.device_id IN (SELECT device_id FROM revoked) AND a.sent_ms >= $revoke_ms + 2000")
dup_rows=$(q "SELECT coalesce(sum(n - 1), 0) FROM got WHERE n > 1")
unacked_rows=$(q "SELECT count(*) FROM got g WHERE NOT EXISTS (SELECT 1 FROM acked a WHERE a.device_id = g.device_id AND a.seq = g.seq)")

# Latency: the probe's samples, all and without the restart's window
# (SIGTERM - 5 s until every device was back).
probe_stats() {  # awk filter on "sent_ms,latency" lines
  grep -v timeout "$dir/probe.csv" | awk -F, "$1" | cut -d, -f2 | sort -g |
    awk '{v[NR]=$1} END {if (NR==0) {print "0 0 0 0"; exit}
      i50=int(NR*0.50+0.999); i99=int(NR*0.99+0.999); i999=int(NR*0.999+0.999);
      print NR, v[i50], v[i99], v[i999], v[NR]}'
}
restart_end_ms=${back_online_ms:-$((started_ms + 120000))}
read -r lat_n _ lat_p99 _ lat_max < <(probe_stats '{print}')
read -r latx_n latx_p50 latx_p99 latx_p999 latx_max < <(probe_stats "\$1 < $((stop_ms - 5000)) || \$1 > $restart_end_ms {print}")
probe_timeouts=$(grep -c timeout "$dir/probe.csv" || true)

# Memory: each broker from its warm-up to its last sample.
# Only samples while the fleet ran: its devices' sessions are a share of it.
# RSS outside the database engine's heap: RSS less rs1_database_memory_bytes
# (page caches that grow to their PRAGMA cache_size bound as the database
# grows, then stay).
mem_phase() {  # pid, from_s -> "rss_warm rss_end anon_warm anon_end samples rss_peak eng_warm eng_end eng_peak out_first out_last slope"
  # out_first and out_last are the medians of the RSS outside the engine over
  # the first and the last two minutes of the phase (12 samples each): the
  # engine's figure is the plugin's, sampled every 5 s apart from the RSS,
  # and glibc gives memory back at each trim (30 s), so single samples move
  # by several MiB. slope: least squares of the same, KiB a minute.
  awk -F, -v pid="$1" -v from="$2" -v until="$fleet_end_s" '
    function median(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    NR > 1 && $2 == pid && $3 != "" && $12 != "" && $1 <= until && $1 >= from {
      if (w == "") {w = $3; wa = $4; ew = $12; t0 = $1}
      e = $3; ea = $4; ee = $12; n++; if ($3 > p) p = $3; if ($12 > ep) ep = $12
      ts[n] = $1; out[n] = $3 - $12
      x = ($1 - t0) / 60; sx += x; sy += out[n]; sxx += x * x; sxy += x * out[n]
    } END {
      for (i = 1; i <= n; i++) {
        if (ts[i] < t0 + 120) f[++nf] = out[i]
        if (ts[i] > ts[n] - 120) l[++nl] = out[i]
      }
      slope = (n > 1 && n * sxx - sx * sx > 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
      print w, e, wa, ea, n, p, ew, ee, ep + 0, (nf ? median(f, nf) : 0), (nl ? median(l, nl) : 0), slope
    }' "$dir/memory.csv"
}
fleet_start_s=$((fleet_start_ms / 1000))
read -r m1_warm m1_end m1a_warm m1a_end m1_n m1_peak m1e_warm m1e_end m1e_peak m1o_warm m1o_end m1_slope < <(mem_phase "$broker1_pid" $((fleet_start_s + warmup_s)))
read -r m2_warm m2_end m2a_warm m2a_end m2_n m2_peak m2e_warm m2e_end m2e_peak m2o_warm m2o_end m2_slope < <(mem_phase "$broker2_pid" $((fleet_start_s + restart2_s + warmup_s)))
threads_phase() {  # pid, from_s -> "threads at the warm-up -> at the end (peak)"
  awk -F, -v pid="$1" -v from="$2" -v until="$fleet_end_s" 'NR > 1 && $2 == pid && $13 != "" && $1 <= until {
      if ($1 >= from && w == "") w = $13
      if (w != "") {e = $13; if ($13 > p) p = $13}
    } END {printf "%s -> %s (peak %s)", w, e, p}' "$dir/memory.csv"
}
t1_phase=$(threads_phase "$broker1_pid" $((fleet_start_s + warmup_s)))
t2_phase=$(threads_phase "$broker2_pid" $((fleet_start_s + restart2_s + warmup_s)))
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a > 0) printf "%+.1f", (b - a) * 100 / a; else print "n/a"}'; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
sim_rss=$(awk -F, 'NR > 1 && $7 != "" {if (f == "") f = $7; l = $7} END {printf "%.1f -> %.1f MiB", f / 1024, l / 1024}' "$dir/memory.csv")
load_stats=$(awk -F, 'NR > 1 && $11 != "" {s += $11; n++; if ($11 > m) m = $11} END {if (n) printf "mean %.2f, max %.2f over %d samples", s / n, m, n}' "$dir/memory.csv")

api_total=$(wc -l < "$dir/api.log")
api_ok=$(awk '$2 ~ /^2/' "$dir/api.log" | wc -l)
api_bad_outside=$(awk -v a=$(( (stop_ms - 1000) / 1000 )) -v b=$(( restart_end_ms / 1000 + 1 )) '$2 !~ /^2/ && ($1 < a || $1 > b)' "$dir/api.log" | wc -l)
api_p99=$(awk '{print $3}' "$dir/api.log" | sort -g | awk '{v[NR]=$1} END {if (NR) printf "%.0f", 1000 * v[int(NR*0.99+0.999)]}')
api_codes=$(awk '{c[$2]++} END {for (k in c) printf "%s: %d, ", k, c[k]}' "$dir/api.log" | sed 's/, $//')

f() { jq -r ".$1" "$dir/fleet.json"; }
metric() { awk -v m="$1" '$1 == m {print $2}' "$dir/metrics-end.txt" | head -1; }
dropped_end=$(grep '^rs1_messages_dropped_total' "$dir/metrics-end.txt" | awk '{printf "%s %s; ", $1, $2}' || true)

# Verdicts.
verdict() { if [ "$1" = 1 ]; then echo "met"; else echo "**NOT met**"; fi; }
ok_rows=$([ "$lost" = 0 ] && echo 1 || echo 0)
ok_latency=$(awk -v p="$latx_p99" -v t="$latency_target_ms" 'BEGIN{print (p <= t && p > 0) ? 1 : 0}')
ok_online=0
[ -n "$back_online_ms" ] && [ $(( (back_online_ms - started_ms) / 1000 )) -le "$online_limit_s" ] && ok_online=1
# Flat: each broker's RSS outside the engine's bounded caches, the median of
# its last two minutes against that of the two minutes after its warm-up,
# grows less than 5 % of its RSS at its warm-up, and the engine stays within its
# bound ($engine_bound_kb: the ingest connection's 64 MiB cache and 2 MiB
# for each of the other connections, with room for statements and schema).
engine_bound_kb=$(( (64 + 2 * 8 + 8) * 1024 ))
flat() {  # out_warm out_end rss_warm engine_peak -> 1 or 0
  awk -v a="$1" -v b="$2" -v r="$3" -v ep="$4" -v bound="$engine_bound_kb" \
    'BEGIN{print (r > 0 && (b - a) * 100 / r < 5 && ep <= bound) ? 1 : 0}'
}
ok_mem=$(flat "$m2o_warm" "$m2o_end" "$m2_warm" "$m2e_peak")
ok_mem1=$(flat "$m1o_warm" "$m1o_end" "$m1_warm" "$m1e_peak")
ok_stop=$([ "$midpoint_stop_rc" = 0 ] && [ "$final_stop_rc" = 0 ] && echo 1 || echo 0)

report=$root/build/soak-report.md
{
  echo "# Soak: $devices devices, $minutes minutes"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M') UTC, $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average at the start $load_start, at the end $load_end ($load_stats; the machine is shared)."
  echo "RelWithDebInfo build, mosquitto $(mosquitto -h 2>/dev/null | awk 'NR==1 {print $3}'), ingest_flush_ms $ingest_flush_ms, $telemetry_per_min readings/min per device (the seed fleet's design rate: 1,000 rows/s for 10,000 devices). Provisioning (rs1ctl device add, 8 at a time): $provision_s s."
  echo "Command: \`scripts/soak.sh --devices $devices --minutes $minutes\`."
  echo
  echo "| check | target | measured | |"
  echo "|---|---|---|---|"
  echo "| rows lost against PUBACKs | 0 | $lost of $acked_distinct acknowledged readings (revoked devices excluded; they lost $lost_revoked_before before and $lost_revoked_after after their revocation) | $(verdict "$ok_rows") |"
  echo "| publish -> committed p99 | <= $latency_target_ms ms | ${latx_p99} ms outside the restart window (p50 ${latx_p50}, p99.9 ${latx_p999}, max ${latx_max} ms, $latx_n samples); with it ${lat_p99} ms (max ${lat_max} ms, $lat_n samples, $probe_timeouts probes never committed) | $(verdict "$ok_latency") |"
  echo "| all devices online after the restart | <= $online_limit_s s | $( [ -n "$back_online_ms" ] && echo "$(( (back_online_ms - started_ms) / 1000 )) s after the new broker accepted, $(( (back_online_ms - stop_ms) / 1000 )) s after SIGTERM ($expected_online devices)" || echo "not within 120 s" ) | $(verdict "$ok_online") |"
  echo "| broker RSS outside the database engine's caches, second broker, warm-up -> end | growth < 5 % of RSS; engine heap <= $(mib "$engine_bound_kb") MiB | medians $(mib "$m2o_warm") -> $(mib "$m2o_end") MiB ($(awk -v a="$m2o_warm" -v b="$m2o_end" -v r="$m2_warm" 'BEGIN{if (r > 0) printf "%+.1f", (b - a) * 100 / r}') % of RSS; least squares $(awk -v s="$m2_slope" 'BEGIN{printf "%+.2f", s / 1024}') MiB a minute); engine heap $(mib "$m2e_warm") -> $(mib "$m2e_end") MiB (peak $(mib "$m2e_peak")); RSS $(mib "$m2_warm") -> $(mib "$m2_end") MiB ($(pct "$m2_warm" "$m2_end") %; anonymous $(mib "$m2a_warm") -> $(mib "$m2a_end") MiB; peak $(mib "$m2_peak") MiB; $m2_n samples) | $(verdict "$ok_mem") |"
  echo "| the same, first broker, warm-up -> SIGTERM | growth < 5 % of RSS; engine heap <= $(mib "$engine_bound_kb") MiB | medians $(mib "$m1o_warm") -> $(mib "$m1o_end") MiB ($(awk -v a="$m1o_warm" -v b="$m1o_end" -v r="$m1_warm" 'BEGIN{if (r > 0) printf "%+.1f", (b - a) * 100 / r}') % of RSS; least squares $(awk -v s="$m1_slope" 'BEGIN{printf "%+.2f", s / 1024}') MiB a minute); engine heap $(mib "$m1e_warm") -> $(mib "$m1e_end") MiB (peak $(mib "$m1e_peak")); RSS $(mib "$m1_warm") -> $(mib "$m1_end") MiB ($(pct "$m1_warm" "$m1_end") %; anonymous $(mib "$m1a_warm") -> $(mib "$m1a_end") MiB; peak $(mib "$m1_peak") MiB; $m1_n samples) | $(verdict "$ok_mem1") |"
  echo "| clean exits on SIGTERM | 0, 0 | $midpoint_stop_rc (midpoint), $final_stop_rc (end) | $(verdict "$ok_stop") |"
  echo
  echo "## Rows"
  echo
  echo "- The fleet sent $(f telemetry_sent) readings (telemetry/env, QoS 1); the broker acknowledged $acked_total with success ($acked_distinct distinct), refused $(f messages_refused) messages of all kinds; $(f telemetry_skipped) readings were skipped by devices with 50 unacknowledged."
  echo "- The database holds $env_rows env rows ($all_rows telemetry rows with the diagnostic answers): $dup_rows duplicates (a reading resent after the restart whose first copy was committed) and $unacked_rows rows whose PUBACK the device never saw (in flight at the SIGTERM, or at the end)."
  echo "- Hourly aggregates at the end: $hourly (UTC; the job runs at :01 for the hour before)."
  echo "- Revoked devices acknowledged $revoked_after_acked readings sent more than 2 s after the revocation (SPEC: disconnected within 2 s)."
  echo "- Broker counters at the end: ${dropped_end:-no drops}rs1_telemetry_rows_written_total $(metric rs1_telemetry_rows_written_total) and rs1_rows_lost_total $(metric rs1_rows_lost_total) (the second broker's)."
  echo
  echo "## Fleet"
  echo
  echo "- All $devices online $( [ -n "$connected_s" ] && echo "$connected_s s after the fleet started" || echo "never within 120 s" ). Logins $(f logins), refused $(f logins_refused) (the revoked devices retrying), connect failures $(f connect_failures), connections lost $(f connections_lost) (the restart), downlinks $(f downlinks_received), configs applied $(f configs_applied), diag answered $(f diag_answered), OTA $(f ota_succeeded) succeeded and $(f ota_failed) failed."
  echo "- Broker threads from the warm-up to the end: first broker $t1_phase, second $t2_phase."
  echo "- Rollout $r1 (2.0.0, ${#ota1[@]} devices, before the restart): $rollout1. Rollout $r2 (2.1.0, ${#ota2[@]} devices, after it): $rollout2."
  echo "- Zones: $zones_applied of $(( ${#zones1[@]} + ${#zones2[@]} )) pushed devices applied."
  echo "- Device API: $api_total requests, $api_ok 2xx ($api_codes), $api_bad_outside not 2xx outside the restart window; p99 $api_p99 ms."
  echo
  echo "## Kernel memory of the fleet"
  echo
  echo "- Slab before the fleet $(mib "$slab_before_kb") MiB, with $devices devices connected $(mib "$slab_connected_kb") MiB ($(awk -v a="$slab_before_kb" -v b="$slab_connected_kb" -v n="$devices" 'BEGIN{printf "%.1f", (b-a)*1024/n/1024}') KiB per device, both ends of each connection and the broker's session)."
  echo "- The fleet process held $sim_fds descriptors and $sim_unix unix sockets with every device connected (one TCP socket per device: libmosquitto's wake-up pair is not opened)."
  echo "- The fleet's own RSS from its first to its last sample: $sim_rss. Slab is the whole machine's: other people's work moves it too."
  echo "- /proc/net/sockstat before: \`$sockstat_before\`; connected: \`$sockstat_connected\`."
  echo
  echo "## Timeline"
  echo
  echo "| UTC | run time | event |"
  echo "|---|---|---|"
  printf '%s\n' "${events[@]}"
  echo
  echo "Samples: $dir (memory.csv every 10 s, smaps-full-*.txt, probe.csv, acked.csv, api.log, online-after-restart.csv, fleet.log, mosquitto.log)."
} > "$report"
cat "$report"
[ "$ok_rows$ok_latency$ok_online$ok_mem$ok_mem1$ok_stop" = 111111 ]
