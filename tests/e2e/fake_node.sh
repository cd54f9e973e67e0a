# Helpers that stand in for a kubelet on this machine: a private kubepods tree (cgroupfs driver,
# or systemd's naming with FN_DRIVER=systemd) under the v1 cpuset hierarchy, real processes in container cgroups, and pod manifests with the
# uids and container ids a kubelet would report. Sourced by the e2e test and tools/demo.
#
# Everything made here is recorded and removed by fake_node_cleanup, which callers run from a
# trap on EXIT.

FN_CPUSET_MOUNT=${FN_CPUSET_MOUNT:-/sys/fs/cgroup/cpuset}
FN_DRIVER=${FN_DRIVER:-cgroupfs}
# The v1 cpu controller's hierarchy, where the same tree is mirrored for CFS quota checks when it
# exists.
FN_CPU_MOUNT=${FN_CPU_MOUNT:-/sys/fs/cgroup/cpu}

# Test helpers shared by the scripts that source this file. check NAME COMMAND... runs COMMAND,
# prints PASS or FAIL and counts failures in the caller's `failures`.
check() {
  local name=$1
  shift
  if "$@"; then
    echo "PASS: $name"
  else
    echo "FAIL: $name"
    failures=$((failures + 1))
  fi
}

# wait_for SECONDS COMMAND...: polls every 100 ms until COMMAND succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.1
  done
}

equals() { [[ "$($1 "${@:2:$#-2}")" == "${!#}" ]]; }

# stop_daemon [SIGNAL]: sends SIGNAL (default TERM) to the caller's numapind, whose PID is in
# `daemon_pid`, and waits for it to exit.
stop_daemon() {
  [[ -n $daemon_pid ]] || return 0
  kill "-${1:-TERM}" "$daemon_pid" 2>/dev/null
  wait "$daemon_pid" 2>/dev/null
  daemon_pid=""
}

# log_has TEXT: whether numapind's log, $FN_TMP/numapind.log, contains TEXT.
log_has() { grep -q -- "$1" "$FN_TMP/numapind.log"; }
cpus_of() { tr -d '\n' <"$1/cpuset.cpus"; }

# fake_node_init NAME: makes $FN_CPUSET_MOUNT/NAME with the kubepods and QoS cgroups of the
# driver, and the manifest and state directories.
fake_node_init() {
  FN_ROOT="$FN_CPUSET_MOUNT/$1"
  FN_TMP=$(mktemp -d "/tmp/$1.XXXXXX")
  FN_MANIFESTS="$FN_TMP/manifests"
  FN_STATE="$FN_TMP/state"
  mkdir -p "$FN_MANIFESTS" "$FN_STATE"
  if [[ $FN_DRIVER == systemd ]]; then
    FN_KUBEPODS=kubepods.slice
    FN_BURSTABLE=kubepods.slice/kubepods-burstable.slice
    FN_BESTEFFORT=kubepods.slice/kubepods-besteffort.slice
  else
    FN_KUBEPODS=kubepods
    FN_BURSTABLE=kubepods/burstable
    FN_BESTEFFORT=kubepods/besteffort
  fi
  fn_mkcg "$FN_ROOT"
  fn_mkcg "$FN_ROOT/$FN_KUBEPODS"
  fn_mkcg "$FN_ROOT/$FN_BURSTABLE"
  fn_mkcg "$FN_ROOT/$FN_BESTEFFORT"
  FN_CPU_ROOT=""
  if [[ -w $FN_CPU_MOUNT ]]; then
    FN_CPU_ROOT="$FN_CPU_MOUNT/$1"
    mkdir -p "$FN_CPU_ROOT/$FN_BURSTABLE" "$FN_CPU_ROOT/$FN_BESTEFFORT"
  fi
}

# fake_node_cpu_dir CPUSET_DIR: the mirror of a cpuset cgroup in the cpu hierarchy.
fake_node_cpu_dir() { echo "$FN_CPU_ROOT${1#"$FN_ROOT"}"; }

# A v1 cpuset cgroup starts with empty cpus and mems, and no task may join it until both are set,
# so each new directory copies its parent's, as the kubelet and runtimes do.
fn_mkcg() {
  local dir=$1 parent
  parent=$(dirname "$dir")
  mkdir -p "$dir"
  cat "$parent/cpuset.cpus" > "$dir/cpuset.cpus"
  cat "$parent/cpuset.mems" > "$dir/cpuset.mems"
}

fake_node_new_id() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
fake_node_new_uid() {
  local hex
  hex=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  echo "${hex:0:8}-${hex:8:4}-${hex:12:4}-${hex:16:4}-${hex:20:12}"
}

# fake_node_pod_dir QOS UID: the pod cgroup path the driver uses for that QoS class. systemd
# escapes the uid's dashes as underscores.
fake_node_pod_dir() {
  local escaped=${2//-/_}
  case "$FN_DRIVER:$1" in
    systemd:Guaranteed) echo "$FN_ROOT/$FN_KUBEPODS/kubepods-pod$escaped.slice" ;;
    systemd:Burstable) echo "$FN_ROOT/$FN_BURSTABLE/kubepods-burstable-pod$escaped.slice" ;;
    systemd:BestEffort) echo "$FN_ROOT/$FN_BESTEFFORT/kubepods-besteffort-pod$escaped.slice" ;;
    *:Guaranteed) echo "$FN_ROOT/$FN_KUBEPODS/pod$2" ;;
    *:Burstable) echo "$FN_ROOT/$FN_BURSTABLE/pod$2" ;;
    *:BestEffort) echo "$FN_ROOT/$FN_BESTEFFORT/pod$2" ;;
  esac
}

# fake_node_container_dir QOS UID ID: the container cgroup path; containerd names it
# cri-containerd-<id>.scope under systemd and <id> under cgroupfs.
fake_node_container_dir() {
  if [[ $FN_DRIVER == systemd ]]; then
    echo "$(fake_node_pod_dir "$1" "$2")/cri-containerd-$3.scope"
  else
    echo "$(fake_node_pod_dir "$1" "$2")/$3"
  fi
}

# fake_node_start_container QOS UID ID [busy]: makes the container cgroup and starts a process in
# it (a sleep, or a busy loop with "busy"). Prints the process id.
fake_node_start_container() {
  local pod_dir dir pid
  pod_dir=$(fake_node_pod_dir "$1" "$2")
  [[ -d $pod_dir ]] || fn_mkcg "$pod_dir"
  dir=$(fake_node_container_dir "$1" "$2" "$3")
  fn_mkcg "$dir"
  # The kubelet sets a CFS quota from the CPU limit: 1 CPU for the Guaranteed pod and its
  # container here, and half a CPU for Burstable containers, as if they had a limit of 500m.
  if [[ -n $FN_CPU_ROOT ]]; then
    mkdir -p "$(fake_node_cpu_dir "$dir")"
    if [[ $1 == Guaranteed ]]; then
      echo 100000 > "$(fake_node_cpu_dir "$pod_dir")/cpu.cfs_quota_us"
      echo 100000 > "$(fake_node_cpu_dir "$dir")/cpu.cfs_quota_us"
    elif [[ $1 == Burstable ]]; then
      echo 50000 > "$(fake_node_cpu_dir "$dir")/cpu.cfs_quota_us"
    fi
  fi
  if [[ ${4:-} == busy ]]; then
    sh -c 'echo $$ > "$1/cgroup.procs" && exec sh -c "while :; do :; done"' _ "$dir" \
      </dev/null >/dev/null 2>&1 &
  else
    sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 100000' _ "$dir" </dev/null >/dev/null 2>&1 &
  fi
  pid=$!
  echo "$pid" >> "$FN_TMP/pids"
  fn_wait_joined "$pid" "$dir"
  echo "$pid"
}

# fn_wait_joined PID DIR: waits up to 2 s until the process has moved itself into the cgroup, so
# that callers never see the mask of the shell that started it.
fn_wait_joined() {
  local i
  for ((i = 0; i < 20; i++)); do
    grep -qx "$1" "$2/cgroup.procs" 2>/dev/null && return 0
    sleep 0.1
  done
}

# fake_node_start_process DIR [busy]: starts one more process (a sleep, or a busy loop) in an
# existing container cgroup. Prints the process id.
fake_node_start_process() {
  if [[ ${2:-} == busy ]]; then
    sh -c 'echo $$ > "$1/cgroup.procs" && exec sh -c "while :; do :; done"' _ "$1" \
      </dev/null >/dev/null 2>&1 &
  else
    sh -c 'echo $$ > "$1/cgroup.procs" && exec sleep 100000' _ "$1" </dev/null >/dev/null 2>&1 &
  fi
  local pid=$!
  echo "$pid" >> "$FN_TMP/pids"
  fn_wait_joined "$pid" "$1"
  echo "$pid"
}

# fn_wait_gone PID...: waits up to 5 s for the processes to exit; they may not be children of
# this shell, so `wait` cannot be used.
fn_wait_gone() {
  local pid i
  for pid in "$@"; do
    for ((i = 0; i < 50; i++)); do
      [[ -d /proc/$pid ]] || break
      sleep 0.1
    done
  done
}

# fake_node_stop_container PID DIR: ends the process and removes its cgroup, as a runtime does
# when a container exits.
fake_node_stop_container() {
  kill "$1" 2>/dev/null
  fn_wait_gone "$1"
  rmdir "$2" 2>/dev/null || true
  [[ -n ${FN_CPU_ROOT:-} ]] && rmdir "$(fake_node_cpu_dir "$2")" 2>/dev/null
  return 0
}

# fake_node_write_pod NAME UID QOS CONTAINER_ID [PREFERRED_NODE]: writes NAME.yaml, a Pod as
# `kubectl get pod -o yaml` prints it, with one container "app". The file appears by rename so
# that the pod source never reads half of it.
fake_node_write_pod() {
  local name=$1 uid=$2 qos=$3 id=$4 node=${5:-} resources annotations=""
  case "$qos" in
    Guaranteed) resources='      limits:
        cpu: "1"
        memory: 64Mi
      requests:
        cpu: "1"
        memory: 64Mi' ;;
    Burstable) resources='      requests:
        cpu: 100m
        memory: 32Mi' ;;
    BestEffort) resources='      {}' ;;
  esac
  [[ -n $node ]] && annotations=$'  annotations:\n    PreferredNUMANodeId: "'"$node"$'"\n'
  cat > "$FN_MANIFESTS/.$name.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
${annotations}  name: $name
  namespace: default
  uid: $uid
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.9
    resources:
$resources
status:
  phase: Running
  qosClass: $qos
  containerStatuses:
  - name: app
    containerID: containerd://$id
    image: registry.k8s.io/pause:3.9
    ready: true
    restartCount: 0
    started: true
    state:
      running:
        startedAt: "2026-01-01T00:00:00Z"
YAML
  mv "$FN_MANIFESTS/.$name.yaml" "$FN_MANIFESTS/$name.yaml"
}

# fake_node_write_init_pod NAME UID INIT_ID APP_ID: a Guaranteed pod of 1 CPU whose init
# container "setup" has terminated and whose container "app" runs.
fake_node_write_init_pod() {
  local name=$1 uid=$2 init_id=$3 app_id=$4 resources
  resources='    resources:
      limits:
        cpu: "1"
        memory: 64Mi
      requests:
        cpu: "1"
        memory: 64Mi'
  cat > "$FN_MANIFESTS/.$name.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: default
  uid: $uid
spec:
  initContainers:
  - name: setup
    image: registry.k8s.io/pause:3.9
$resources
  containers:
  - name: app
    image: registry.k8s.io/pause:3.9
$resources
status:
  phase: Running
  qosClass: Guaranteed
  initContainerStatuses:
  - name: setup
    containerID: containerd://$init_id
    ready: true
    restartCount: 0
    state:
      terminated:
        exitCode: 0
        reason: Completed
  containerStatuses:
  - name: app
    containerID: containerd://$app_id
    ready: true
    restartCount: 0
    started: true
    state:
      running:
        startedAt: "2026-01-01T00:00:00Z"
YAML
  mv "$FN_MANIFESTS/.$name.yaml" "$FN_MANIFESTS/$name.yaml"
}

fake_node_delete_pod() { rm -f "$FN_MANIFESTS/$1.yaml"; }

# fake_node_cleanup: ends every process started here, then removes the cgroup tree bottom-up and
# the temporary directory.
fake_node_cleanup() {
  local pid
  if [[ -f ${FN_TMP:-/nonexistent}/pids ]]; then
    while read -r pid; do kill "$pid" 2>/dev/null; done < "$FN_TMP/pids"
    while read -r pid; do fn_wait_gone "$pid"; done < "$FN_TMP/pids"
  fi
  if [[ -n ${FN_ROOT:-} && -d $FN_ROOT ]]; then
    find "$FN_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
  fi
  if [[ -n ${FN_CPU_ROOT:-} && -d $FN_CPU_ROOT ]]; then
    find "$FN_CPU_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null
  fi
  [[ -n ${FN_TMP:-} ]] && rm -rf "$FN_TMP"
  return 0
}

# fake_node_allowed PID: the kernel's Cpus_allowed_list of the process.
fake_node_allowed() { awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$1/status"; }
