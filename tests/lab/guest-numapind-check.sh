#!/usr/bin/env bash
# numapind end to end inside the lab guest: the topology that hwloc reads there (--topology=host),
# pure cgroup v2, a private kubepods tree under /sys/fs/cgroup, real processes as containers and
# manifests as the pod source (the helpers of tests/e2e/fake_node.sh). 2s2c2t checks NUMA
# preference, best fit, the shared pool, drift repair with the monitor's metrics, SIGKILL and
# restart; 4n2c1t checks that a pod larger than a node spreads over the closest nodes.
#
#   guest-numapind-check.sh 2s2c2t|4n2c1t FAKE_NODE_SH   (root in the guest; exits 1 on a failure)
set -uo pipefail
# start_pod sets NAME_uid, NAME_pid and NAME_dir through printf -v.
# shellcheck disable=SC2154

topology=$1
FN_CPUSET_MOUNT=/sys/fs/cgroup
# v2 keeps the CFS quota in the same tree, and fake_node.sh's v1 cpu mirror does not apply.
FN_CPU_MOUNT=/nonexistent
# shellcheck source=tests/e2e/fake_node.sh
source "$2"

# A v2 cgroup has cpuset files only when its parent delegates the controller, and only a leaf
# may hold processes, so each new directory turns the controller on in its parent.
fn_mkcg() {
  mkdir -p "$1"
  echo +cpuset >"$(dirname "$1")/cgroup.subtree_control"
}

failures=0
daemon_pid=""
metrics_url=http://127.0.0.1:9460/metrics

mems_of() { tr -d '\n' <"$1/cpuset.mems"; }
has_cpus() { [[ $(cpus_of "$1") == "$2" ]]; }
has_mems() { [[ $(mems_of "$1") == "$2" ]]; }
allowed_is() { [[ $(fake_node_allowed "$1") == "$2" ]]; }
cpus_in() { [[ " $2 " == *" $(cpus_of "$1") "* ]]; }

# expand LIST: the CPUs of a kernel list ("0-2,5") one per line.
expand() {
  local part
  for part in ${1//,/ }; do
    seq "${part%-*}" "${part#*-}"
  done
}

# metric NAME LABEL...: the sum of the series of NAME whose labels include every LABEL
# (name="value"), or 0 when there is none.
metric() {
  local name=$1
  shift
  wget -q -O - "$metrics_url" 2>/dev/null | awk -v name="$name" -v want="$*" '
    BEGIN { n = split(want, labels, " ") }
    index($0, name "{") == 1 {
      for (i = 1; i <= n; ++i) if (!index($0, labels[i])) next
      sum += $NF
    }
    END { printf "%.9f\n", sum + 0 }'
}
metric_above() { awk -v value="$(metric "${@:2}")" -v floor="$1" 'BEGIN { exit !(value > floor) }'; }

# write_pod NAME UID QOS CONTAINER_ID CPUS [PREFERRED_NODE]: fake_node_write_pod with CPUS
# exclusive CPUs instead of its one, staged elsewhere so that the pod source reads only the final
# version.
write_pod() {
  local manifests=$FN_MANIFESTS
  FN_MANIFESTS=$FN_TMP/staging
  mkdir -p "$FN_MANIFESTS"
  fake_node_write_pod "$1" "$2" "$3" "$4" "${6:-}"
  FN_MANIFESTS=$manifests
  sed "s/cpu: \"1\"/cpu: \"$5\"/" "$FN_TMP/staging/$1.yaml" >"$FN_MANIFESTS/.$1.yaml"
  mv "$FN_MANIFESTS/.$1.yaml" "$FN_MANIFESTS/$1.yaml"
}

start_daemon() {
  rm -f "$FN_STATE/dump.json"
  numapind --pod-source="dir:$FN_MANIFESTS" --cgroup-root="$FN_ROOT" --topology=host \
    --state-dir="$FN_STATE" --monitor=on --readback-interval=200ms \
    --dump-state-file="$FN_STATE/dump.json" --metrics-address=127.0.0.1:9460 \
    >>"$FN_TMP/numapind.log" 2>&1 &
  daemon_pid=$!
  wait_for 30 grep -qs '"first_sync_done": true' "$FN_STATE/dump.json"
}

cleanup() {
  stop_daemon KILL
  if ((failures > 0)) && [[ -f ${FN_TMP:-}/numapind.log ]]; then
    echo "--- numapind log"
    tail -n 60 "$FN_TMP/numapind.log"
  fi
  fake_node_cleanup
}
trap cleanup EXIT

# start_pod NAME QOS CPUS [PREFERRED_NODE [busy]]: a container and its manifest. Sets NAME_uid,
# NAME_pid and NAME_dir.
start_pod() {
  local name=$1 qos=$2 uid id
  uid=$(fake_node_new_uid)
  id=$(fake_node_new_id)
  printf -v "${name}_uid" %s "$uid"
  printf -v "${name}_pid" %s "$(fake_node_start_container "$qos" "$uid" "$id" "${5:-}")"
  printf -v "${name}_dir" %s "$(fake_node_container_dir "$qos" "$uid" "$id")"
  write_pod "$name" "$uid" "$qos" "$id" "$3" "${4:-}"
}

check_2s2c2t() {
  start_pod shared Burstable 1
  start_pod near Guaranteed 2 1 busy
  echo "=== first pin"
  check "daemon starts and syncs" start_daemon
  check "monitor loaded on this kernel" grep -q '"monitor_up": true' "$FN_STATE/dump.json"
  check "pod preferring node 1 gets a whole core of node 1" wait_for 10 cpus_in "$near_dir" "4-5 6-7"
  local near_cpus other_core
  near_cpus=$(cpus_of "$near_dir")
  echo "near: cpus $near_cpus"
  check "its cpuset.mems is node 1" has_mems "$near_dir" 1
  check "its process is allowed those CPUs" allowed_is "$near_pid" "$near_cpus"
  [[ $near_cpus == 4-5 ]] && other_core=6-7 || other_core=4-5
  check "burstable pod gets the shared pool" wait_for 5 has_cpus "$shared_dir" "0-3,$other_core"

  echo "=== best fit"
  start_pod fit Guaranteed 2
  check "pod without preference fills node 1" wait_for 10 has_cpus "$fit_dir" "$other_core"
  check "its cpuset.mems is node 1" has_mems "$fit_dir" 1
  check "shared pool shrinks to node 0" wait_for 5 has_cpus "$shared_dir" 0-3

  echo "=== drift onto node 0"
  echo 0-1 >"$near_dir/cpuset.cpus"
  check "rewritten cpuset restored" wait_for 10 has_cpus "$near_dir" "$near_cpus"
  check "busy process back on its CPUs" wait_for 5 allowed_is "$near_pid" "$near_cpus"
  check "remote-NUMA run time in /metrics" wait_for 10 metric_above 0 \
    numapin_container_run_seconds_total 'pod="near"' 'placement="remote_numa"'

  echo "=== host process on an exclusive CPU"
  local cpu=${near_cpus%-*} before
  before=$(metric numapin_cpu_foreign_run_seconds_total "cpu=\"$cpu\"" 'category="host"')
  taskset -c "$cpu" sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
  echo "$!" >>"$FN_TMP/pids"
  check "host run time on CPU $cpu grows" wait_for 10 metric_above "$before" \
    numapin_cpu_foreign_run_seconds_total "cpu=\"$cpu\"" 'category="host"'
  kill "$!"

  echo "=== pod deleted"
  fake_node_stop_container "$fit_pid" "$fit_dir"
  rmdir "$(fake_node_pod_dir Guaranteed "$fit_uid")"
  fake_node_delete_pod fit
  check "its CPUs return to the shared pool" wait_for 10 has_cpus "$shared_dir" "0-3,$other_core"

  echo "=== SIGKILL and restart"
  stop_daemon KILL
  echo 0-7 >"$near_dir/cpuset.cpus"
  check "daemon restarts" start_daemon
  check "same assignment after SIGKILL" wait_for 10 has_cpus "$near_dir" "$near_cpus"
  check "shared pool unchanged after SIGKILL" has_cpus "$shared_dir" "0-3,$other_core"
}

# spread_within DIR PREFERRED_NODE NEIGHBOUR: 3 CPUs, both of the preferred node's and one of
# its neighbour's (node n has CPUs 2n and 2n+1).
spread_within() {
  local cpus cpu count=0
  cpus=" $(expand "$(cpus_of "$1")" | tr '\n' ' ')"
  [[ $cpus == *" $((2 * $2)) "* && $cpus == *" $((2 * $2 + 1)) "* ]] || return 1
  for cpu in $cpus; do
    ((cpu / 2 == $2 || cpu / 2 == $3)) || return 1
    count=$((count + 1))
  done
  ((count == 3))
}

# free_cpu_of NODE DIR: the CPU of NODE that DIR's cpuset does not hold.
free_cpu_of() {
  local held cpu
  held=" $(expand "$(cpus_of "$2")" | tr '\n' ' ')"
  for cpu in $((2 * $1)) $((2 * $1 + 1)); do
    [[ $held == *" $cpu "* ]] || echo "$cpu"
  done
}

check_4n2c1t() {
  start_pod low Guaranteed 3 0
  start_pod high Guaranteed 3 3
  check "daemon starts and syncs" start_daemon
  # Nodes 0 and 1 are at distance 12, node 2 at 20: a 3-CPU pod cannot fit one 2-CPU node.
  check "3-CPU pod preferring node 0 takes node 0 and one CPU of node 1" \
    wait_for 10 spread_within "$low_dir" 0 1
  check "its cpuset.mems is nodes 0-1" has_mems "$low_dir" 0-1
  # Node 3's closest is node 2 (12); node 0, the lowest id, is at 30.
  check "3-CPU pod preferring node 3 takes node 3 and one CPU of node 2" \
    wait_for 10 spread_within "$high_dir" 3 2
  check "its cpuset.mems is nodes 2-3" has_mems "$high_dir" 2-3

  echo "=== no node with room"
  # A pod that fits one node's size is not spread: with one free CPU on each of nodes 1-3, a
  # 2-CPU pod is rejected and runs in the shared pool, although the pool could spare 2 CPUs.
  fake_node_stop_container "$high_pid" "$high_dir"
  rmdir "$(fake_node_pod_dir Guaranteed "$high_uid")"
  fake_node_delete_pod high
  start_pod two Guaranteed 1 2
  check "1-CPU pod preferring node 2 gets a CPU of node 2" wait_for 10 cpus_in "$two_dir" "4 5"
  start_pod three Guaranteed 1 3
  check "1-CPU pod preferring node 3 gets a CPU of node 3" wait_for 10 cpus_in "$three_dir" "6 7"
  local pool
  pool="$(free_cpu_of 1 "$low_dir"),$(free_cpu_of 2 "$two_dir"),$(free_cpu_of 3 "$three_dir")"
  start_pod wide Guaranteed 2
  check "2-CPU pod rejected in /metrics" wait_for 10 metric_above 0 \
    numapin_allocation_failures_total 'reason="resource_exhausted"'
  check "rejection names the request" log_has "cannot allocate 2 exclusive CPUs"
  check "rejection says the pod is not spread" log_has "is not spread over several nodes"
  check "rejected pod runs in the shared pool $pool" wait_for 5 has_cpus "$wide_dir" "$pool"
}

fake_node_init "numapin-lab-$$"
case "$topology" in
  2s2c2t) check_2s2c2t ;;
  4n2c1t) check_4n2c1t ;;
  *) echo "FAIL: unknown topology '$topology'; expected 2s2c2t or 4n2c1t"; exit 1 ;;
esac
stop_daemon TERM
check "stop logged" log_has "Stopped numapind"
echo "lab numapind: $failures failure(s)"
((failures == 0))
