#!/usr/bin/python3
"""A Python client runs the seed scenario against a real mlp-server.

Stubs are generated at test time from proto/ by the system protoc with
grpc_python_plugin, the server binary is started on 127.0.0.1:0 with
--port_file, and the tutorial's experiment is run over a real channel:
CreateModel 3-4-1, Train (batch 1, SGD 0.1, until MSE <= 0.001), Predict,
GetWeights, the health service and NOT_FOUND for an unknown model.

Usage: python_client_test.py --server PATH --proto_dir DIR
           [--protoc PATH] [--grpc_python_plugin PATH] [unittest args]
Needs Debian's python3-grpcio and python3-protobuf (run with /usr/bin/python3).
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

try:
    import grpc
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import grpc (%s); install python3-grpcio and run "
             "with /usr/bin/python3" % error)

ARGS = None
STUBS = {}

# The tutorial's data: XNOR of the first and third input.
SEED_INPUTS = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1]]
SEED_TARGETS = [1, 0, 1, 0]


def generate_stubs(out_dir):
    """Runs protoc on the project's protos; returns the imported modules."""
    proto_dir = ARGS.proto_dir
    plugin = "--plugin=protoc-gen-grpc_python=" + ARGS.grpc_python_plugin
    # mlp.v1 keeps its path (module mlp.v1.mlp_pb2). The health proto is
    # compiled relative to proto/grpc so its module is health.v1.health_pb2:
    # a generated top-level "grpc" package would shadow grpcio itself. The
    # service keeps its full name grpc.health.v1.Health (from the package).
    runs = [
        (proto_dir, os.path.join("mlp", "v1", "mlp.proto")),
        (os.path.join(proto_dir, "grpc"),
         os.path.join("health", "v1", "health.proto")),
    ]
    for include, proto in runs:
        command = [ARGS.protoc, "-I", include, "--python_out=" + out_dir,
                   "--grpc_python_out=" + out_dir, plugin, proto]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError("protoc failed (%s): %s" %
                               (" ".join(command), result.stderr))
    sys.path.insert(0, out_dir)
    return {
        "pb": importlib.import_module("mlp.v1.mlp_pb2"),
        "pb_grpc": importlib.import_module("mlp.v1.mlp_pb2_grpc"),
        "health_pb": importlib.import_module("health.v1.health_pb2"),
        "health_grpc": importlib.import_module("health.v1.health_pb2_grpc"),
    }


class Server:
    """The mlp-server binary on a kernel-chosen loopback port."""

    def __init__(self, binary, work_dir):
        self.data_dir = os.path.join(work_dir, "data")
        self.port_file = os.path.join(work_dir, "port")
        self.log_path = os.path.join(work_dir, "server.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [binary, "--address=127.0.0.1:0", "--data_dir=" + self.data_dir,
             "--port_file=" + self.port_file],
            stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        self.port = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.close()
                raise RuntimeError("mlp-server exited during start-up with %d:\n%s"
                                   % (self.process.returncode, self.log()))
            try:
                with open(self.port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        if self.port is None:
            self.process.kill()
            self.process.wait()
            self._log.close()
            raise RuntimeError("mlp-server did not write its port in 20 s:\n"
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


def forward(layers, row):
    """Reference forward pass: weights [inputs, units], row-major."""
    activations = list(row)
    for layer in layers:
        inputs, units = layer["shape"]
        out = []
        for u in range(units):
            z = sum(activations[i] * layer["w"][i * units + u]
                    for i in range(inputs))
            if layer["bias"]:
                z += layer["bias"][u]
            out.append(layer["act"](z))
        activations = out
    return activations


class SeedScenarioTest(unittest.TestCase):
    """The tutorial's experiment, driven from Python."""

    @classmethod
    def setUpClass(cls):
        cls.work_dir = tempfile.mkdtemp(prefix="mlp-python-test-")
        cls.pb = STUBS["pb"]
        try:
            cls.server = Server(ARGS.server, cls.work_dir)
        except Exception:
            shutil.rmtree(cls.work_dir, ignore_errors=True)
            raise
        cls.channel = grpc.insecure_channel(cls.server.address)
        grpc.channel_ready_future(cls.channel).result(timeout=10)
        cls.stub = STUBS["pb_grpc"].ModelServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        status = cls.server.stop()
        shutil.rmtree(cls.work_dir, ignore_errors=True)
        if status != 0:
            raise AssertionError("mlp-server exited with %r after SIGTERM "
                                 "(expected 0 within 5 s)" % status)

    def call(self, method, request):
        return method(request, timeout=30)

    def test_seed_scenario(self):
        pb = self.pb
        info = self.call(self.stub.CreateModel,
                         pb.CreateModelRequest(name="xor", spec=seed_spec(pb, 1)))
        self.assertEqual(info.name, "xor")
        self.assertEqual(info.version, 1)
        self.assertEqual(info.parameter_count, 3 * 4 + 4 * 1)
        self.assertEqual(info.spec.seed, 1)

        messages = list(self.stub.Train(seed_train_request(pb, "xor"),
                                        timeout=60))
        self.assertTrue(messages, "Train streamed no message")
        epochs = [m.epoch for m in messages]
        self.assertEqual(epochs, list(range(1, len(messages) + 1)),
                         "expected one message per epoch, in order")
        self.assertEqual([m.done for m in messages],
                         [False] * (len(messages) - 1) + [True],
                         "only the last message may be done")
        last = messages[-1]
        self.assertEqual(pb.StopReason.Name(last.stop_reason), "TARGET_LOSS")
        self.assertLessEqual(last.loss, 0.001)
        self.assertLess(last.loss, messages[0].loss)
        self.assertEqual(last.version, 2)
        self.assertEqual(self.call(self.stub.GetModel,
                                   pb.GetModelRequest(name="xor")).version, 2)

        prediction = self.call(
            self.stub.Predict,
            pb.PredictRequest(model="xor", inputs=tensor(pb, SEED_INPUTS)))
        self.assertEqual(prediction.version, 2)
        self.assertEqual(list(prediction.outputs.shape), [4, 1])
        outputs = list(prediction.outputs.values)
        for row, output, target in zip(SEED_INPUTS, outputs, SEED_TARGETS):
            self.assertLess(abs(output - target), 0.5,
                            "input %s predicted %f, target %d" %
                            (row, output, target))

        weights = self.call(self.stub.GetWeights,
                            pb.GetWeightsRequest(model="xor"))
        self.assertEqual(weights.version, 2)
        self.assertEqual([list(l.weights.shape) for l in weights.layers],
                         [[3, 4], [4, 1]])
        self.assertEqual([len(l.weights.values) for l in weights.layers],
                         [12, 4])
        for layer in weights.layers:
            self.assertEqual(len(layer.bias.values), 0, "spec has no bias")
        # The weights reproduce the predictions through a forward pass
        # written here.
        activation = {pb.RELU: lambda z: max(z, 0.0), pb.LINEAR: lambda z: z}
        layers = [{"shape": list(l.weights.shape), "w": list(l.weights.values),
                   "bias": list(l.bias.values), "act": activation[l.activation]}
                  for l in weights.layers]
        for row, output in zip(SEED_INPUTS, outputs):
            self.assertAlmostEqual(forward(layers, row)[0], output, places=5)

    def test_health_serving(self):
        health = STUBS["health_grpc"].HealthStub(self.channel)
        request_type = STUBS["health_pb"].HealthCheckRequest
        serving = STUBS["health_pb"].HealthCheckResponse.SERVING
        for service in ("", "mlp.v1.ModelService"):
            response = health.Check(request_type(service=service), timeout=10)
            self.assertEqual(response.status, serving,
                             "health of %r is %d" % (service, response.status))

    def test_unknown_model_is_not_found(self):
        pb = self.pb
        calls = [
            (self.stub.GetModel, pb.GetModelRequest(name="no-such-model")),
            (self.stub.Predict,
             pb.PredictRequest(model="no-such-model",
                               inputs=tensor(pb, SEED_INPUTS))),
            (self.stub.GetWeights, pb.GetWeightsRequest(model="no-such-model")),
            (self.stub.DeleteModel, pb.DeleteModelRequest(name="no-such-model")),
        ]
        for method, request in calls:
            with self.assertRaises(grpc.RpcError) as raised:
                self.call(method, request)
            self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND,
                             raised.exception.details())
            self.assertIn("no-such-model", raised.exception.details())
        with self.assertRaises(grpc.RpcError) as raised:
            list(self.stub.Train(seed_train_request(pb, "no-such-model"),
                                 timeout=30))
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_bad_name_is_invalid_argument(self):
        pb = self.pb
        with self.assertRaises(grpc.RpcError) as raised:
            self.call(self.stub.CreateModel,
                      pb.CreateModelRequest(name="Bad/Name",
                                            spec=seed_spec(pb, 1)))
        self.assertEqual(raised.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="mlp-server binary")
    parser.add_argument("--proto_dir", required=True, help="the proto/ tree")
    parser.add_argument("--protoc", default="/usr/bin/protoc")
    parser.add_argument("--grpc_python_plugin",
                        default="/usr/bin/grpc_python_plugin")
    ARGS, rest = parser.parse_known_args()
    for path in (ARGS.server, ARGS.protoc, ARGS.grpc_python_plugin):
        if not os.access(path, os.X_OK):
            sys.exit("FAILED: %s is not an executable file" % path)
    stub_dir = tempfile.mkdtemp(prefix="mlp-python-stubs-")
    try:
        STUBS.update(generate_stubs(stub_dir))
        program = unittest.main(argv=[sys.argv[0]] + rest, exit=False,
                                verbosity=2)
    finally:
        shutil.rmtree(stub_dir, ignore_errors=True)
    if not program.result.wasSuccessful():
        print("FAILED: the Python client scenario failed (see above)",
              file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
