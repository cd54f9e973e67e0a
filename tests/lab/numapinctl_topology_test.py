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


def parse_cpus(text):
    """Return the sorted OS indexes of a CPU list in the kernel's list format ("0-3,6")."""
    if not isinstance(text, str):
        raise TypeError(f"CPU list {text!r} is not a string in list format")
    cpus = []
    for part in text.split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return sorted(cpus)


def check_nodes(topology, expected):
    """Return mismatch messages for "nodes" and the top-level "distances" matrix."""
    nodes = topology["nodes"]
    ids = [node["id"] for node in nodes]
    if ids != list(range(len(expected["node_cpus"]))):
        return [f"NUMA node ids are {ids}, expected 0-{len(expected['node_cpus']) - 1} in order"]

    errors = []
    for node, cpus, row in zip(nodes, expected["node_cpus"], expected["distances"]):
        if parse_cpus(node["cpus"]) != cpus:
            errors.append(f"node {node['id']} cpus are {node['cpus']!r}, expected {cpus}")
        if node["distances"] != row:
            errors.append(f"node {node['id']} distances are {node['distances']}, expected {row}")
    if topology["distances"] != expected["distances"]:
        errors.append(f"distances matrix is {topology['distances']}, expected {expected['distances']}")
    if topology["distances_reported"] is not True:
        errors.append(f"distances_reported is {topology['distances_reported']!r}, expected true")
    return errors


def check_cores(topology, expected):
    """Return mismatch messages for "cores", "smt_width" and "assignable_cpus"."""
    errors = []
    cores = topology["cores"]
    siblings = sorted(parse_cpus(core["cpus"]) for core in cores)
    if siblings != expected["siblings"]:
        errors.append(f"SMT siblings are {siblings}, expected {expected['siblings']}")

    node_of_cpu = {cpu: node for node, cpus in enumerate(expected["node_cpus"]) for cpu in cpus}
    for core in cores:
        nodes = {node_of_cpu.get(cpu) for cpu in parse_cpus(core["cpus"])}
        if nodes != {core["numa_node"]}:
            errors.append(f"core {core['index']} (cpus {core['cpus']}) has numa_node "
                          f"{core['numa_node']}, expected its CPUs' node {sorted(nodes, key=str)}")

    smt_width = len(expected["siblings"][0])
    if topology["smt_width"] != smt_width:
        errors.append(f"smt_width is {topology['smt_width']}, expected {smt_width}")
    all_cpus = sorted(node_of_cpu)
    if parse_cpus(topology["assignable_cpus"]) != all_cpus:
        errors.append(f"assignable_cpus is {topology['assignable_cpus']!r}, expected {all_cpus}")
    return errors


def check_topology(topology, expected):
    """Return a list of mismatch messages, empty when the JSON matches.

    Reads the schema that `numapinctl topology --output=json` writes (tools/numapinctl/topology.cc,
    docs/numapinctl.md): CPU sets are list-format strings, and each node's "distances" is its row
    of the top-level matrix.
    """
    return check_nodes(topology, expected) + check_cores(topology, expected)


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
