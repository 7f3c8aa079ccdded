#!/usr/bin/python3
"""The Open Inference Protocol over gRPC, from a Python client.

The client is generated at test time from the project's
proto/inference/grpc_predict_v2.proto by protoc with grpc_python_plugin, as a
KServe or Triton user would generate theirs, and talks to the real mlp-server
on 127.0.0.1:0. A model is created and trained through mlp.v1; then every v2
RPC is called, with typed and raw (little-endian FP32, tritonclient's
encoding) inputs, FP64 inputs, a version selection, the outputs filter and
the errors Triton's clients expect. Every prediction is compared with mlp.v1
Predict's on the same version to the last bit.

Usage: oip_grpc_test.py --server PATH --proto_dir DIR
           [--protoc PATH] [--grpc_python_plugin PATH] [unittest args]
"""

import struct
import sys

try:
    import grpc
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import grpc (%s); install python3-grpcio and run "
             "with /usr/bin/python3" % error)

from mlp_test_support import (SEED_INPUTS, ServerTestCase, seed_spec,
                              seed_train_request, tensor)
import mlp_test_support

STUBS = {}

ROWS = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0.25, -3.5, 7.125]]


def bits(values):
    """The float32 bit patterns of `values` (exact comparison, NaN-safe)."""
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def flat(rows):
    return [float(v) for row in rows for v in row]


class OipGrpcTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pb = STUBS["pb"]
        cls.v2 = STUBS["v2"]
        cls.mlp = STUBS["pb_grpc"].ModelServiceStub(cls.channel)
        cls.stub = STUBS["v2_grpc"].GRPCInferenceServiceStub(cls.channel)
        # "xnor": version 1 (initial weights) and version 2 (trained).
        pb = cls.pb
        cls.mlp.CreateModel(
            pb.CreateModelRequest(name="xnor", spec=seed_spec(pb, 1)),
            timeout=30)
        messages = list(cls.mlp.Train(seed_train_request(pb, "xnor"),
                                      timeout=60))
        assert messages[-1].version == 2, messages[-1]

    def mlp_predict(self, rows, version=0):
        response = self.mlp.Predict(
            self.pb.PredictRequest(model="xnor", version=version,
                                   inputs=tensor(self.pb, rows)),
            timeout=30)
        return list(response.outputs.values)

    def typed_request(self, rows, **fields):
        v2 = self.v2
        request = v2.ModelInferRequest(model_name="xnor", **fields)
        request.inputs.add(name="input", datatype="FP32",
                           shape=[len(rows), len(rows[0])],
                           contents=v2.InferTensorContents(
                               fp32_contents=flat(rows)))
        return request

    def raw_request(self, rows, **fields):
        request = self.v2.ModelInferRequest(model_name="xnor", **fields)
        request.inputs.add(name="input", datatype="FP32",
                           shape=[len(rows), len(rows[0])])
        values = flat(rows)
        request.raw_input_contents.append(
            struct.pack("<%df" % len(values), *values))
        return request

    def infer_error(self, request):
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub.ModelInfer(request, timeout=30)
        return raised.exception

    def test_server_live_ready_and_metadata(self):
        v2 = self.v2
        self.assertTrue(
            self.stub.ServerLive(v2.ServerLiveRequest(), timeout=10).live)
        self.assertTrue(
            self.stub.ServerReady(v2.ServerReadyRequest(), timeout=10).ready)
        meta = self.stub.ServerMetadata(v2.ServerMetadataRequest(), timeout=10)
        self.assertEqual(meta.name, "mlp-serve")
        self.assertRegex(meta.version, r"^\d+\.\d+\.\d+")
        self.assertEqual(list(meta.extensions), ["binary_tensor_data"])

    def test_model_ready_for_kept_versions_only(self):
        v2 = self.v2
        for version, ready in (("", True), ("1", True), ("2", True),
                               ("3", False)):
            response = self.stub.ModelReady(
                v2.ModelReadyRequest(name="xnor", version=version), timeout=10)
            self.assertEqual(response.ready, ready, "version %r" % version)
        self.assertFalse(self.stub.ModelReady(
            v2.ModelReadyRequest(name="no-such-model"), timeout=10).ready)

    def test_model_metadata(self):
        meta = self.stub.ModelMetadata(
            self.v2.ModelMetadataRequest(name="xnor"), timeout=10)
        self.assertEqual(meta.name, "xnor")
        self.assertEqual(list(meta.versions), ["1", "2"])
        self.assertEqual(meta.platform, "mlp-serve")
        self.assertEqual([(t.name, t.datatype, list(t.shape))
                          for t in meta.inputs], [("input", "FP32", [-1, 3])])
        self.assertEqual([(t.name, t.datatype, list(t.shape))
                          for t in meta.outputs],
                         [("output", "FP32", [-1, 1])])

    def test_typed_infer_equals_mlp_predict_bitwise(self):
        response = self.stub.ModelInfer(
            self.typed_request(ROWS, id="request-17"), timeout=30)
        self.assertEqual(response.model_name, "xnor")
        self.assertEqual(response.model_version, "2")
        self.assertEqual(response.id, "request-17")
        self.assertEqual(len(response.raw_output_contents), 0)
        self.assertEqual(len(response.outputs), 1)
        output = response.outputs[0]
        self.assertEqual((output.name, output.datatype, list(output.shape)),
                         ("output", "FP32", [len(ROWS), 1]))
        self.assertEqual(bits(output.contents.fp32_contents),
                         bits(self.mlp_predict(ROWS)))

    def test_raw_infer_answers_raw_and_equals_mlp_predict_bitwise(self):
        response = self.stub.ModelInfer(self.raw_request(ROWS), timeout=30)
        self.assertEqual(len(response.raw_output_contents), 1)
        self.assertEqual(len(response.outputs[0].contents.fp32_contents), 0)
        raw = response.raw_output_contents[0]
        self.assertEqual(len(raw), 4 * len(ROWS))
        values = struct.unpack("<%df" % len(ROWS), raw)
        self.assertEqual(bits(values), bits(self.mlp_predict(ROWS)))

    def test_fp64_input_is_converted(self):
        v2 = self.v2
        request = v2.ModelInferRequest(model_name="xnor")
        request.inputs.add(name="input", datatype="FP64",
                           shape=[len(ROWS), 3],
                           contents=v2.InferTensorContents(
                               fp64_contents=flat(ROWS)))
        response = self.stub.ModelInfer(request, timeout=30)
        self.assertEqual(response.outputs[0].datatype, "FP32")
        self.assertEqual(bits(response.outputs[0].contents.fp32_contents),
                         bits(self.mlp_predict(ROWS)))

    def test_one_sample_has_shape_of_one_row(self):
        v2 = self.v2
        request = v2.ModelInferRequest(model_name="xnor")
        request.inputs.add(name="input", datatype="FP32", shape=[3],
                           contents=v2.InferTensorContents(
                               fp32_contents=[1, 1, 0]))
        response = self.stub.ModelInfer(request, timeout=30)
        self.assertEqual(list(response.outputs[0].shape), [1])
        self.assertEqual(bits(response.outputs[0].contents.fp32_contents),
                         bits(self.mlp_predict([[1, 1, 0]])))

    def test_version_selection(self):
        for version in (1, 2):
            response = self.stub.ModelInfer(
                self.raw_request(ROWS, model_version=str(version)),
                timeout=30)
            self.assertEqual(response.model_version, str(version))
            values = struct.unpack("<%df" % len(ROWS),
                                   response.raw_output_contents[0])
            self.assertEqual(bits(values),
                             bits(self.mlp_predict(ROWS, version=version)))
        self.assertNotEqual(bits(self.mlp_predict(ROWS, version=1)),
                            bits(self.mlp_predict(ROWS, version=2)),
                            "training changed nothing: the test cannot tell "
                            "versions apart")

    def test_outputs_filter(self):
        request = self.typed_request(SEED_INPUTS)
        request.outputs.add(name="output")
        response = self.stub.ModelInfer(request, timeout=30)
        self.assertEqual([o.name for o in response.outputs], ["output"])
        request = self.typed_request(SEED_INPUTS)
        request.outputs.add(name="probabilities")
        error = self.infer_error(request)
        self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("outputs[0]", error.details())
        self.assertIn("probabilities", error.details())

    def test_unknown_model_and_version_are_not_found(self):
        v2 = self.v2
        request = self.typed_request(SEED_INPUTS)
        request.model_name = "no-such-model"
        error = self.infer_error(request)
        self.assertEqual(error.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn("no-such-model", error.details())
        error = self.infer_error(self.typed_request(SEED_INPUTS,
                                                    model_version="9"))
        self.assertEqual(error.code(), grpc.StatusCode.NOT_FOUND)
        self.assertIn("9", error.details())
        with self.assertRaises(grpc.RpcError) as raised:
            self.stub.ModelMetadata(
                v2.ModelMetadataRequest(name="no-such-model"), timeout=10)
        self.assertEqual(raised.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_wrong_inputs_are_invalid_argument_naming_the_field(self):
        v2 = self.v2
        cases = []
        request = self.typed_request(SEED_INPUTS)
        request.inputs[0].datatype = "INT32"
        cases.append(("datatype", request))
        request = self.typed_request(SEED_INPUTS)
        request.inputs[0].name = "x"
        cases.append(("name", request))
        request = self.typed_request(SEED_INPUTS)
        request.inputs[0].shape[:] = [4, 2]
        cases.append(("shape", request))
        request = self.typed_request(SEED_INPUTS)
        del request.inputs[0].contents.fp32_contents[-1]
        cases.append(("11", request))
        request = self.raw_request(SEED_INPUTS)
        request.raw_input_contents[0] = request.raw_input_contents[0][:-1]
        cases.append(("raw_input_contents", request))
        request = self.typed_request(SEED_INPUTS)
        request.inputs[0].contents.fp32_contents[0] = float("nan")
        cases.append(("finite", request))
        request = v2.ModelInferRequest(model_name="xnor")
        cases.append(("inputs", request))
        for needle, request in cases:
            error = self.infer_error(request)
            self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT,
                             "%s: %s" % (needle, error.details()))
            self.assertIn(needle, error.details())
        # The server is still there and still right.
        response = self.stub.ModelInfer(self.typed_request(ROWS), timeout=30)
        self.assertEqual(bits(response.outputs[0].contents.fp32_contents),
                         bits(self.mlp_predict(ROWS)))


if __name__ == "__main__":
    mlp_test_support.main(__doc__, STUBS)
