# The lab's guest topologies, sourced by tools/lab/run. Each one sets the qemu -smp, -numa node
# and -numa dist options in topology_args. CPUs are numbered by qemu socket by socket, core by
# core, thread by thread, so SMT siblings get adjacent OS indexes.
#
# 2s2c2t: 2 packages x 2 cores x 2 threads, one NUMA node per package.
#   node 0: CPUs 0-3, node 1: CPUs 4-7; SMT siblings 0-1, 2-3, 4-5, 6-7.
#   distances: 10 local, 20 remote.
#
# 4n2c1t: 4 packages x 2 single-thread cores, one NUMA node per package, no SMT.
#   node N: CPUs 2N-(2N+1). Nodes 0-1 and 2-3 are pairs in the distance matrix
#          0   1   2   3
#     0   10  12  20  30
#     1   12  10  30  20
#     2   20  30  10  12
#     3   30  20  12  10
#   so every node has the other three at three different distances.

list_topologies() {
  echo "2s2c2t  2 packages x 2 cores x 2 threads, 2 NUMA nodes (distance 20), 8 CPUs"
  echo "4n2c1t  4 NUMA nodes x 2 single-thread cores, distances 12/20/30, 8 CPUs"
}

# Appends one NUMA node with memory and CPUs: add_node NODE CPUS MIB.
add_node() {
  topology_args+=(
    -object "memory-backend-ram,id=mem$1,size=$3M"
    -numa "node,nodeid=$1,cpus=$2,memdev=mem$1"
  )
}

# Appends a symmetric distance: add_distance NODE NODE VALUE.
add_distance() {
  topology_args+=(-numa "dist,src=$1,dst=$2,val=$3")
}

# Sets topology_args for NAME and rounds opt_memory down to a multiple of the node count,
# because qemu requires the node memories to add up to -m.
select_topology() {
  topology_args=()
  local requested=$opt_memory per_node
  case "$1" in
    2s2c2t)
      per_node=$((opt_memory / 2))
      topology_args+=(-smp 8,sockets=2,cores=2,threads=2)
      add_node 0 0-3 "$per_node"
      add_node 1 4-7 "$per_node"
      add_distance 0 1 20
      opt_memory=$((per_node * 2))
      ;;
    4n2c1t)
      per_node=$((opt_memory / 4))
      topology_args+=(-smp 8,sockets=4,cores=2,threads=1)
      add_node 0 0-1 "$per_node"
      add_node 1 2-3 "$per_node"
      add_node 2 4-5 "$per_node"
      add_node 3 6-7 "$per_node"
      add_distance 0 1 12
      add_distance 2 3 12
      add_distance 0 2 20
      add_distance 1 3 20
      add_distance 0 3 30
      add_distance 1 2 30
      opt_memory=$((per_node * 4))
      ;;
    *)
      list_topologies >&2
      die "unknown topology '$1'; choose one of the above"
      ;;
  esac
  ((per_node >= 128)) || die "--memory=$requested leaves less than 128 MiB per NUMA node; raise it"
}
