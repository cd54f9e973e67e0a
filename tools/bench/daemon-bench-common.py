# Shared parts of the numapind benchmarks (daemon-pin-latency, daemon-repair-latency,
# daemon-footprint): a private kubepods tree under the v1 cpuset hierarchy, pod manifests for
# numapind's dir: pod source, processes in container cgroups, a numapind child, its /metrics and
# its state dump. Everything made here is removed by FakeNode.cleanup, which the benchmarks call
# from a finally block and from SIGINT/SIGTERM handlers.
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CPUSET_MOUNT = "/sys/fs/cgroup/cpuset"


def percentile(values, fraction):
    """The nearest-rank percentile of values (fraction 0..1)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(fraction * len(ordered) + 0.5))))
    return ordered[rank - 1]


def summary_ms(seconds):
    """p50, p99, max and mean of latencies in seconds, in milliseconds."""
    return {
        "n": len(seconds),
        "p50_ms": round(percentile(seconds, 0.50) * 1e3, 3),
        "p90_ms": round(percentile(seconds, 0.90) * 1e3, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1e3, 3),
        "max_ms": round(max(seconds) * 1e3, 3),
        "mean_ms": round(sum(seconds) / len(seconds) * 1e3, 3),
    }


def read_cpus(directory):
    with open(os.path.join(directory, "cpuset.cpus")) as f:
        return f.read().strip()


def wait_until(predicate, timeout, what, poll=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


class FakeNode:
    """A kubepods tree (cgroupfs driver naming) at CPUSET_MOUNT/numapin-bench-<pid>."""

    def __init__(self):
        self.root = os.path.join(CPUSET_MOUNT, f"numapin-bench-{os.getpid()}")
        self.tmp = tempfile.mkdtemp(prefix=f"numapin-bench-{os.getpid()}.")
        self.manifests = os.path.join(self.tmp, "manifests")
        self.state = os.path.join(self.tmp, "state")
        self.log_path = os.path.join(self.tmp, "numapind.log")
        os.makedirs(self.manifests)
        os.makedirs(self.state)
        self.pids = []
        self.daemon = None
        self.counter = 0
        for sub in ("", "kubepods", "kubepods/burstable", "kubepods/besteffort"):
            self.make_cgroup(os.path.normpath(os.path.join(self.root, sub)), inherit=True)

    def make_cgroup(self, directory, inherit):
        """mkdir; with inherit, cpus and mems are copied from the parent as a runtime does (a v1
        cpuset cgroup takes no task until both are set)."""
        os.makedirs(directory, exist_ok=True)
        if inherit:
            parent = os.path.dirname(directory)
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(parent, name)) as f:
                    value = f.read().strip()
                with open(os.path.join(directory, name), "w") as f:
                    f.write(value)

    def new_ids(self):
        self.counter += 1
        raw = os.urandom(16).hex()
        uid = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
        return uid, os.urandom(32).hex()

    def pod_dir(self, qos, uid):
        parent = {"Guaranteed": "kubepods", "Burstable": "kubepods/burstable",
                  "BestEffort": "kubepods/besteffort"}[qos]
        return os.path.join(self.root, parent, f"pod{uid}")

    def container_dir(self, qos, uid, cid):
        return os.path.join(self.pod_dir(qos, uid), cid)

    def write_pod(self, name, uid, qos, cid):
        """A Pod as `kubectl get pod -o yaml` prints it, with one container "app", appearing by
        rename so that the pod source never reads half of it."""
        resources = {
            "Guaranteed": '      limits:\n        cpu: "1"\n        memory: 64Mi\n'
                          '      requests:\n        cpu: "1"\n        memory: 64Mi\n',
            "Burstable": "      requests:\n        cpu: 100m\n        memory: 32Mi\n",
            "BestEffort": "      {}\n",
        }[qos]
        text = (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: default\n"
                f"  uid: {uid}\nspec:\n  containers:\n  - name: app\n"
                f"    image: registry.k8s.io/pause:3.9\n    resources:\n{resources}"
                f"status:\n  phase: Running\n  qosClass: {qos}\n  containerStatuses:\n"
                f"  - name: app\n    containerID: containerd://{cid}\n"
                f"    image: registry.k8s.io/pause:3.9\n    ready: true\n    restartCount: 0\n"
                f"    started: true\n    state:\n      running:\n"
                f'        startedAt: "2026-01-01T00:00:00Z"\n')
        temporary = os.path.join(self.manifests, f".{name}.yaml")
        with open(temporary, "w") as f:
            f.write(text)
        os.rename(temporary, os.path.join(self.manifests, f"{name}.yaml"))

    def start_process(self, directory, busy=False):
        """A sleep, or a busy shell loop, that joins the cgroup before it execs."""
        body = "while :; do :; done" if busy else "exec sleep 100000"
        process = subprocess.Popen(
            ["sh", "-c", f'echo $$ > "$1/cgroup.procs" && {body}', "_", directory],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pids.append(process)
        return process

    def start_daemon(self, numapind, flags, dump=True):
        """Starts numapind on this tree and waits for its first pod sync and metrics port. Without
        dump, numapind writes no state dump, which it otherwise rewrites after every change."""
        self.dump_path = os.path.join(self.state, "dump.json")
        args = [numapind, f"--pod-source=dir:{self.manifests}", f"--cgroup-root={self.root}",
                f"--state-dir={self.state}", "--metrics-address=127.0.0.1:0"] + flags
        if os.path.exists(self.dump_path):
            os.remove(self.dump_path)
        if dump:
            args.append(f"--dump-state-file={self.dump_path}")
        else:
            self.dump_path = os.path.join(self.state, "no-dump.json")
        self.log_start = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        self.log = open(self.log_path, "a")
        self.daemon = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                       stderr=subprocess.STDOUT)
        wait_until(lambda: "First pod sync done" in self.log_text(), 15, "the first pod sync")
        wait_until(lambda: self.metrics_port() is not None, 5, "the metrics port in the log")
        self.port = self.metrics_port()

    def log_text(self):
        """numapind's log since the last start_daemon."""
        with open(self.log_path) as f:
            f.seek(self.log_start)
            return f.read()

    def metrics_port(self):
        found = re.findall(r"Serving metrics.*port=(\d+)", self.log_text())
        return int(found[-1]) if found else None

    def dump(self):
        try:
            with open(self.dump_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def scrape(self, path="/metrics"):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}")
            return body.decode()
        finally:
            connection.close()

    def histogram(self, family):
        """count, sum and the bucket bound holding p50 and p99 of a histogram in /metrics."""
        text = self.scrape()
        buckets = []
        count = total = 0.0
        for line in text.splitlines():
            if line.startswith(f"{family}_bucket"):
                bound = re.search(r'le="([^"]+)"', line).group(1)
                buckets.append((float("inf") if bound == "+Inf" else float(bound),
                                float(line.rsplit(" ", 1)[1])))
            elif line.startswith(f"{family}_count"):
                count = float(line.rsplit(" ", 1)[1])
            elif line.startswith(f"{family}_sum"):
                total = float(line.rsplit(" ", 1)[1])
        result = {"count": int(count), "sum_s": round(total, 6)}
        if count:
            result["mean_ms"] = round(total / count * 1e3, 3)
            for name, fraction in (("p50_le_ms", 0.5), ("p99_le_ms", 0.99)):
                bound = next(b for b, c in sorted(buckets) if c >= fraction * count)
                result[name] = bound * 1e3 if bound != float("inf") else "+Inf"
        return result

    def stop_daemon(self):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        self.daemon = None

    def cleanup(self):
        self.stop_daemon()
        for process in self.pids:
            if process.poll() is None:
                process.kill()
        for process in self.pids:
            process.wait()
        self.pids = []
        if os.path.isdir(self.root):
            for directory, _, _ in sorted(os.walk(self.root), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(directory)
                except OSError as error:
                    print(f"cleanup: could not remove {directory}: {error}", file=sys.stderr)
        if os.environ.get("NUMAPIN_BENCH_KEEP_LOG"):
            shutil.copy(self.log_path, os.environ["NUMAPIN_BENCH_KEEP_LOG"])
        shutil.rmtree(self.tmp, ignore_errors=True)


def run(main):
    """Runs main(node, numapind) with cleanup on exit, SIGINT and SIGTERM; prints the log tail
    on failure."""
    if os.geteuid() != 0 or not os.access(CPUSET_MOUNT, os.W_OK):
        print(f"needs root and a writable v1 cpuset hierarchy at {CPUSET_MOUNT}", file=sys.stderr)
        sys.exit(77)
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
    numapind = os.path.join(build, "bin", "numapind")
    node = FakeNode()

    def on_signal(number, _):
        raise SystemExit(128 + number)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        main(node, numapind)
    except Exception:
        if os.path.exists(node.log_path):
            with open(node.log_path) as f:
                print("--- numapind log\n" + "".join(f.readlines()[-40:]), file=sys.stderr)
        raise
    finally:
        node.cleanup()
