#!/usr/bin/env bash
# numapind end to end with the kubelet pod source: real cgroups and processes as in
# numapind_e2e.sh, with pods served over HTTPS on loopback by tests/fakes/fake_kubelet.py (the
# kubelet's PodList, bearer token checked, a self-signed certificate made by openssl). Checks the
# first pins, that HTTP errors, garbage, stalls and a rejected token change no assignment, and
# that a pod gone from /pods returns its CPU to the shared pool.
#
#   numapind_kubelet_e2e.sh BUILD_DIR    needs root; exits 77 (skipped) without it
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
numapind="$1/bin/numapind"
fake_kubelet="$here/../fakes/fake_kubelet.py"
# shellcheck source=fake_node.sh
source "$here/fake_node.sh"

if [[ $(id -u) -ne 0 || ! -w $FN_CPUSET_MOUNT ]]; then
  echo "SKIP: needs root and a writable v1 cpuset hierarchy at $FN_CPUSET_MOUNT"
  exit 77
fi

failures=0
daemon_pid=""
kubelet_pid=""

# log_mark, then log_since MARK PATTERN: whether PATTERN was logged after the mark.
log_mark() { wc -l <"$FN_TMP/numapind.log"; }
log_since() { tail -n "+$(($1 + 1))" "$FN_TMP/numapind.log" | grep -q -- "$2"; }
synced() { grep -qs '"first_sync_done": true' "$FN_STATE/dump.json"; }
requests() { wc -l <"$FN_TMP/requests"; }
more_requests_than() { (($(requests) > $1)); }

# control MODE [POD...]: sets what the fake kubelet serves from its next request on. A stall
# lasts 2 s. Each POD is NAME:CPU:NODE:UID:CONTAINER_ID, with an empty CPU for a BestEffort pod and an
# empty NODE for no PreferredNUMANodeId.
control() {
  local mode=$1 pods="" spec name cpu node uid id
  shift
  for spec in "$@"; do
    IFS=: read -r name cpu node uid id <<<"$spec"
    [[ -n $cpu ]] && cpu="\"$cpu\"" || cpu=null
    pods+="${pods:+,}{\"namespace\": \"e2e\", \"name\": \"$name\", \"cpu\": $cpu,"
    pods+=" \"preferred_numa_node\": ${node:-null}, \"uid\": \"$uid\", \"container_id\": \"$id\"}"
  done
  echo "{\"mode\": \"$mode\", \"stall_seconds\": 2, \"pods\": [$pods]}" \
    >"$FN_TMP/control.json.tmp"
  mv "$FN_TMP/control.json.tmp" "$FN_TMP/control.json"
}

start_kubelet() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$FN_TMP/kubelet.key" \
    -out "$FN_TMP/kubelet.crt" >/dev/null 2>&1 || return 1
  echo "e2e-token-$$" >"$FN_TMP/token"
  touch "$FN_TMP/requests"
  python3 "$fake_kubelet" --cert "$FN_TMP/kubelet.crt" --key "$FN_TMP/kubelet.key" \
    --token-file "$FN_TMP/token" --control-file "$FN_TMP/control.json" \
    --port-file "$FN_TMP/port" --requests-file "$FN_TMP/requests" 2>"$FN_TMP/kubelet.log" &
  kubelet_pid=$!
  wait_for 10 test -s "$FN_TMP/port"
}

# start_daemon TOKEN_FILE [FLAG...]: numapind reading /pods every 200 ms with that bearer token.
start_daemon() {
  rm -f "$FN_STATE/dump.json"
  "$numapind" --pod-source=kubelet --kubelet-url="https://127.0.0.1:$(cat "$FN_TMP/port")/pods" \
    --kubelet-token-file="$1" --kubelet-ca-file="$FN_TMP/kubelet.crt" \
    --kubelet-poll-interval=200ms --cgroup-root="$FN_ROOT" \
    --topology='synthetic:numa:2 core:1 pu:1' --state-dir="$FN_STATE" --monitor=off \
    --readback-interval=200ms --dump-state-file="$FN_STATE/dump.json" \
    --metrics-address=127.0.0.1:0 "${@:2}" >>"$FN_TMP/numapind.log" 2>&1 &
  daemon_pid=$!
}

cleanup() {
  stop_daemon KILL
  if [[ -n $kubelet_pid ]]; then
    kill "$kubelet_pid" 2>/dev/null
    wait "$kubelet_pid" 2>/dev/null
  fi
  if ((failures > 0)) && [[ -f ${FN_TMP:-}/numapind.log ]]; then
    echo "--- numapind log"
    tail -n 60 "$FN_TMP/numapind.log"
  fi
  fake_node_cleanup
}
trap cleanup EXIT

fake_node_init "numapin-test-$$"
g_uid=$(fake_node_new_uid) g_id=$(fake_node_new_id)
e_uid=$(fake_node_new_uid) e_id=$(fake_node_new_id)
g_pid=$(fake_node_start_container Guaranteed "$g_uid" "$g_id")
fake_node_start_container BestEffort "$e_uid" "$e_id" >/dev/null
g_dir=$(fake_node_container_dir Guaranteed "$g_uid" "$g_id")
e_dir=$(fake_node_container_dir BestEffort "$e_uid" "$e_id")
guaranteed="guaranteed:1:1:$g_uid:$g_id"
besteffort="besteffort:::$e_uid:$e_id"
control ok "$guaranteed" "$besteffort"

echo "=== first pin from /pods"
check "fake kubelet listens" start_kubelet
start_daemon "$FN_TMP/token"
check "daemon syncs from the kubelet" wait_for 10 synced
check "guaranteed cpuset.cpus is CPU 1 (preferred node 1)" wait_for 5 equals cpus_of "$g_dir" 1
check "guaranteed process allowed CPU 1" equals fake_node_allowed "$g_pid" 1
check "besteffort cpuset.cpus is the shared pool" wait_for 5 equals cpus_of "$e_dir" 0
check "only /pods requested" test -z "$(grep -v '^/pods$' "$FN_TMP/requests")"

for mode in fail garbage stall; do
  echo "=== kubelet mode: $mode"
  control "$mode" "$guaranteed" "$besteffort"
  seen=$(requests)
  check "numapind keeps polling" wait_for 10 more_requests_than $((seen + 1))
  check "guaranteed keeps CPU 1" equals cpus_of "$g_dir" 1
  check "shared pool unchanged" equals cpus_of "$e_dir" 0
done
check "HTTP 500 logged" log_has "HTTP 500"
check "garbage body logged" log_has "invalid PodList"

echo "=== wrong bearer token"
stop_daemon TERM
control ok "$guaranteed" "$besteffort"
echo "not-the-token" >"$FN_TMP/wrong-token"
start_daemon "$FN_TMP/wrong-token"
check "401 logged with the fix" wait_for 10 log_has "check --kubelet-token-file"
check "checkpointed assignment kept" equals cpus_of "$g_dir" 1
stop_daemon TERM

echo "=== empty first list while the pods run"
# What a kubelet that has just restarted can serve. The pods' cgroups still exist, so numapind
# keeps their checkpointed CPUs until a list names them.
control ok
mark=$(log_mark)
start_daemon "$FN_TMP/token" --empty-pod-list-wait=60s
check "empty list not trusted" wait_for 10 log_since "$mark" "lists no pods, but pods of the checkpoint"
seen=$(requests)
wait_for 10 more_requests_than $((seen + 2))
check "no sync on the empty list" eval '! synced'
check "checkpoint not released" eval "! log_since $mark 'Released checkpoint assignment'"
control ok "$guaranteed" "$besteffort"
check "daemon syncs once the pods are listed" wait_for 10 synced
check "checkpointed assignment restored" log_since "$mark" "Restored assignment"
check "guaranteed keeps CPU 1 after the wait" equals cpus_of "$g_dir" 1
stop_daemon KILL

echo "=== empty first list for longer than the wait"
control ok
mark=$(log_mark)
start_daemon "$FN_TMP/token" --empty-pod-list-wait=1s
check "daemon syncs after the wait" wait_for 10 synced
check "release after the wait logged" log_since "$mark" "still lists no pods; releasing"
check "checkpoint released" log_since "$mark" "Released checkpoint assignment"
stop_daemon TERM

echo "=== pod gone from /pods"
control ok "$guaranteed" "$besteffort"
start_daemon "$FN_TMP/token"
check "daemon syncs again" wait_for 10 synced
fake_node_stop_container "$g_pid" "$g_dir"
control ok "$besteffort"
check "its CPU returns to the shared pool" wait_for 10 equals cpus_of "$e_dir" 0-1
stop_daemon TERM
check "stop logged" log_has "Stopped numapind"

echo "numapind kubelet e2e: $failures failure(s)"
((failures == 0))
