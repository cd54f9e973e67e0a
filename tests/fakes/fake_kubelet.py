#!/usr/bin/env python3
"""A fake kubelet for the pod source tests: serves GET /pods over HTTPS on 127.0.0.1.

It responds like the kubelet's authenticated API: a PodList of real-looking Pod objects, and 401
unless the request carries `Authorization: Bearer <token>`. A JSON control file, re-read on every
request, steers it:

    {"mode": "ok" | "fail" | "forbidden" | "stall" | "garbage",
     "stall_seconds": 30,
     "pods": [{"namespace": "default", "name": "web", "cpu": "2", "memory": "1Gi"}, ...]}

A pod may also give "uid" and "container_id" (64 hex digits), so that it names a container cgroup
a test made (otherwise both are derived from the namespace and name), and "preferred_numa_node",
served as the PreferredNUMANodeId annotation.

"fail" returns 500, "forbidden" 403 (a token without RBAC), "stall" sleeps before responding, "garbage" sends a body that is not JSON.
Without "pods" it serves two pods: a Guaranteed one with 2 CPUs and a BestEffort one.

Each request appends one line (the path) to --requests-file, and the bound port is written to
--port-file once the server listens.
"""

import argparse
import hashlib
import http.server
import json
import os
import ssl
import sys
import time

DEFAULT_PODS = [
    {"namespace": "default", "name": "latency-critical", "cpu": "2", "memory": "1Gi"},
    {"namespace": "kube-system", "name": "log-shipper", "cpu": None, "memory": None},
]


def pod_object(spec):
    """Expands a compact pod description into a Pod as the kubelet serves it."""
    namespace, name = spec["namespace"], spec["name"]
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()
    uid = f"{digest[0:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
    uid = spec.get("uid", uid)
    container_id = spec.get("container_id", digest)
    annotations = {"kubernetes.io/config.source": "api"}
    if spec.get("preferred_numa_node") is not None:
        annotations["PreferredNUMANodeId"] = str(spec["preferred_numa_node"])
    resources = {}
    if spec.get("cpu"):
        quantities = {"cpu": spec["cpu"], "memory": spec.get("memory") or "256Mi"}
        resources = {"limits": dict(quantities), "requests": dict(quantities)}
    qos = "Guaranteed" if resources else "BestEffort"
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": "4711",
            "creationTimestamp": "2026-12-04T10:00:00Z",
            "labels": {"app": name},
            "annotations": annotations,
        },
        "spec": {
            "nodeName": "worker-1",
            "restartPolicy": "Always",
            "containers": [{
                "name": "app",
                "image": "registry.example/app:1.0",
                "resources": resources,
            }],
        },
        "status": {
            "phase": "Running",
            "qosClass": qos,
            "containerStatuses": [{
                "name": "app",
                "ready": True,
                "restartCount": 0,
                "image": "registry.example/app:1.0",
                "containerID": f"containerd://{container_id}",
                "state": {"running": {"startedAt": "2026-12-04T10:00:05Z"}},
            }],
        },
    }


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # Keeps test output quiet.
        pass

    def send_body(self, status, body, content_type):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        config = self.server.config
        with open(config.requests_file, "a") as log:
            log.write(self.path + "\n")

        if self.headers.get("Authorization") != f"Bearer {config.token}":
            self.send_body(401, "Unauthorized\n", "text/plain")
            return
        if self.path != "/pods":
            self.send_body(404, "404 page not found\n", "text/plain")
            return

        control = read_control(config.control_file)
        mode = control.get("mode", "ok")
        if mode == "stall":
            time.sleep(float(control.get("stall_seconds", 30)))
        if mode == "fail":
            self.send_body(500, "Internal Server Error: fake failure\n", "text/plain")
        elif mode == "forbidden":
            self.send_body(403, "Forbidden (user=system:serviceaccount:numapin:numapind, "
                           "verb=get, resource=nodes, subresource=proxy)\n", "text/plain")
        elif mode == "garbage":
            self.send_body(200, "<html>this is not a PodList", "application/json")
        else:
            items = [pod_object(spec) for spec in control.get("pods", DEFAULT_PODS)]
            body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
            self.send_body(200, json.dumps(body), "application/json")


def read_control(path):
    try:
        with open(path) as control:
            return json.load(control)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="PEM certificate the server presents")
    parser.add_argument("--key", required=True, help="PEM private key of --cert")
    parser.add_argument("--token-file", required=True, help="file with the expected bearer token")
    parser.add_argument("--control-file", required=True, help="JSON control file, see above")
    parser.add_argument("--port-file", required=True, help="written with the bound port")
    parser.add_argument("--requests-file", required=True, help="one line appended per request")
    config = parser.parse_args()
    with open(config.token_file) as token:
        config.token = token.read().strip()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.config = config
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(config.cert, config.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)

    temp = config.port_file + ".tmp"
    with open(temp, "w") as port_file:
        port_file.write(str(server.server_address[1]))
    os.rename(temp, config.port_file)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
