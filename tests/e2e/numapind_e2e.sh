#!/usr/bin/env bash
# numapind end to end on real cgroups: a private kubepods tree under the v1 cpuset hierarchy,
# real processes as containers, manifests as the pod source. Checks first pins (cpuset.cpus and
# the kernel's Cpus_allowed_list) and drift repair: cpuset drift, shared drift, a second writer
# in a loop. Then a container restart, an edited manifest, SIGKILL and restart, a corrupt
# checkpoint, an invalid pod uid, observe mode, and the shared pool after a pod is deleted.
#
#   numapind_e2e.sh BUILD_DIR        needs root; exits 77 (skipped) without it
#
# With NUMAPIN_E2E_LOG=FILE, numapind's log is copied to FILE at the end.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
numapind="$1/bin/numapind"
# shellcheck source=fake_node.sh
source "$here/fake_node.sh"

if [[ $(id -u) -ne 0 || ! -w $FN_CPUSET_MOUNT ]]; then
  echo "SKIP: needs root and a writable v1 cpuset hierarchy at $FN_CPUSET_MOUNT"
  exit 77
fi

failures=0
daemon_pid=""

allowed_of() { fake_node_allowed "$1"; }
# dump KEY...: a value of the daemon's --dump-state-file JSON, e.g. `dump drift_detected cpuset`.
dump() {
  python3 - "$FN_STATE/dump.json" "$@" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value.get(key, 0) if isinstance(value, dict) else 0
print(value if not isinstance(value, bool) else str(value).lower())
PY
}
at_least() { (( $(dump "${@:1:$#-1}") >= ${!#} )); }

# start_daemon [FLAG...]: starts numapind with the test's flags plus FLAG... and waits for its first
# pod sync.
start_daemon() {
  rm -f "$FN_STATE/dump.json"
  "$numapind" --pod-source="dir:$FN_MANIFESTS" --cgroup-root="$FN_ROOT" \
    --topology='synthetic:numa:2 core:1 pu:1' --state-dir="$FN_STATE" --monitor=off \
    --readback-interval=200ms --dump-state-file="$FN_STATE/dump.json" \
    --metrics-address=127.0.0.1:0 "$@" >> "$FN_TMP/numapind.log" 2>&1 &
  daemon_pid=$!
  wait_for 10 equals dump first_sync_done true
}

cleanup() {
  stop_daemon KILL
  [[ -n ${NUMAPIN_E2E_LOG:-} && -f ${FN_TMP:-}/numapind.log ]] && cp "$FN_TMP/numapind.log" "$NUMAPIN_E2E_LOG"
  if ((failures > 0)) && [[ -f ${FN_TMP:-}/numapind.log ]]; then
    echo "--- numapind log"
    tail -n 80 "$FN_TMP/numapind.log"
  fi
  fake_node_cleanup
}
trap cleanup EXIT

fake_node_init "numapin-test-$$"
g_uid=$(fake_node_new_uid) g_id=$(fake_node_new_id)
b_uid=$(fake_node_new_uid) b_id=$(fake_node_new_id)
e_uid=$(fake_node_new_uid) e_id=$(fake_node_new_id)
g_pid=$(fake_node_start_container Guaranteed "$g_uid" "$g_id")
b_pid=$(fake_node_start_container Burstable "$b_uid" "$b_id")
e_pid=$(fake_node_start_container BestEffort "$e_uid" "$e_id")
g_dir=$(fake_node_container_dir Guaranteed "$g_uid" "$g_id")
b_dir=$(fake_node_container_dir Burstable "$b_uid" "$b_id")
e_dir=$(fake_node_container_dir BestEffort "$e_uid" "$e_id")
fake_node_write_pod guaranteed "$g_uid" Guaranteed "$g_id" 1
fake_node_write_pod burstable "$b_uid" Burstable "$b_id"
fake_node_write_pod besteffort "$e_uid" BestEffort "$e_id"

echo "=== first pin"
check "daemon starts and syncs" start_daemon --exclusive-cfs-quota=unlimited
check "guaranteed cpuset.cpus is CPU 1 (node 1)" wait_for 5 equals cpus_of "$g_dir" 1
check "guaranteed process allowed CPU 1" equals allowed_of "$g_pid" 1
check "burstable cpuset.cpus is the shared pool" equals cpus_of "$b_dir" 0
check "burstable process allowed the shared pool" equals allowed_of "$b_pid" 0
check "besteffort cpuset.cpus is the shared pool" equals cpus_of "$e_dir" 0
check "besteffort process allowed the shared pool" equals allowed_of "$e_pid" 0
check "checkpoint written" test -s "$FN_STATE/checkpoint.pb"
if [[ -n $FN_CPU_ROOT ]]; then
  quota_of() { tr -d '\n' < "$(fake_node_cpu_dir "$1")/cpu.cfs_quota_us"; }
  check "exclusive container's CFS quota lifted" equals quota_of "$g_dir" -1
  check "all-exclusive pod's CFS quota lifted" equals quota_of "$(dirname "$g_dir")" -1
  check "shared container's CFS quota kept" equals quota_of "$b_dir" 50000
fi

echo "=== drift"
echo 0 > "$g_dir/cpuset.cpus"
check "rewritten exclusive cpuset restored" wait_for 5 equals cpus_of "$g_dir" 1
check "cpuset drift counted" wait_for 3 at_least drift_detected cpuset 1
check "cpuset re-pin counted" at_least repins cpuset 1
echo 0-1 > "$b_dir/cpuset.cpus"
check "shared container over exclusive CPU narrowed" wait_for 5 equals cpus_of "$b_dir" 0
check "shared drift counted" wait_for 3 at_least drift_detected shared 1
check "drift logged with expected and found CPUs" log_has 'found_cpus=0-1'

echo "=== second writer"
( end=$((SECONDS + 5)); while ((SECONDS < end)); do echo 0 > "$g_dir/cpuset.cpus"; sleep 0.05; done ) &
writer=$!
check "conflict reported" wait_for 8 at_least pin_conflicts 1
check "conflict logged" log_has "Pin conflict"
wait "$writer"
check "restored after the writer stops" wait_for 15 equals cpus_of "$g_dir" 1

echo "=== container restart"
g_id2=$(fake_node_new_id)
fake_node_stop_container "$g_pid" "$g_dir"
g_pid=$(fake_node_start_container Guaranteed "$g_uid" "$g_id2")
g_dir=$(fake_node_container_dir Guaranteed "$g_uid" "$g_id2")
fake_node_write_pod guaranteed "$g_uid" Guaranteed "$g_id2" 1
check "restarted container keeps CPU 1" wait_for 5 equals cpus_of "$g_dir" 1
check "restarted process allowed CPU 1" wait_for 2 equals allowed_of "$g_pid" 1
check "pin latency observed for the new cgroup" at_least pin_latency_count 1
echo "pin latency: $(dump pin_latency_count) pins, $(dump pin_latency_sum) s in total;" \
  "repair latency: $(dump repair_latency_count) repairs, $(dump repair_latency_sum) s in total"

echo "=== edited manifest"
# The pod now prefers node 0. Its running container stays on CPU 1, and the later restarts check
# that it is restored there, not placed afresh on node 0.
fake_node_write_pod guaranteed "$g_uid" Guaranteed "$g_id2" 0
check "edited manifest logged" wait_for 5 log_has "Pod manifest changed; running containers keep"
check "edited PreferredNUMANodeId moves nothing" equals cpus_of "$g_dir" 1
sleep 0.5
check "edited manifest logged once" equals grep -c "Pod manifest changed" "$FN_TMP/numapind.log" 1

echo "=== SIGHUP"
kill -HUP "$daemon_pid"
check "reload logged" wait_for 3 log_has "Reloading on SIGHUP"
check "daemon runs after SIGHUP" kill -0 "$daemon_pid"
check "assignment unchanged after SIGHUP" equals cpus_of "$g_dir" 1

echo "=== monitor"
# With a read-back far away, only the monitor's outside-run event can trigger the repair. The
# section is skipped when numapind was built without the monitor or the kernel cannot load it.
stop_daemon TERM
if start_daemon --monitor=on --readback-interval=60s && equals dump monitor_up true; then
  busy=$(fake_node_start_process "$g_dir" busy)
  sleep 0.3
  echo 0 > "$g_dir/cpuset.cpus"
  check "outside run repaired before any read-back" wait_for 5 equals cpus_of "$g_dir" 1
  check "outside drift counted" wait_for 3 at_least drift_detected outside 1
  check "outside re-pin counted" at_least repins outside 1
  check "busy process back on its CPU" wait_for 2 equals allowed_of "$busy" 1
  fake_node_stop_container "$busy" /nonexistent
else
  echo "SKIP: monitor section (monitor not available)"
fi
stop_daemon TERM
check "daemon without monitor back" start_daemon

echo "=== SIGKILL and restart"
stop_daemon KILL
echo 0-1 > "$g_dir/cpuset.cpus"
check "daemon restarts" start_daemon
check "same assignment after SIGKILL" wait_for 5 equals cpus_of "$g_dir" 1
check "shared pool unchanged after SIGKILL" equals cpus_of "$b_dir" 0

echo "=== corrupt checkpoint"
stop_daemon KILL
head -c 100 /dev/urandom > "$FN_STATE/checkpoint.pb"
echo 0-1 > "$b_dir/cpuset.cpus"
check "daemon starts on a corrupt checkpoint" start_daemon
check "corrupt checkpoint logged" log_has "Checkpoint is unreadable"
check "corrupt checkpoint kept aside" compgen -G "$FN_STATE/checkpoint.pb.corrupt-*" >/dev/null
check "assignment rebuilt from the live cgroup" wait_for 5 equals cpus_of "$g_dir" 1
check "rebuild adopted the live cpuset" log_has "Rebuilt assignment from the live cgroup"
check "shared pool rebuilt" wait_for 5 equals cpus_of "$b_dir" 0
check "daemon still running" kill -0 "$daemon_pid"

echo "=== invalid uid"
fake_node_write_pod escape "../../x" Guaranteed "$(fake_node_new_id)"
check "uid ../../x rejected by name" wait_for 5 log_has '\.\./\.\./x.* is invalid'
check "nothing made outside the root" test ! -e "$FN_CPUSET_MOUNT/x"
fake_node_delete_pod escape

echo "=== observe mode"
stop_daemon TERM
state_file="$FN_TMP/cpu_manager_state"
printf '{"policyName":"static","defaultCpuSet":"0","entries":{"%s":{"app":"1"}},"checksum":1}' \
  "$g_uid" > "$state_file"
check "observe daemon starts" start_daemon --mode=observe --cpu-manager-state="$state_file"
check "cpu_manager_state read" wait_for 3 equals dump cpu_manager_state_valid true
echo 0-1 > "$g_dir/cpuset.cpus"
check "observe mode counts drift" wait_for 3 at_least drift_detected cpuset 1
sleep 0.5
check "observe mode writes nothing" equals cpus_of "$g_dir" 0-1
printf '{"policyName":"none","defaultCpuSet":"","checksum":1}' > "$state_file.new"
mv "$state_file.new" "$state_file"
check "none policy makes the state invalid" wait_for 3 equals dump cpu_manager_state_valid false
check "invalid state logged" log_has 'observe mode needs'
check "observe daemon keeps running" kill -0 "$daemon_pid"
stop_daemon TERM
echo 1 > "$g_dir/cpuset.cpus"
check "allocate daemon back" start_daemon

echo "=== pod deleted"
fake_node_stop_container "$g_pid" "$g_dir"
rmdir "$(fake_node_pod_dir Guaranteed "$g_uid")"
fake_node_delete_pod guaranteed
check "shared pool grows back" wait_for 5 equals cpus_of "$b_dir" 0-1
check "besteffort grows back" wait_for 5 equals cpus_of "$e_dir" 0-1
check "besteffort process allowed all CPUs" equals allowed_of "$e_pid" 0-1

echo "=== init container"
i_uid=$(fake_node_new_uid) i_init=$(fake_node_new_id) i_app=$(fake_node_new_id)
i_pid=$(fake_node_start_container Guaranteed "$i_uid" "$i_app")
i_dir=$(fake_node_container_dir Guaranteed "$i_uid" "$i_app")
fake_node_write_init_pod init "$i_uid" "$i_init" "$i_app"
one_cpu() { [[ $(cpus_of "$1") =~ ^[01]$ ]]; }
check "app container after init gets one exclusive CPU" wait_for 5 one_cpu "$i_dir"
i_cpu=$(cpus_of "$i_dir")
check "app process allowed that CPU" equals allowed_of "$i_pid" "$i_cpu"
check "init phase end logged" wait_for 3 log_has "Init phase finished"
check "shared pool is the other CPU" wait_for 3 equals cpus_of "$b_dir" $((1 - i_cpu))

echo "=== stop"
stop_daemon TERM
check "stop logged" log_has "Stopped numapind"

echo "e2e: $failures failure(s)"
((failures == 0))
