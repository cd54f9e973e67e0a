#!/usr/bin/env python3
"""Checks `numapinctl topology --topology=host --output=json` inside the lab guest.

Boots the guest through tools/lab/run, parses the JSON that numapinctl prints there and compares
its NUMA nodes, CPUs, SMT siblings and distances with the topology qemu was given. Exits 77 when
tools/lab/run does (no qemu or no guest kernel), 1 on any mismatch.
"""

import argparse
import json
import subprocess
import sys

SKIP_STATUS = 77

# What the guest kernel shows for each lab topology (see tools/lab/topologies.sh).
EXPECTED = {
    "2s2c2t": {
        "node_cpus": [[0, 1, 2, 3], [4, 5, 6, 7]],
        "distances": [[10, 20], [20, 10]],
        "siblings": [[0, 1], [2, 3], [4, 5], [6, 7]],
    },
    "4n2c1t": {
        "node_cpus": [[0, 1], [2, 3], [4, 5], [6, 7]],
        "distances": [
            [10, 12, 20, 30],
            [12, 10, 30, 20],
            [20, 30, 10, 12],
            [30, 20, 12, 10],
        ],
        "siblings": [[cpu] for cpu in range(8)],
    },
}


def parse_cpus(value):
    """Returns sorted OS indexes from a kernel list string ("0-3,6") or a list of integers."""
    if isinstance(value, list):
        return sorted(int(cpu) for cpu in value)
    cpus = []
    for part in str(value).split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return sorted(cpus)


def first_key(record, keys, description):
    """Returns the value of the first of `keys` that `record` has."""
    for key in keys:
        if key in record:
            return record[key]
    raise KeyError(f"{description}: none of the keys {keys} in {sorted(record)}")


# TODO: align these key names (nodes[].id/cpus/distances or a top-level distances matrix,
# cores[].cpus) with numapinctl's JSON schema. They are assumed, because that schema was not fixed when this check was written.
def check_topology(topology, expected):
    """Returns a list of mismatch messages, empty when the JSON matches."""
    errors = []
    nodes = sorted(topology["nodes"], key=lambda n: first_key(n, ["id", "os_index"], "node id"))
    if len(nodes) != len(expected["node_cpus"]):
        return [f"NUMA node count is {len(nodes)}, expected {len(expected['node_cpus'])}"]

    matrix = topology.get("distances")
    if matrix and not isinstance(matrix[0], list):
        # A flat row-major list, as numapin's Topology stores it.
        size = len(nodes)
        matrix = [matrix[row * size:(row + 1) * size] for row in range(size)]
    for index, node in enumerate(nodes):
        cpus = parse_cpus(first_key(node, ["cpus", "cpuset", "cpulist"], "node CPUs"))
        if cpus != expected["node_cpus"][index]:
            errors.append(f"node {index} CPUs are {cpus}, expected {expected['node_cpus'][index]}")
        row = node.get("distances", matrix[index] if matrix else None)
        if row != expected["distances"][index]:
            errors.append(f"node {index} distances are {row}, expected {expected['distances'][index]}")

    cores = topology.get("cores")
    if cores is None:
        errors.append(f"no 'cores' list in the output; top-level keys are {sorted(topology)}")
    else:
        siblings = sorted(parse_cpus(first_key(c, ["cpus", "siblings"], "core CPUs")) for c in cores)
        if siblings != expected["siblings"]:
            errors.append(f"SMT siblings are {siblings}, expected {expected['siblings']}")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", required=True, help="path of tools/lab/run")
    parser.add_argument("--build-dir", required=True, help="build tree with bin/numapinctl")
    parser.add_argument("--topology", required=True, choices=sorted(EXPECTED))
    args = parser.parse_args()

    command = [args.lab, f"--topology={args.topology}", f"--build-dir={args.build_dir}", "--",
               f"{args.build_dir}/bin/numapinctl", "topology", "--topology=host", "--output=json"]
    run = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if run.returncode == SKIP_STATUS:
        return SKIP_STATUS
    print(run.stdout)
    if run.returncode != 0:
        print(f"numapinctl in the guest exited {run.returncode}", file=sys.stderr)
        return 1

    try:
        topology = json.loads(run.stdout)
        errors = check_topology(topology, EXPECTED[args.topology])
    except (ValueError, KeyError, TypeError, IndexError) as error:
        errors = [f"numapinctl's output does not have the expected shape: {error}"]
    for error in errors:
        print(f"FAIL {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
