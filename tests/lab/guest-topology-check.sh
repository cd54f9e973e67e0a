#!/bin/sh
# Checks, inside the lab guest, that the kernel reports the topology that tools/lab/run asked qemu
# for, and that the interfaces numapin needs are there: pure cgroup v2 with a working cpuset
# controller, bpffs and BTF. Runs numapinctl's topology command too when it is built.
#
# usage: guest-topology-check.sh 2s2c2t|4n2c1t   (busybox sh; exits 1 if any check failed)

failures=0

# Prints one result line: check WHAT ACTUAL EXPECTED.
check() {
  if [ "$2" = "$3" ]; then
    echo "ok   $1: $2"
  else
    echo "FAIL $1: got '$2', expected '$3'"
    failures=$((failures + 1))
  fi
}

read_sysfs() { cat "$1" 2>/dev/null || echo "(missing $1)"; }

# Prints the Nth word (from 1) of a list: nth N WORD...
nth() {
  shift "$1"
  echo "$1"
}

case "$1" in
  2s2c2t)
    node_cpus="0-3 4-7"
    distances="10_20 20_10"
    siblings="0-1 0-1 2-3 2-3 4-5 4-5 6-7 6-7"
    packages="0 0 0 0 1 1 1 1"
    ;;
  4n2c1t)
    node_cpus="0-1 2-3 4-5 6-7"
    distances="10_12_20_30 12_10_30_20 20_30_10_12 30_20_12_10"
    siblings="0 1 2 3 4 5 6 7"
    packages="0 0 1 1 2 2 3 3"
    ;;
  *)
    echo "usage: $0 2s2c2t|4n2c1t" >&2
    exit 2
    ;;
esac

node_count=$(echo $node_cpus | wc -w)
check "NUMA node count" "$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)" "$node_count"
check "online CPUs" "$(read_sysfs /sys/devices/system/cpu/online)" "0-7"

node=0
for cpus in $node_cpus; do
  check "node$node cpulist" "$(read_sysfs /sys/devices/system/node/node$node/cpulist)" "$cpus"
  expected_distance=$(nth $((node + 1)) $distances | tr _ ' ')
  check "node$node distance" "$(read_sysfs /sys/devices/system/node/node$node/distance)" \
    "$expected_distance"
  node=$((node + 1))
done

for cpu in 0 1 2 3 4 5 6 7; do
  topology=/sys/devices/system/cpu/cpu$cpu/topology
  check "cpu$cpu thread_siblings_list" "$(read_sysfs $topology/thread_siblings_list)" \
    "$(nth $((cpu + 1)) $siblings)"
  check "cpu$cpu physical_package_id" "$(read_sysfs $topology/physical_package_id)" \
    "$(nth $((cpu + 1)) $packages)"
done

mount_type() { awk -v target="$1" '$2 == target { print $3 }' /proc/mounts; }
check "/sys/fs/cgroup file system" "$(mount_type /sys/fs/cgroup)" "cgroup2"
check "cgroup v1 hierarchies mounted" "$(awk '$3 == "cgroup"' /proc/mounts | wc -l)" "0"
check "cpuset in cgroup.controllers" \
  "$(grep -ow cpuset /sys/fs/cgroup/cgroup.controllers)" "cpuset"
check "cpuset in cgroup.subtree_control" \
  "$(grep -ow cpuset /sys/fs/cgroup/cgroup.subtree_control)" "cpuset"
check "/sys/fs/bpf file system" "$(mount_type /sys/fs/bpf)" "bpf"
if [ -s /sys/kernel/btf/vmlinux ]; then btf=present; else btf=missing; fi
check "/sys/kernel/btf/vmlinux" "$btf" "present"

# A cgroup confined to the last NUMA node must confine the process moved into it.
last_node=$((node_count - 1))
last_cpus=$(nth "$node_count" $node_cpus)
cgroup=/sys/fs/cgroup/numapin-test-$$
mkdir "$cgroup"
echo "$last_cpus" >"$cgroup/cpuset.cpus"
echo "$last_node" >"$cgroup/cpuset.mems"
check "cpuset.cpus.effective" "$(read_sysfs $cgroup/cpuset.cpus.effective)" "$last_cpus"
check "cpuset.mems.effective" "$(read_sysfs $cgroup/cpuset.mems.effective)" "$last_node"
sleep 60 &
sleeper=$!
echo "$sleeper" >"$cgroup/cgroup.procs"
check "Cpus_allowed_list in the cgroup" \
  "$(awk '/^Cpus_allowed_list/ { print $2 }' /proc/$sleeper/status)" "$last_cpus"
check "Mems_allowed_list in the cgroup" \
  "$(awk '/^Mems_allowed_list/ { print $2 }' /proc/$sleeper/status)" "$last_node"
kill "$sleeper"
wait "$sleeper" 2>/dev/null
rmdir "$cgroup"

# hwloc, which numapin's topology loader uses, must read the same layout from the guest.
if command -v lstopo-no-graphics >/dev/null; then
  for type in package numanode core pu; do
    case $type in
      package) expected=$(echo $packages | tr ' ' '\n' | sort -u | wc -l) ;;
      numanode) expected=$node_count ;;
      core) expected=$(echo $siblings | tr ' ' '\n' | sort -u | wc -l) ;;
      pu) expected=8 ;;
    esac
    check "hwloc $type count" "$(lstopo-no-graphics --only $type | wc -l)" "$expected"
  done
  # Logical and OS indexes of the nodes are the same in the lab topologies.
  lstopo-no-graphics --distances --no-io -v >/tmp/hwloc-distances.txt 2>&1
  node=0
  for row in $distances; do
    check "hwloc node$node distance" \
      "$(awk -v node=$node '/latency matrix/ { found = 1; next }
        found && $1 == node { $1 = ""; sub(/^ /, ""); print; exit }' /tmp/hwloc-distances.txt)" \
      "$(echo "$row" | tr _ ' ')"
    node=$((node + 1))
  done
else
  check "lstopo-no-graphics in the guest" "missing" "present (Debian package hwloc)"
fi

if command -v numapinctl >/dev/null; then
  echo "numapinctl topology --topology=host --output=json:"
  numapinctl topology --topology=host --output=json
  check "numapinctl topology exit status" "$?" "0"
else
  echo "note: numapinctl is not built (not in $PATH), so its topology output is not checked"
fi

echo "$failures failed"
[ "$failures" -eq 0 ]
