#!/usr/bin/python3
"""A primary, two read replicas and nginx with the shared routes, on loopback.

Every process is real: mlp-server --mode=primary writes a data directory,
two mlp-server --mode=replica follow it (--repository_poll_seconds short),
and nginx runs deploy/k8s/proxy/mlp-routes.conf (the file Kubernetes and
Compose use) from a main file written here whose upstreams are the servers'
loopback ports. Through the proxy, and on the replicas directly, in order:
  1. 20 commits through the proxy; each replica serves each new version (the
     lag from commit to served is printed, p50 and max, and bounded);
  2. a write sent straight to a replica is refused with FAILED_PRECONDITION
     naming the primary; reads, health and HTTP /v2 work through the proxy;
  3. kill -9 of a replica while 16 threads predict through the proxy: only
     calls on it as it dies fail (at most two per thread: the one on it and
     one racing nginx's notice), none once nginx has left it out;
  4. the primary stopped: reads go on, a write through the proxy gets
     UNAVAILABLE naming the primary, and no replica writes a byte into the
     data directory (every file's and directory's size and mtime before and
     after); the primary restarted: writes work and the replicas follow;
  5. a model deleted on the primary leaves the replicas' lists within the
     poll interval, and Predicts in flight on it get an answer or NOT_FOUND.

Usage: topology_test.py --server PATH --proto_dir DIR --nginx PATH
           --routes FILE [--protoc PATH] [--grpc_python_plugin PATH]
           [unittest args]
"""

import argparse
import getpass
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))

try:
    import grpc
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import grpc (%s); install python3-grpcio and run "
             "with /usr/bin/python3" % error)

from mlp_test_support import SEED_INPUTS, SEED_TARGETS, seed_spec, tensor
import mlp_test_support

STUBS = {}
DEPLOY_ARGS = argparse.Namespace()

# How often a replica looks for the primary's changes (it also has inotify).
POLL_SECONDS = 0.5
# What a replica may take beyond the poll interval to serve a change (loading
# it, a busy machine, sanitizer builds).
MARGIN_SECONDS = 3.0
PREDICT_THREADS = 16


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, process, what, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("%s exited during start-up with %d" %
                               (what, process.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("%s did not listen on %d in %d s" %
                       (what, port, timeout))


def tree_snapshot(root):
    """{relative path: (kind, size, mtime_ns)} of every file and directory
    under root, root included."""
    snapshot = {}
    for directory, dirs, files in os.walk(root):
        for name in [None] + dirs + files:
            path = directory if name is None else os.path.join(directory, name)
            st = os.lstat(path)
            kind = "dir" if os.path.isdir(path) else "file"
            snapshot[os.path.relpath(path, root)] = (kind, st.st_size,
                                                     st.st_mtime_ns)
    return snapshot


class Nginx:
    """nginx as the current user on two free loopback ports, running the
    shared routes with upstreams of loopback servers."""

    def __init__(self, work_dir, primary, replicas):
        self.dir = os.path.join(work_dir, "nginx")
        os.makedirs(self.dir)
        self.grpc_port = free_port()
        self.http_port = free_port()
        replica_grpc = "\n".join(
            "        server 127.0.0.1:%d max_fails=1 fail_timeout=5s;" % r.port
            for r in replicas)
        replica_http = "\n".join(
            "        server 127.0.0.1:%d max_fails=1 fail_timeout=5s;" %
            r.http_port for r in replicas)
        temp = "\n".join(
            "    %s_temp_path %s;" % (kind, os.path.join(self.dir, kind))
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        # As root (CI), nginx's workers would switch to "nobody", who cannot
        # enter this private directory.
        user = "user %s;\n" % getpass.getuser() if os.geteuid() == 0 else ""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write("""daemon off;
%sworker_processes 2;
pid %s;
error_log stderr warn;
events {
    worker_connections 1024;
}
http {
%s
    access_log %s;
    upstream mlp_primary {
        server 127.0.0.1:%d;
        keepalive 8;
    }
    upstream mlp_replicas {
        zone mlp_replicas 64k;
%s
        keepalive 32;
    }
    upstream mlp_replicas_http {
        zone mlp_replicas_http 64k;
%s
        keepalive 16;
    }
    server {
        listen 127.0.0.1:%d http2;
        listen 127.0.0.1:%d;
        include %s;
    }
}
""" % (user, os.path.join(self.dir, "nginx.pid"), temp,
                os.path.join(self.dir, "access.log"), primary.port,
                replica_grpc, replica_http, self.grpc_port, self.http_port,
                os.path.abspath(DEPLOY_ARGS.routes)))
        self.log_path = os.path.join(self.dir, "nginx.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [DEPLOY_ARGS.nginx, "-e", "stderr", "-p", self.dir, "-c",
             self.conf], stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.grpc_port, self.process, "nginx")
            wait_for_port(self.http_port, self.process, "nginx")
        except RuntimeError as error:
            self.stop()
            raise RuntimeError("%s:\n%s" % (error, self.log()))
        self.address = "127.0.0.1:%d" % self.grpc_port

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class TopologyTest(unittest.TestCase):
    """One topology for the whole class; the tests run in their numbered
    order and each leaves the primary and both replicas running."""

    @classmethod
    def start_server(cls, name, mode_args, ports=None):
        """An mlp-server on the shared data directory; `ports` (gRPC, HTTP)
        brings one back on the ports it had, else the kernel picks."""
        work_dir = os.path.join(cls.work_dir,
                                "%s-%d" % (name, time.monotonic_ns()))
        os.makedirs(work_dir)
        extra = ["--data_dir=" + cls.data_dir] + list(mode_args)
        if ports:
            extra += ["--address=127.0.0.1:%d" % ports[0],
                      "--http_address=127.0.0.1:%d" % ports[1]]
        return mlp_test_support.Server(mlp_test_support.ARGS.server,
                                       work_dir, http=True, extra_args=extra)

    @classmethod
    def start_primary(cls, ports=None):
        cls.primary = cls.start_server("primary", ["--mode=primary"], ports)
        cls.wait_serving(cls.primary.address)

    @classmethod
    def start_replica(cls, index, ports=None):
        replica = cls.start_server(
            "replica-%d" % (index + 1),
            ["--mode=replica",
             "--primary_address=" + cls.primary_address,
             "--repository_poll_seconds=%g" % POLL_SECONDS], ports)
        cls.replicas[index] = replica
        cls.wait_serving(replica.address)

    @classmethod
    def wait_serving(cls, address, timeout=20):
        """Until health "" says SERVING (a replica: after its first full
        load of the repository)."""
        health = STUBS["health_pb"]
        deadline = time.monotonic() + timeout
        last = None
        with grpc.insecure_channel(address) as channel:
            stub = STUBS["health_grpc"].HealthStub(channel)
            while time.monotonic() < deadline:
                try:
                    status = stub.Check(health.HealthCheckRequest(service=""),
                                        timeout=2).status
                    if status == health.HealthCheckResponse.SERVING:
                        return
                    last = status
                except grpc.RpcError as error:
                    last = error.code()
                time.sleep(0.05)
        raise AssertionError("%s not SERVING in %d s (last: %r)" %
                             (address, timeout, last))

    @classmethod
    def setUpClass(cls):
        cls.pb = STUBS["pb"]
        cls.work_dir = tempfile.mkdtemp(prefix="mlp-topology-test-")
        cls.data_dir = os.path.join(cls.work_dir, "data")
        cls.primary = None
        cls.replicas = [None, None]
        cls.nginx = None
        cls.channels = []
        try:
            cls.start_primary()
            cls.primary_address = cls.primary.address
            for i in range(2):
                cls.start_replica(i)
            cls.nginx = Nginx(cls.work_dir, cls.primary, cls.replicas)
        except Exception:
            cls.tearDownClass()
            raise
        cls.proxy = cls.stub(cls.nginx.address)

    @classmethod
    def tearDownClass(cls):
        for channel in cls.channels:
            channel.close()
        if cls.nginx is not None:
            cls.nginx.stop()
        for server in [cls.primary] + cls.replicas:
            if server is not None:
                server.stop()
        if os.environ.get("MLP_KEEP_TEST_DIR"):
            print("kept", cls.work_dir)
        else:
            shutil.rmtree(cls.work_dir, ignore_errors=True)

    @classmethod
    def stub(cls, address):
        channel = grpc.insecure_channel(address)
        cls.channels.append(channel)
        grpc.channel_ready_future(channel).result(timeout=10)
        return STUBS["pb_grpc"].ModelServiceStub(channel)

    def replica_stubs(self):
        return [self.stub(r.address) for r in self.replicas]

    def predict_request(self, model, version=0):
        return self.pb.PredictRequest(model=model, version=version,
                                      inputs=tensor(self.pb, SEED_INPUTS))

    def train_one_epoch(self, stub, model, seed):
        pb = self.pb
        request = pb.TrainRequest(
            model=model,
            inline_data=pb.TrainingData(
                inputs=tensor(pb, SEED_INPUTS),
                targets=tensor(pb, [[t] for t in SEED_TARGETS])),
            options=pb.TrainOptions(optimizer=pb.SGD, learning_rate=0.1,
                                    batch_size=1, max_epochs=1, seed=seed))
        return list(stub.Train(request, timeout=30))[-1].version

    def create(self, stub, model, seed=1):
        return stub.CreateModel(
            self.pb.CreateModelRequest(name=model, spec=seed_spec(self.pb,
                                                                  seed)),
            timeout=30)

    def listed(self, stub):
        response = stub.ListModels(self.pb.ListModelsRequest(), timeout=10)
        return {m.name for m in response.models}

    def wait_listed(self, stubs, model, present, since):
        """Seconds from `since` until every stub lists (or no longer lists)
        `model`; fails after the poll interval plus the margin."""
        deadline = since + POLL_SECONDS + MARGIN_SECONDS
        for stub in stubs:
            while (model in self.listed(stub)) != present:
                self.assertLess(time.monotonic(), deadline,
                                "a replica still %s %r" %
                                ("lacks" if present else "lists", model))
                time.sleep(0.005)
        return time.monotonic() - since

    # 1.
    def test_1_replicas_serve_every_commit(self):
        replicas = self.replica_stubs()
        lags = []
        for commit in range(20):
            if commit == 0:
                self.create(self.proxy, "lag")
                version = 1
            else:
                version = self.train_one_epoch(self.proxy, "lag", seed=commit)
            committed = time.monotonic()
            self.assertEqual(version, commit + 1)
            deadline = committed + POLL_SECONDS + MARGIN_SECONDS
            for stub in replicas:
                while True:
                    try:
                        stub.Predict(self.predict_request("lag", version),
                                     timeout=5)
                        break
                    except grpc.RpcError as error:
                        self.assertEqual(error.code(),
                                         grpc.StatusCode.NOT_FOUND,
                                         error.details())
                        self.assertLess(time.monotonic(), deadline,
                                        "version %d not served" % version)
                        time.sleep(0.002)
                lags.append(time.monotonic() - committed)
        print("\nlag from commit to served by a replica, %d samples: "
              "p50 %.0f ms, max %.0f ms (poll interval %.0f ms)" %
              (len(lags), 1000 * statistics.median(lags), 1000 * max(lags),
               1000 * POLL_SECONDS))
        self.assertLess(max(lags), POLL_SECONDS + MARGIN_SECONDS)

    # 2.
    def test_2_writes_to_a_replica_are_refused_and_reads_proxied(self):
        pb = self.pb
        replica = self.replica_stubs()[0]
        writes = {
            "CreateModel": lambda: self.create(replica, "refused"),
            "DeleteModel": lambda: replica.DeleteModel(
                pb.DeleteModelRequest(name="lag"), timeout=10),
            "DeleteDataset": lambda: replica.DeleteDataset(
                pb.DeleteDatasetRequest(name="any"), timeout=10),
            "Train": lambda: self.train_one_epoch(replica, "lag", seed=1),
            "UploadDataset": lambda: replica.UploadDataset(
                iter([pb.UploadDatasetRequest()]), timeout=10),
        }
        for name, call in writes.items():
            with self.assertRaises(grpc.RpcError, msg=name) as raised:
                call()
            self.assertEqual(raised.exception.code(),
                             grpc.StatusCode.FAILED_PRECONDITION, name)
            self.assertIn(self.primary_address, raised.exception.details(),
                          name)
        # Reads through the proxy: mlp.v1, health (a replica's), HTTP /v2.
        self.assertIn("lag", self.listed(self.proxy))
        with grpc.insecure_channel(self.nginx.address) as channel:
            health = STUBS["health_pb"]
            status = STUBS["health_grpc"].HealthStub(channel).Check(
                health.HealthCheckRequest(service=""), timeout=10).status
            self.assertEqual(status, health.HealthCheckResponse.SERVING)
        connection = http.client.HTTPConnection("127.0.0.1",
                                                self.nginx.http_port,
                                                timeout=10)
        connection.request("GET", "/v2/models/lag")
        response = connection.getresponse()
        body = response.read()
        self.assertEqual(response.status, 200, body)
        self.assertEqual(json.loads(body)["name"], "lag")
        connection.close()

    # 3.
    def test_3_a_killed_replica_costs_only_calls_in_flight(self):
        request = self.predict_request("lag")
        calls = []  # (start, end, code, details)
        lock = threading.Lock()
        stop = threading.Event()

        def predict_loop():
            while not stop.is_set():
                start = time.monotonic()
                details = ""
                try:
                    self.proxy.Predict(request, timeout=5)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as error:
                    code, details = error.code(), error.details()
                with lock:
                    calls.append((start, time.monotonic(), code, details))

        threads = [threading.Thread(target=predict_loop)
                   for _ in range(PREDICT_THREADS)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        victim = self.replicas[1]
        ports = (victim.port, victim.http_port)
        killed = time.monotonic()
        victim.process.kill()
        victim.process.wait()
        # From here on it is certainly gone: calls started before may have
        # been on it.
        dead = time.monotonic()
        time.sleep(3.0)
        stop.set()
        for t in threads:
            t.join()
        before = [c for c in calls if c[0] < killed]
        after = [c for c in calls if c[0] >= killed]
        failed = [c for c in calls if c[2] != grpc.StatusCode.OK]
        in_flight_failed = [c for c in failed if c[0] < dead]
        recovery = max((c[1] - killed for c in failed), default=0.0)
        print("\nkill -9 of a replica under %d threads: %d calls before, %d "
              "after; failed: %d started before it was reaped, %d after %s; "
              "last failure %.0f ms after the kill" %
              (PREDICT_THREADS, len(before), len(after),
               len(in_flight_failed), len(failed) - len(in_flight_failed),
               sorted({"%s: %s" % (c[2].name, c[3]) for c in failed}),
               1000 * recovery))
        self.assertGreater(len(before), PREDICT_THREADS)
        self.assertGreater(len(after), PREDICT_THREADS)
        # When its sockets close, at most one call per thread is on it (each
        # thread has one call at a time; calls sent while the killed process
        # is torn down wait for that). Calls racing nginx's view of those
        # closed keepalive connections may fail too, until the first failure
        # leaves the replica out for every worker (max_fails=1, a shared
        # zone): again at most one per thread.
        self.assertLessEqual(len(failed), 2 * PREDICT_THREADS)
        # And nothing once it is out: well within a second.
        late = [c for c in failed if c[0] > dead + 1.0]
        self.assertEqual(late, [], "calls failed after the replica was out")
        # nginx's own account: every call it failed was on the killed one.
        failed_on = set(re.findall(
            r'\[error\].*"POST /mlp\.v1\.ModelService/Predict HTTP/2\.0", '
            r'upstream: "grpc://127\.0\.0\.1:(\d+)"', self.nginx.log()))
        self.assertLessEqual(failed_on, {str(ports[0])})
        # Back on its ports for the tests that follow.
        victim.stop()
        self.start_replica(1, ports)

    # 4.
    def test_4_without_the_primary_reads_go_on_and_nothing_is_written(self):
        pb = self.pb
        ports = (self.primary.port, self.primary.http_port)
        self.assertEqual(self.primary.stop(), 0)
        before = tree_snapshot(self.data_dir)
        self.assertIn(os.path.join("models", "lag"), before)
        for _ in range(20):
            self.proxy.Predict(self.predict_request("lag"), timeout=10)
        with self.assertRaises(grpc.RpcError) as raised:
            self.create(self.proxy, "while-away")
        self.assertEqual(raised.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("primary", raised.exception.details())
        # Every read a replica serves, on each, and its refusals; long enough
        # for several polls of the repository.
        v2 = STUBS["v2"]
        for replica in self.replicas:
            stub = self.stub(replica.address)
            stub.GetModel(pb.GetModelRequest(name="lag"), timeout=10)
            stub.GetWeights(pb.GetWeightsRequest(model="lag"), timeout=10)
            stub.ListDatasets(pb.ListDatasetsRequest(), timeout=10)
            with grpc.insecure_channel(replica.address) as channel:
                infer = v2.ModelInferRequest(model_name="lag")
                infer.inputs.add(name="input", datatype="FP32", shape=[1, 3],
                                 contents=v2.InferTensorContents(
                                     fp32_contents=[1, 1, 0]))
                STUBS["v2_grpc"].GRPCInferenceServiceStub(channel).ModelInfer(
                    infer, timeout=10)
            with self.assertRaises(grpc.RpcError):
                self.create(stub, "refused")
        time.sleep(3 * POLL_SECONDS)
        after = tree_snapshot(self.data_dir)
        changed = sorted(p for p in set(before) | set(after)
                         if before.get(p) != after.get(p))
        self.assertEqual(changed, [], "replicas changed the data directory")
        # The primary back: writes through the proxy, and the replicas
        # follow.
        self.start_primary(ports)
        self.create(self.proxy, "after-restart")
        lag = self.wait_listed(self.replica_stubs(), "after-restart", True,
                               time.monotonic())
        print("\nprimary restarted: a new model on both replicas after "
              "%.0f ms" % (1000 * lag))

    # 5.
    def test_5_a_deleted_model_leaves_the_replicas_cleanly(self):
        replicas = self.replica_stubs()
        self.create(self.proxy, "doomed")
        self.wait_listed(replicas, "doomed", True, time.monotonic())
        codes = []
        lock = threading.Lock()
        stop = threading.Event()

        def predict_loop(stub):
            while not stop.is_set():
                try:
                    stub.Predict(self.predict_request("doomed"), timeout=5)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as error:
                    code = error.code()
                with lock:
                    codes.append(code)

        threads = [threading.Thread(target=predict_loop, args=(stub,))
                   for stub in replicas for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        deleted = time.monotonic()
        self.proxy.DeleteModel(self.pb.DeleteModelRequest(name="doomed"),
                               timeout=10)
        try:
            lag = self.wait_listed(replicas, "doomed", False, deleted)
        finally:
            time.sleep(0.2)
            stop.set()
            for t in threads:
                t.join()
        print("\ndeleted model gone from both replicas after %.0f ms; "
              "%d Predicts on it meanwhile: %s" %
              (1000 * lag, len(codes), {c.name: codes.count(c)
                                        for c in set(codes)}))
        self.assertEqual(set(codes) - {grpc.StatusCode.OK,
                                       grpc.StatusCode.NOT_FOUND}, set())
        self.assertIn(grpc.StatusCode.NOT_FOUND, codes)
        for replica in self.replicas:
            self.assertIsNone(replica.process.poll())
            self.wait_serving(replica.address, timeout=5)


def main():
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--nginx", required=True, help="nginx binary")
    parser.add_argument("--routes", required=True,
                        help="deploy/k8s/proxy/mlp-routes.conf")
    args, rest = parser.parse_known_args()
    if not os.access(args.nginx, os.X_OK):
        sys.exit("FAILED: %s is not an executable file" % args.nginx)
    if not os.path.isfile(args.routes):
        sys.exit("FAILED: no routes file %s" % args.routes)
    DEPLOY_ARGS.__dict__.update(vars(args))
    sys.argv = [sys.argv[0]] + rest
    # --server and the proto flags; then the tests, in their numbered order.
    mlp_test_support.main(__doc__, STUBS)


if __name__ == "__main__":
    main()
