"""What the Python tests share: stubs generated from proto/, the real
mlp-server on kernel-chosen loopback ports, and the tutorial's data.

Stubs are generated at test time by the system protoc with
grpc_python_plugin; nothing generated is kept. Needs Debian's python3-grpcio
and python3-protobuf (run with /usr/bin/python3).
"""

import argparse
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

# The tutorial's data: XNOR of the first and third input.
SEED_INPUTS = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1]]
SEED_TARGETS = [1, 0, 1, 0]

# Each proto, the include directory it is compiled from and its modules.
# mlp.v1 and inference keep their paths (mlp.v1.mlp_pb2,
# inference.grpc_predict_v2_pb2). The health proto is compiled relative to
# proto/grpc so its module is health.v1.health_pb2: a generated top-level
# "grpc" package would shadow grpcio itself. The service keeps its full name
# grpc.health.v1.Health (from the package).
PROTOS = {
    "pb": ("", "mlp/v1/mlp.proto", "mlp.v1.mlp_pb2"),
    "pb_grpc": ("", "mlp/v1/mlp.proto", "mlp.v1.mlp_pb2_grpc"),
    "health_pb": ("grpc", "health/v1/health.proto", "health.v1.health_pb2"),
    "health_grpc": ("grpc", "health/v1/health.proto",
                    "health.v1.health_pb2_grpc"),
    "v2": ("", "inference/grpc_predict_v2.proto",
           "inference.grpc_predict_v2_pb2"),
    "v2_grpc": ("", "inference/grpc_predict_v2.proto",
                "inference.grpc_predict_v2_pb2_grpc"),
}


def generate_stubs(args, out_dir):
    """Runs protoc on the project's protos; returns the imported modules."""
    plugin = "--plugin=protoc-gen-grpc_python=" + args.grpc_python_plugin
    done = set()
    for include, proto, _ in PROTOS.values():
        if (include, proto) in done:
            continue
        done.add((include, proto))
        command = [args.protoc, "-I", os.path.join(args.proto_dir, include),
                   "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
                   plugin, proto]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("protoc failed (%s): %s" %
                               (" ".join(command), result.stderr))
    sys.path.insert(0, out_dir)
    return {key: importlib.import_module(module)
            for key, (_, _, module) in PROTOS.items()}


def _read_port(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text) if text else None
    except FileNotFoundError:
        return None


class Server:
    """The mlp-server binary on kernel-chosen loopback ports: gRPC always,
    HTTP when `http` is true."""

    def __init__(self, binary, work_dir, http=False, extra_args=()):
        self.data_dir = os.path.join(work_dir, "data")
        self.port_file = os.path.join(work_dir, "port")
        self.http_port_file = os.path.join(work_dir, "http_port")
        self.log_path = os.path.join(work_dir, "server.log")
        self._log = open(self.log_path, "wb")
        command = [binary, "--address=127.0.0.1:0",
                   "--data_dir=" + self.data_dir,
                   "--port_file=" + self.port_file]
        if http:
            command += ["--http_address=127.0.0.1:0",
                        "--http_port_file=" + self.http_port_file]
        else:
            # Off: the default port would be shared by tests run at once.
            command += ["--http_address="]
        command += list(extra_args)
        self.process = subprocess.Popen(command, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        self.port = None
        self.http_port = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError("mlp-server exited during start-up with %d:\n%s"
                                   % (self.process.returncode, self.log()))
            self.port = _read_port(self.port_file)
            if http:
                self.http_port = _read_port(self.http_port_file)
            if self.port is not None and (self.http_port is not None or
                                          not http):
                break
            time.sleep(0.01)
        if self.port is None or (http and self.http_port is None):
            self.process.kill()
            self.process.wait()
            self._log.close()
            raise RuntimeError("mlp-server did not write its ports in 20 s:\n"
                               + self.log())
        self.address = "127.0.0.1:%d" % self.port

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log.close()
                return None
        self._log.close()
        return self.process.returncode


class ServerTestCase(unittest.TestCase):
    """A real mlp-server for the tests of a class, and a channel to it.

    Subclasses set HTTP (start the HTTP listener too), override extra_args
    for more server flags, and extend setUpClass (calling this one first).
    The server must stop with status 0 on SIGTERM, or the class fails.
    """

    HTTP = False
    # False where the gRPC port needs credentials the plain channel lacks.
    WAIT_FOR_CHANNEL = True

    @classmethod
    def extra_args(cls, work_dir):
        return ()

    @classmethod
    def setUpClass(cls):
        cls.work_dir = tempfile.mkdtemp(prefix="mlp-python-test-")
        try:
            cls.server = Server(ARGS.server, cls.work_dir, http=cls.HTTP,
                                extra_args=cls.extra_args(cls.work_dir))
        except Exception:
            shutil.rmtree(cls.work_dir, ignore_errors=True)
            raise
        import grpc  # Debian's python3-grpcio; the tests check it is there
        cls.channel = grpc.insecure_channel(cls.server.address)
        if cls.WAIT_FOR_CHANNEL:
            grpc.channel_ready_future(cls.channel).result(timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        status = cls.server.stop()
        shutil.rmtree(cls.work_dir, ignore_errors=True)
        if status != 0:
            raise AssertionError("mlp-server exited with %r after SIGTERM "
                                 "(expected 0 within 5 s)" % status)


def tensor(pb, rows):
    return pb.Tensor(shape=[len(rows), len(rows[0])],
                     values=[float(v) for row in rows for v in row])


def seed_spec(pb, seed):
    return pb.ModelSpec(
        input_size=3,
        layers=[pb.LayerSpec(units=4, activation=pb.RELU),
                pb.LayerSpec(units=1, activation=pb.LINEAR)],
        loss=pb.MSE, bias=False, init=pb.UNIFORM_0_1, seed=seed)


def seed_train_request(pb, model):
    return pb.TrainRequest(
        model=model,
        inline_data=pb.TrainingData(
            inputs=tensor(pb, SEED_INPUTS),
            targets=tensor(pb, [[t] for t in SEED_TARGETS])),
        options=pb.TrainOptions(optimizer=pb.SGD, learning_rate=0.1,
                                batch_size=1, max_epochs=1000,
                                target_loss=0.001, seed=7))


def main(doc, stubs):
    """Parses the common flags, fills `stubs`, runs the module's tests and
    exits 1 if any failed. Returns the parsed flags to nobody: tests read
    them from ARGS."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--server", required=True, help="mlp-server binary")
    parser.add_argument("--proto_dir", required=True, help="the proto/ tree")
    parser.add_argument("--protoc", default="/usr/bin/protoc")
    parser.add_argument("--grpc_python_plugin",
                        default="/usr/bin/grpc_python_plugin")
    args, rest = parser.parse_known_args()
    for path in (args.server, args.protoc, args.grpc_python_plugin):
        if not os.access(path, os.X_OK):
            sys.exit("FAILED: %s is not an executable file" % path)
    ARGS.__dict__.update(vars(args))
    stub_dir = tempfile.mkdtemp(prefix="mlp-python-stubs-")
    try:
        stubs.update(generate_stubs(args, stub_dir))
        program = unittest.main(module="__main__",
                                argv=[sys.argv[0]] + rest, exit=False,
                                verbosity=2)
    finally:
        shutil.rmtree(stub_dir, ignore_errors=True)
    if not program.result.wasSuccessful():
        print("FAILED: %s failed (see above)" % os.path.basename(sys.argv[0]),
              file=sys.stderr)
        sys.exit(1)


# The flags main() parsed: server, proto_dir, protoc, grpc_python_plugin.
ARGS = argparse.Namespace()
