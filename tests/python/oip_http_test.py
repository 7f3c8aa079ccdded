#!/usr/bin/python3
"""The Open Inference Protocol over HTTP/REST, from Python's http.client.

The real mlp-server is started with --http_address=127.0.0.1:0; a model is
created and trained through mlp.v1 (gRPC), then every /v2 endpoint is called
as curl or KServe's and Triton's HTTP clients would: JSON with flat and
nested data, FP64, the binary tensor extension both ways, a version
selection, and the errors (bad JSON, wrong shape, unknown model, wrong
method, too large a body, tokens) with the server still answering after each,
and GET /metrics (counts, bounded labels, promtool, the Grafana dashboard).
Every prediction is compared with mlp.v1 Predict's to the last bit.

Usage: oip_http_test.py --server PATH --proto_dir DIR
           [--protoc PATH] [--grpc_python_plugin PATH] [unittest args]
"""

import http.client
import json
import os
import re
import select
import signal
import shutil
import socket
import ssl
import subprocess
import struct
import sys
import threading
import time

try:
    import grpc
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import grpc (%s); install python3-grpcio and run "
             "with /usr/bin/python3" % error)

from mlp_test_support import (ARGS, ServerTestCase, seed_spec,
                              seed_train_request, tensor)
import mlp_test_support

STUBS = {}

ROWS = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0.25, -3.5, 7.125]]
HEADER_LENGTH = "Inference-Header-Content-Length"


def bits(values):
    """The float32 bit patterns of `values` (exact comparison)."""
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def flat(rows):
    return [float(v) for row in rows for v in row]


class HttpTestBase(ServerTestCase):
    """A server with HTTP on; "xnor" at versions 1 and 2."""

    HTTP = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pb = STUBS["pb"]
        cls.mlp = STUBS["pb_grpc"].ModelServiceStub(cls.channel)
        pb = cls.pb
        metadata = cls.admin_metadata()
        cls.mlp.CreateModel(
            pb.CreateModelRequest(name="xnor", spec=seed_spec(pb, 1)),
            timeout=30, metadata=metadata)
        messages = list(cls.mlp.Train(seed_train_request(pb, "xnor"),
                                      timeout=60, metadata=metadata))
        assert messages[-1].version == 2, messages[-1]

    @classmethod
    def admin_metadata(cls):
        return ()

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body bytes) of one request on a new
        connection."""
        connection = http.client.HTTPConnection("127.0.0.1",
                                                self.server.http_port,
                                                timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response, response.read()
        finally:
            connection.close()

    def infer(self, payload, path="/v2/models/xnor/infer", headers=None):
        status, response, body = self.request(
            "POST", path, json.dumps(payload).encode(), headers)
        return status, response, body

    def mlp_predict(self, rows, version=0):
        response = self.mlp.Predict(
            self.pb.PredictRequest(model="xnor", version=version,
                                   inputs=tensor(self.pb, rows)),
            timeout=30, metadata=self.admin_metadata())
        return list(response.outputs.values)

    def assertError(self, result, status, needle):
        code, response, body = result
        self.assertEqual(code, status, body)
        self.assertEqual(response.getheader("Content-Type"),
                         "application/json")
        message = json.loads(body)["error"]
        self.assertIn(needle, message)
        return message


def typed(rows, datatype="FP32", **fields):
    payload = {"inputs": [{"name": "input", "shape": [len(rows), len(rows[0])],
                           "datatype": datatype, "data": flat(rows)}]}
    payload.update(fields)
    return payload


class OipHttpTest(HttpTestBase):

    def test_health(self):
        for path in ("/v2/health/live", "/v2/health/ready"):
            status, _, body = self.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertEqual(body, b"", path)

    def test_server_metadata(self):
        status, _, body = self.request("GET", "/v2")
        self.assertEqual(status, 200)
        meta = json.loads(body)
        self.assertEqual(meta["name"], "mlp-serve")
        self.assertRegex(meta["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(meta["extensions"], ["binary_tensor_data"])

    def test_model_metadata_and_ready(self):
        for path in ("/v2/models/xnor", "/v2/models/xnor/versions/1"):
            status, _, body = self.request("GET", path)
            self.assertEqual(status, 200, path)
            meta = json.loads(body)
            self.assertEqual(meta["name"], "xnor")
            self.assertEqual(meta["versions"], ["1", "2"])
            self.assertEqual(meta["platform"], "mlp-serve")
            self.assertEqual(meta["inputs"], [
                {"name": "input", "datatype": "FP32", "shape": [-1, 3]}])
            self.assertEqual(meta["outputs"], [
                {"name": "output", "datatype": "FP32", "shape": [-1, 1]}])
        for path in ("/v2/models/xnor/ready",
                     "/v2/models/xnor/versions/2/ready"):
            self.assertEqual(self.request("GET", path)[0], 200, path)
        self.assertError(self.request("GET", "/v2/models/xnor/versions/3/ready"),
                         404, "3")
        self.assertError(self.request("GET", "/v2/models/nope/ready"), 404,
                         "nope")
        self.assertError(self.request("GET", "/v2/models/nope"), 404, "nope")

    def test_infer_flat_and_nested_equal_mlp_predict_bitwise(self):
        expected = bits(self.mlp_predict(ROWS))
        nested = typed(ROWS, id="call-9")
        nested["inputs"][0]["data"] = ROWS
        for payload in (typed(ROWS, id="call-9"), nested):
            status, response, body = self.infer(payload)
            self.assertEqual(status, 200, body)
            self.assertEqual(response.getheader("Content-Type"),
                             "application/json")
            answer = json.loads(body)
            self.assertEqual(answer["model_name"], "xnor")
            self.assertEqual(answer["model_version"], "2")
            self.assertEqual(answer["id"], "call-9")
            self.assertEqual(len(answer["outputs"]), 1)
            output = answer["outputs"][0]
            self.assertEqual(output["name"], "output")
            self.assertEqual(output["datatype"], "FP32")
            self.assertEqual(output["shape"], [len(ROWS), 1])
            self.assertEqual(bits(output["data"]), expected)

    def test_fp64_one_sample_and_version(self):
        status, _, body = self.infer(typed(ROWS, "FP64"))
        self.assertEqual(status, 200, body)
        self.assertEqual(bits(json.loads(body)["outputs"][0]["data"]),
                         bits(self.mlp_predict(ROWS)))
        payload = {"inputs": [{"name": "input", "shape": [3],
                               "datatype": "FP32", "data": [1, 1, 0]}]}
        status, _, body = self.infer(payload)
        self.assertEqual(status, 200, body)
        output = json.loads(body)["outputs"][0]
        self.assertEqual(output["shape"], [1])
        self.assertEqual(bits(output["data"]),
                         bits(self.mlp_predict([[1, 1, 0]])))
        status, _, body = self.infer(typed(ROWS),
                                     path="/v2/models/xnor/versions/1/infer")
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual(answer["model_version"], "1")
        self.assertEqual(bits(answer["outputs"][0]["data"]),
                         bits(self.mlp_predict(ROWS, version=1)))
        self.assertNotEqual(bits(self.mlp_predict(ROWS, version=1)),
                            bits(self.mlp_predict(ROWS, version=2)))

    def binary_request(self, rows, binary_output):
        values = flat(rows)
        payload = {"inputs": [{"name": "input",
                               "shape": [len(rows), len(rows[0])],
                               "datatype": "FP32",
                               "parameters": {"binary_data_size":
                                              4 * len(values)}}]}
        if binary_output:
            payload["outputs"] = [{"name": "output",
                                   "parameters": {"binary_data": True}}]
        head = json.dumps(payload).encode()
        body = head + struct.pack("<%df" % len(values), *values)
        return body, {HEADER_LENGTH: str(len(head)),
                      "Content-Type": "application/octet-stream"}

    def test_binary_tensor_extension(self):
        expected = bits(self.mlp_predict(ROWS))
        body, headers = self.binary_request(ROWS, binary_output=True)
        status, response, answer = self.request(
            "POST", "/v2/models/xnor/infer", body, headers)
        self.assertEqual(status, 200, answer)
        length = int(response.getheader(HEADER_LENGTH))
        head = json.loads(answer[:length])
        output = head["outputs"][0]
        self.assertNotIn("data", output)
        self.assertEqual(output["parameters"]["binary_data_size"],
                         4 * len(ROWS))
        self.assertEqual(output["shape"], [len(ROWS), 1])
        raw = answer[length:]
        self.assertEqual(len(raw), 4 * len(ROWS))
        self.assertEqual(bits(struct.unpack("<%df" % len(ROWS), raw)),
                         expected)
        # Binary in, JSON out; JSON in, binary out (request-level).
        body, headers = self.binary_request(ROWS, binary_output=False)
        status, _, answer = self.request("POST", "/v2/models/xnor/infer",
                                         body, headers)
        self.assertEqual(status, 200, answer)
        self.assertEqual(bits(json.loads(answer)["outputs"][0]["data"]),
                         expected)
        status, response, answer = self.infer(
            typed(ROWS, parameters={"binary_data_output": True}))
        self.assertEqual(status, 200, answer)
        length = int(response.getheader(HEADER_LENGTH))
        self.assertEqual(bits(struct.unpack("<%df" % len(ROWS),
                                            answer[length:])), expected)

    def test_bad_requests_are_named_and_change_nothing(self):
        path = "/v2/models/xnor/infer"
        self.assertError(self.request("POST", path, b"{\"inputs\": [", {}),
                         400, "not valid JSON")
        self.assertError(self.request("POST", path, b"[1, 2]", {}), 400,
                         "JSON object")
        bad_shape = typed(ROWS)
        bad_shape["inputs"][0]["shape"] = [5, 2]
        self.assertError(self.infer(bad_shape), 400, "inputs[0].shape")
        short = typed(ROWS)
        short["inputs"][0]["data"] = flat(ROWS)[:-1]
        self.assertError(self.infer(short), 400, "values in data")
        word = typed(ROWS)
        word["inputs"][0]["data"][3] = "x"
        self.assertError(self.infer(word), 400, "inputs[0].data value 3")
        self.assertError(self.infer(typed(ROWS, "INT32")), 400,
                         "inputs[0].datatype")
        renamed = typed(ROWS)
        renamed["inputs"][0]["name"] = "x"
        self.assertError(self.infer(renamed), 400, "inputs[0].name")
        self.assertError(self.infer(typed(ROWS, outputs=[{"name": "probs"}])),
                         400, "outputs[0]")
        self.assertError(self.infer({"inputs": []}), 400, "inputs has 0")
        body, headers = self.binary_request(ROWS, binary_output=False)
        self.assertError(self.request("POST", path, body[:-1], headers), 400,
                         "binary_data_size")
        headers[HEADER_LENGTH] = "999999"
        self.assertError(self.request("POST", path, body, headers), 400,
                         HEADER_LENGTH)
        self.assertError(self.infer(typed(ROWS), path="/v2/models/nope/infer"),
                         404, "nope")
        self.assertError(self.infer(typed(ROWS),
                                    path="/v2/models/xnor/versions/7/infer"),
                         404, "7")
        code, response, _ = self.request("GET", path)
        self.assertEqual(code, 405)
        self.assertEqual(response.getheader("Allow"), "POST")
        self.assertError(self.request("GET", "/v1/anything"), 404,
                         "no endpoint")
        # Still serving, still the same model.
        status, _, body = self.infer(typed(ROWS))
        self.assertEqual(status, 200, body)
        self.assertEqual(bits(json.loads(body)["outputs"][0]["data"]),
                         bits(self.mlp_predict(ROWS)))
        self.assertEqual(json.loads(self.request(
            "GET", "/v2/models/xnor")[2])["versions"], ["1", "2"])

    def test_a_body_over_the_limit_is_refused_before_it_is_read(self):
        # Only the headers are sent: the answer must come without the body.
        with socket.create_connection(("127.0.0.1", self.server.http_port),
                                      timeout=10) as sock:
            sock.sendall(b"POST /v2/models/xnor/infer HTTP/1.1\r\n"
                         b"Host: x\r\nContent-Length: 999999999\r\n\r\n")
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:100])
        # A chunked body is cut off once it passes the limit: the 413 comes
        # (or, if the client is still sending when the server closes, the
        # connection is reset) before the 80 MiB are all sent.
        sent = 0
        reply = b""
        with socket.create_connection(("127.0.0.1", self.server.http_port),
                                      timeout=30) as sock:
            sock.sendall(b"POST /v2/models/xnor/infer HTTP/1.1\r\n"
                         b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(80):  # 80 MiB, over the 64 MiB default
                    if select.select([sock], [], [], 0)[0]:
                        reply += sock.recv(4096)
                        break
                    sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    sent += 1
            except (BrokenPipeError, ConnectionResetError):
                pass
        self.assertLess(sent, 80, "the server read all of an 80 MiB body")
        if reply:
            self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:100])
        self.assertEqual(self.request("GET", "/v2/health/live")[0], 200)


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text scrape."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        labels = frozenset()
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            labels = frozenset(
                tuple(part.split("=", 1)) for part in
                rest.rstrip("}").replace('"', "").split(",") if part)
        else:
            name = name_labels
        out[(name, labels)] = float(value)
    return out


class MetricsTest(HttpTestBase):
    """GET /metrics: the Prometheus text format, counting what happened."""

    def scrape(self, headers=None):
        status, response, body = self.request("GET", "/metrics",
                                              headers=headers)
        self.assertEqual(status, 200, body)
        self.assertTrue(response.getheader("Content-Type").startswith(
            "text/plain; version=0.0.4"))
        return body.decode()

    def test_scrape_counts_calls_by_protocol_method_and_code(self):
        before = samples(self.scrape())
        ok = frozenset({("protocol", "http"), ("method", "ModelInfer"),
                        ("code", "OK")})
        missing = frozenset({("protocol", "http"), ("method", "ModelInfer"),
                             ("code", "NOT_FOUND")})
        predict = frozenset({("protocol", "grpc"), ("method", "Predict"),
                             ("code", "OK")})
        for _ in range(3):
            self.assertEqual(self.infer(typed(ROWS))[0], 200)
        for name in ("nope-1", "nope-2"):
            self.assertEqual(self.infer(
                typed(ROWS), path="/v2/models/%s/infer" % name)[0], 404)
        self.mlp_predict(ROWS)
        text = self.scrape()
        after = samples(text)
        key = lambda labels: ("mlp_requests_total", labels)
        self.assertEqual(after[key(ok)] - before.get(key(ok), 0), 3)
        self.assertEqual(after[key(missing)] - before.get(key(missing), 0), 2)
        self.assertEqual(after[key(predict)] - before.get(key(predict), 0), 1)
        histogram = ("mlp_inference_duration_seconds_count",
                     frozenset({("protocol", "http"), ("method", "ModelInfer"),
                                ("model", "xnor")}))
        self.assertEqual(after[histogram] - before.get(histogram, 0), 3)
        # Unknown names never become labels.
        self.assertNotIn("nope-1", text)
        # The training in setUpClass: one epoch per message, 4 rows each.
        epochs = after[("mlp_training_epochs_total", frozenset())]
        self.assertGreater(epochs, 1)
        self.assertEqual(after[("mlp_training_samples_total", frozenset())],
                         4 * epochs)
        self.assertLess(after[("mlp_training_last_loss",
                               frozenset({("model", "xnor")}))], 0.001)
        self.assertEqual(after[("mlp_models", frozenset())], 1)
        self.assertEqual(after[("mlp_model_versions", frozenset())], 2)
        self.assertGreater(after[("process_resident_memory_bytes",
                                  frozenset())], 1 << 20)

    def test_the_grafana_dashboard_asks_only_for_metrics_that_exist(self):
        self.assertEqual(self.infer(typed(ROWS))[0], 200)  # a histogram
        names = {name for name, _ in samples(self.scrape())}
        path = os.path.join(os.path.dirname(os.path.abspath(ARGS.proto_dir)),
                            "docs", "grafana-dashboard.json")
        with open(path) as f:
            dashboard = json.load(f)
        asked = set()
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                asked.update(re.findall(r"\b(?:mlp|process)_[a-z_]+",
                                        target["expr"]))
        self.assertTrue(asked)
        self.assertEqual(sorted(asked - names), [],
                         "the dashboard asks for metrics the server lacks")

    def test_promtool_accepts_the_scrape(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.fail("promtool not found (Debian package prometheus)")
        result = subprocess.run([promtool, "check", "metrics"],
                                input=self.scrape(), capture_output=True,
                                text=True)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


def make_pki(directory):
    """A throwaway CA, a server certificate for 127.0.0.1 and a client
    certificate, both signed by the CA, and a second CA's client
    certificate; returns {name: path}."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True, cwd=directory)
    paths = {}
    for ca in ("ca", "other-ca"):
        run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", ca + ".key", "-out", ca + ".pem", "-subj", "/CN=" + ca)
    for name, ca, extra in (
            ("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
            ("client", "ca", "extendedKeyUsage=clientAuth"),
            ("stranger", "other-ca", "extendedKeyUsage=clientAuth")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + name)
        with open(os.path.join(directory, name + ".ext"), "w") as f:
            f.write(extra + "\n")
        run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem",
            "-CAkey", ca + ".key", "-CAcreateserial", "-days", "1",
            "-out", name + ".pem", "-extfile", name + ".ext")
    for name in ("ca", "server", "client", "stranger"):
        paths[name] = os.path.join(directory, name + ".pem")
        paths[name + "_key"] = os.path.join(directory, name + ".key")
    return paths


class OipHttpMutualTlsTest(HttpTestBase):
    """With --tls_client_ca_file the HTTP port wants a client certificate
    from that CA too."""

    WAIT_FOR_CHANNEL = False

    @classmethod
    def extra_args(cls, work_dir):
        cls.pki = make_pki(work_dir)
        return ("--tls_cert_file=" + cls.pki["server"],
                "--tls_key_file=" + cls.pki["server_key"],
                "--tls_client_ca_file=" + cls.pki["ca"])

    @classmethod
    def setUpClass(cls):
        ServerTestCase.setUpClass.__func__(cls)

    def get(self, path, client=None):
        context = ssl.create_default_context(cafile=self.pki["ca"])
        if client is not None:
            context.load_cert_chain(self.pki[client], self.pki[client + "_key"])
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.server.http_port, timeout=30, context=context)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def test_a_client_certificate_from_the_ca_is_required(self):
        self.assertEqual(self.get("/v2/health/ready", "client")[0], 200)
        status, body = self.get("/v2/models/none", "client")
        self.assertEqual(status, 404, body)
        for client in (None, "stranger"):
            try:
                status, body = self.get("/v2/health/live", client)
            except (ssl.SSLError, ConnectionError) as error:
                continue  # refused in the handshake: as good
            self.assertEqual(status, 403, (client, body))
            self.assertIn("client certificate", json.loads(body)["error"])


class ReadinessTest(HttpTestBase):
    """Ready while a model trains; not ready, and no inference, while the
    server stops (what a Kubernetes readiness probe relies on)."""

    @classmethod
    def extra_args(cls, work_dir):
        return ("--shutdown_grace_seconds=20",)

    def wait_for_grpc_calls(self, n):
        key = ("mlp_requests_in_flight", frozenset({("protocol", "grpc")}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.request("GET", "/metrics")[2].decode()
            if samples(text).get(key) == n:
                return
            time.sleep(0.01)
        self.fail("the server never had %d gRPC calls in flight" % n)

    def test_ready_while_training_then_not_ready_while_stopping(self):
        pb = self.pb
        # A training that runs until cancelled: the model keeps serving.
        request = seed_train_request(pb, "xnor")
        request.options.max_epochs = 10000000
        request.options.target_loss = 0
        training = self.mlp.Train(request, timeout=120)
        next(training)  # the first epoch ran: it is training now
        self.assertEqual(self.request("GET", "/v2/models/xnor/ready")[0], 200)
        status, _, body = self.infer(typed(ROWS))
        self.assertEqual(status, 200, body)
        training.cancel()

        # An upload left open holds the stop in its grace period, while HTTP
        # still answers. /metrics says when the server has the call.
        self.wait_for_grpc_calls(0)  # the cancelled training has left
        release = threading.Event()

        def chunks():
            yield pb.UploadDatasetRequest(header=pb.DatasetHeader(
                name="held", input_size=3, target_size=1))
            release.wait(30)

        upload = self.mlp.UploadDataset.future(chunks(), timeout=60)
        self.wait_for_grpc_calls(1)
        self.server.process.send_signal(signal.SIGTERM)
        try:
            deadline = time.monotonic() + 10
            status = 200
            while status == 200 and time.monotonic() < deadline:
                status = self.request("GET", "/v2/health/ready")[0]
            self.assertEqual(status, 503, "readiness never turned to 503")
            self.assertEqual(self.request("GET", "/v2/health/live")[0], 200)
            self.assertError(self.infer(typed(ROWS)), 503, "shutting down")
            self.assertError(self.request("GET", "/v2/models/xnor/ready"),
                             503, "shutting down")
        finally:
            release.set()
        with self.assertRaises(grpc.RpcError):
            upload.result()


class OipHttpTokenTest(HttpTestBase):
    """With --auth_token_file: health open, the rest needs a reader."""

    @classmethod
    def extra_args(cls, work_dir):
        path = os.path.join(work_dir, "tokens")
        with open(path, "w") as f:
            f.write("admin-token admin\nreader-token reader\n")
        os.chmod(path, 0o600)
        return ("--auth_token_file=" + path,)

    @classmethod
    def admin_metadata(cls):
        return (("authorization", "Bearer admin-token"),)

    def test_tokens(self):
        self.assertEqual(self.request("GET", "/v2/health/live")[0], 200)
        self.assertEqual(self.request("GET", "/v2/health/ready")[0], 200)
        code, response, _ = self.request("GET", "/v2/models/xnor")
        self.assertEqual(code, 401)
        self.assertEqual(response.getheader("WWW-Authenticate"), "Bearer")
        self.assertError(self.infer(typed(ROWS),
                                    headers={"Authorization": "Bearer nope"}),
                         403, "wrong token")
        self.assertEqual(self.request("GET", "/metrics")[0], 401)
        self.assertEqual(self.request(
            "GET", "/metrics",
            headers={"Authorization": "Bearer reader-token"})[0], 200)
        status, _, body = self.infer(
            typed(ROWS), headers={"Authorization": "Bearer reader-token"})
        self.assertEqual(status, 200, body)
        self.assertEqual(bits(json.loads(body)["outputs"][0]["data"]),
                         bits(self.mlp_predict(ROWS)))


class OipHttpTlsTest(HttpTestBase):
    """With --tls_cert_file/--tls_key_file the HTTP port speaks TLS only."""

    @classmethod
    def extra_args(cls, work_dir):
        cls.cert = os.path.join(work_dir, "cert.pem")
        key = os.path.join(work_dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", cls.cert, "-days", "1",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True)
        return ("--tls_cert_file=" + cls.cert, "--tls_key_file=" + key)

    # The gRPC port speaks TLS too: the plain channel would not do, and no
    # model is made. Only the HTTP side is checked here.
    WAIT_FOR_CHANNEL = False

    @classmethod
    def setUpClass(cls):
        ServerTestCase.setUpClass.__func__(cls)

    def test_https_only(self):
        context = ssl.create_default_context(cafile=self.cert)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.server.http_port, timeout=30, context=context)
        try:
            connection.request("GET", "/v2/health/ready")
            response = connection.getresponse()
            self.assertEqual(response.status, 200)
            response.read()
            connection.request("GET", "/v2/models/none")
            response = connection.getresponse()
            self.assertEqual(response.status, 404)
            self.assertIn("none", json.loads(response.read())["error"])
        finally:
            connection.close()
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.request("GET", "/v2/health/live")


if __name__ == "__main__":
    mlp_test_support.main(__doc__, STUBS)
