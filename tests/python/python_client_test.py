#!/usr/bin/python3
"""A Python client runs the seed scenario against a real mlp-server.

Stubs are generated at test time (mlp_test_support.py) from proto/ by the
system protoc with grpc_python_plugin, the server is started on 127.0.0.1:0
with --port_file, and the tutorial's experiment is run over a real channel:
CreateModel 3-4-1, Train (batch 1, SGD 0.1, until MSE <= 0.001), Predict,
GetWeights, the health service and NOT_FOUND for an unknown model.

Usage: python_client_test.py --server PATH --proto_dir DIR
           [--protoc PATH] [--grpc_python_plugin PATH] [unittest args]
Needs Debian's python3-grpcio and python3-protobuf (run with /usr/bin/python3).
"""

import sys

try:
    import grpc
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import grpc (%s); install python3-grpcio and run "
             "with /usr/bin/python3" % error)

from mlp_test_support import (SEED_INPUTS, SEED_TARGETS, ServerTestCase,
                              seed_spec, seed_train_request, tensor)
import mlp_test_support

STUBS = {}


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


class SeedScenarioTest(ServerTestCase):
    """The tutorial's experiment, driven from Python."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pb = STUBS["pb"]
        cls.stub = STUBS["pb_grpc"].ModelServiceStub(cls.channel)

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
        # An epoch loss (mean over the 4 samples of the squared error)
        # <= 0.001 allows each output at most sqrt(4 * 0.001) = 0.063 off.
        for row, output, target in zip(SEED_INPUTS, outputs, SEED_TARGETS):
            self.assertLess(abs(output - target), 0.07,
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


if __name__ == "__main__":
    mlp_test_support.main(__doc__, STUBS)
