#!/usr/bin/python3
"""The server's numbers against an independent reference written in numpy.

The API cannot set weights, so each model is created with a seed and its
weights are read back with GetWeights; numpy then recomputes, in float64:

- Predict for every activation (RELU, SIGMOID, TANH, LINEAR, SOFTMAX), with
  non-zero biases (the model is trained a little first, so biases moved);
- training steps (Train with batch_size = all rows, no shuffle), compared
  with the weights GetWeights returns for the committed version and with the
  loss reported for each epoch (the forward pass before that epoch's step):
  SGD without and with L2, MOMENTUM and ADAM (two steps, so the optimiser's
  state carries over), for MSE and CROSS_ENTROPY.

The definitions checked are those of docs/architecture.md ("Training
semantics") and server/engine/backprop.h, batch_stepper.h:

- reported MSE per sample: mean over outputs of (y - t)^2; the gradient
  followed is that of HALF of it: dL/dy = (y - t) / outputs;
- CROSS_ENTROPY per sample: -sum_k t_k log softmax(z)_k;
- the objective is the mean over the batch plus l2/2 * |W|^2 over the
  weights, not the biases;
- SGD: W -= lr g; MOMENTUM: v = mu v + g, W -= lr v; ADAM (beta1 0.9,
  beta2 0.999, eps 1e-8): m, v moments with bias correction, biases too.

Tolerances are float32's: the server computes in float32, the reference in
float64.

Usage: numpy_reference_test.py --server PATH --proto_dir DIR
           [--protoc PATH] [--grpc_python_plugin PATH] [unittest args]
Needs Debian's python3-numpy, python3-grpcio and python3-protobuf (run with
/usr/bin/python3).
"""

import sys

try:
    import grpc
    import numpy as np
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit("FAILED: cannot import grpc or numpy (%s); install python3-grpcio "
             "and python3-numpy and run with /usr/bin/python3" % error)

from mlp_test_support import ServerTestCase
import mlp_test_support

STUBS = {}

# Float32 terms: a few units in the last place of values of order 1.
RTOL = 1e-5
ATOL = 1e-6

ADAM_BETA1 = 0.9
ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8


def activate(name, z):
    """z: [N, units] pre-activations; the layer's output."""
    if name == "LINEAR":
        return z
    if name == "RELU":
        return np.maximum(z, 0.0)
    if name == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "TANH":
        return np.tanh(z)
    if name == "SOFTMAX":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def derivative(name, a):
    """d act / dz, elementwise, in terms of a = act(z) (not for SOFTMAX)."""
    if name == "LINEAR":
        return np.ones_like(a)
    if name == "RELU":
        return (a > 0).astype(np.float64)
    if name == "SIGMOID":
        return a * (1.0 - a)
    if name == "TANH":
        return 1.0 - a * a
    raise ValueError(name)


def forward(layers, x):
    """layers: [(W [inputs, units], b [units] or None, activation name)];
    x: [N, inputs]. Returns the activations, input first."""
    acts = [x]
    for w, b, act in layers:
        z = acts[-1] @ w
        if b is not None:
            z = z + b
        acts.append(activate(act, z))
    return acts


def loss_and_gradients(layers, loss, x, t):
    """Mean per-sample reported loss and the gradients of the objective
    (without L2) with respect to each layer's W and b."""
    acts = forward(layers, x)
    y = acts[-1]
    n, k = y.shape
    if loss == "MSE":
        reported = np.mean(np.mean((y - t) ** 2, axis=1))
        # d(1/2 mean_k (y - t)^2)/dy, then through the output activation.
        delta = (y - t) / k * derivative(layers[-1][2], y)
    elif loss == "CROSS_ENTROPY":
        assert layers[-1][2] == "SOFTMAX"
        reported = np.mean(-np.sum(t * np.log(y), axis=1))
        delta = y - t  # softmax and cross-entropy together
    else:
        raise ValueError(loss)
    grads = [None] * len(layers)
    for l in reversed(range(len(layers))):
        w, b, _ = layers[l]
        gw = acts[l].T @ delta / n
        gb = delta.sum(axis=0) / n if b is not None else None
        grads[l] = (gw, gb)
        if l > 0:
            delta = (delta @ w.T) * derivative(layers[l - 1][2], acts[l])
    return reported, grads


class Optimizer:
    """The reference optimiser; step() updates `layers` in place."""

    def __init__(self, kind, lr, l2=0.0, momentum=0.0):
        self.kind, self.lr, self.l2, self.momentum = kind, lr, l2, momentum
        self.t = 0
        self.state = {}

    def step(self, layers, grads):
        self.t += 1
        for l, ((w, b, act), (gw, gb)) in enumerate(zip(layers, grads)):
            gw = gw + self.l2 * w  # L2 on weights only
            w = w - self._update(("w", l), gw)
            if b is not None:
                b = b - self._update(("b", l), gb)
            layers[l] = (w, b, act)

    def _update(self, key, g):
        if self.kind == "SGD":
            return self.lr * g
        if self.kind == "MOMENTUM":
            v = self.momentum * self.state.get(key, 0.0) + g
            self.state[key] = v
            return self.lr * v
        if self.kind == "ADAM":
            m, v = self.state.get(key, (0.0, 0.0))
            m = ADAM_BETA1 * m + (1 - ADAM_BETA1) * g
            v = ADAM_BETA2 * v + (1 - ADAM_BETA2) * g * g
            self.state[key] = (m, v)
            m_hat = m / (1 - ADAM_BETA1 ** self.t)
            v_hat = v / (1 - ADAM_BETA2 ** self.t)
            return self.lr * m_hat / (np.sqrt(v_hat) + ADAM_EPSILON)
        raise ValueError(self.kind)


def rows(seed, n, f, low=-1.0, high=1.0):
    """Deterministic float32-representable inputs [n, f]."""
    r = np.random.default_rng(seed)
    return r.uniform(low, high, size=(n, f)).astype(np.float32).astype(
        np.float64)


class NumpyReferenceTest(ServerTestCase):
    """Predict and Train against numpy."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pb = STUBS["pb"]
        cls.stub = STUBS["pb_grpc"].ModelServiceStub(cls.channel)

    # ------------------------------------------------------------ helpers

    def tensor(self, array):
        array = np.asarray(array, dtype=np.float64)
        return self.pb.Tensor(shape=list(array.shape),
                              values=[float(v) for v in array.ravel()])

    def create(self, name, input_size, layers, loss, seed):
        """layers: [(units, activation name)]."""
        pb = self.pb
        spec = pb.ModelSpec(
            input_size=input_size,
            layers=[pb.LayerSpec(units=u, activation=pb.Activation.Value(a))
                    for u, a in layers],
            loss=pb.Loss.Value(loss), bias=True, seed=seed)
        self.stub.CreateModel(pb.CreateModelRequest(name=name, spec=spec),
                              timeout=30)

    def weights(self, name, version=0):
        """The model's layers as (W [inputs, units], b, activation name),
        in float64 (exactly the float32 values the server holds)."""
        pb = self.pb
        response = self.stub.GetWeights(
            pb.GetWeightsRequest(model=name, version=version), timeout=30)
        if version:
            self.assertEqual(response.version, version)
        layers = []
        for layer in response.layers:
            w = np.array(layer.weights.values, dtype=np.float64).reshape(
                list(layer.weights.shape))
            b = (np.array(layer.bias.values, dtype=np.float64)
                 if layer.bias.values else None)
            layers.append((w, b, pb.Activation.Name(layer.activation)))
        return layers, response.version

    def predict(self, name, x):
        response = self.stub.Predict(
            self.pb.PredictRequest(model=name, inputs=self.tensor(x)),
            timeout=30)
        return np.array(response.outputs.values, dtype=np.float64).reshape(
            list(response.outputs.shape)), response.version

    def train(self, name, x, t, optimizer, lr, epochs, l2=0.0, momentum=0.0):
        pb = self.pb
        options = pb.TrainOptions(
            optimizer=pb.Optimizer.Value(optimizer), learning_rate=lr,
            batch_size=len(x), max_epochs=epochs, shuffle=False, seed=1,
            l2=l2, momentum=momentum)
        request = pb.TrainRequest(
            model=name, options=options,
            inline_data=pb.TrainingData(inputs=self.tensor(x),
                                        targets=self.tensor(t)))
        messages = list(self.stub.Train(request, timeout=60))
        self.assertTrue(messages and messages[-1].done)
        self.assertEqual(pb.StopReason.Name(messages[-1].stop_reason),
                         "MAX_EPOCHS")
        self.assertEqual([m.epoch for m in messages],
                         list(range(1, epochs + 1)))
        return messages

    def assert_layers_close(self, actual, expected, before):
        """Weights and biases, and what the step(s) changed, close to the
        reference: the change is compared too, so that an update far below
        the weights' size is still checked."""
        self.assertEqual(len(actual), len(expected))
        for l, ((w, b, act), (ew, eb, eact), (w0, b0, _)) in enumerate(
                zip(actual, expected, before)):
            self.assertEqual(act, eact)
            np.testing.assert_allclose(w, ew, rtol=RTOL, atol=ATOL,
                                       err_msg="layer %d weights" % l)
            np.testing.assert_allclose(w - w0, ew - w0, rtol=1e-4, atol=ATOL,
                                       err_msg="layer %d weight change" % l)
            self.assertEqual(b is None, eb is None)
            if b is not None:
                np.testing.assert_allclose(b, eb, rtol=RTOL, atol=ATOL,
                                           err_msg="layer %d bias" % l)
                np.testing.assert_allclose(b - b0, eb - b0, rtol=1e-4,
                                           atol=ATOL,
                                           err_msg="layer %d bias change" % l)

    # -------------------------------------------------------------- tests

    def check_predict(self, name, input_size, layers, loss, t):
        self.create(name, input_size, layers, loss, seed=21)
        x = rows(5, 12, input_size)
        # Move the biases off zero (they start at zero) with a few steps.
        self.train(name, x, t, "ADAM", 0.05, 3)
        net, version = self.weights(name)
        self.assertEqual(version, 2)
        for _, b, _ in net:
            self.assertGreater(np.abs(b).max(), 1e-3)
        probe = rows(6, 7, input_size, -2.0, 2.0)
        y, answered_by = self.predict(name, probe)
        self.assertEqual(answered_by, 2)
        self.assertEqual(y.shape, (7, layers[-1][0]))
        np.testing.assert_allclose(y, forward(net, probe)[-1], rtol=RTOL,
                                   atol=ATOL)

    def test_predict_relu_sigmoid_tanh_softmax_with_bias(self):
        t = np.eye(3)[np.arange(12) % 3]
        self.check_predict("predict-softmax", 5,
                           [(6, "RELU"), (5, "SIGMOID"), (4, "TANH"),
                            (3, "SOFTMAX")], "CROSS_ENTROPY", t)

    def test_predict_linear_with_bias(self):
        t = rows(7, 12, 2)
        self.check_predict("predict-linear", 5,
                           [(4, "TANH"), (2, "LINEAR")], "MSE", t)

    def check_training(self, name, loss, optimizer, lr, epochs, l2=0.0,
                       momentum=0.0):
        if loss == "MSE":
            layers = [(6, "TANH"), (5, "RELU"), (3, "SIGMOID")]
            t = rows(8, 16, 3, 0.0, 1.0)
        else:
            layers = [(6, "SIGMOID"), (5, "TANH"), (3, "SOFTMAX")]
            t = np.eye(3)[np.arange(16) % 3]
        self.create(name, 4, layers, loss, seed=33)
        before, _ = self.weights(name, 1)
        x = rows(9, 16, 4)
        messages = self.train(name, x, t, optimizer, lr, epochs, l2=l2,
                              momentum=momentum)
        self.assertEqual(messages[-1].version, 2)
        after, _ = self.weights(name, 2)

        reference = [layer for layer in before]
        opt = Optimizer(optimizer, lr, l2, momentum)
        for epoch in range(epochs):
            reported, grads = loss_and_gradients(reference, loss, x, t)
            # The epoch's loss is that of the forward pass before its step,
            # with no L2 term.
            np.testing.assert_allclose(messages[epoch].loss, reported,
                                       rtol=RTOL, atol=ATOL,
                                       err_msg="epoch %d loss" % (epoch + 1))
            opt.step(reference, grads)
        self.assert_layers_close(after, reference, before)

    def test_sgd_step_mse(self):
        self.check_training("sgd-mse", "MSE", "SGD", 0.5, 1)

    def test_sgd_step_cross_entropy(self):
        self.check_training("sgd-ce", "CROSS_ENTROPY", "SGD", 0.5, 1)

    def test_sgd_step_with_l2_mse(self):
        self.check_training("sgd-l2-mse", "MSE", "SGD", 0.5, 1, l2=0.1)

    def test_sgd_step_with_l2_cross_entropy(self):
        self.check_training("sgd-l2-ce", "CROSS_ENTROPY", "SGD", 0.5, 1,
                            l2=0.1)

    def test_momentum_two_steps_mse(self):
        self.check_training("momentum-mse", "MSE", "MOMENTUM", 0.5, 2,
                            l2=0.05, momentum=0.8)

    def test_momentum_two_steps_cross_entropy(self):
        self.check_training("momentum-ce", "CROSS_ENTROPY", "MOMENTUM", 0.5, 2,
                            l2=0.05, momentum=0.8)

    def test_adam_two_steps_mse(self):
        self.check_training("adam-mse", "MSE", "ADAM", 0.01, 2, l2=0.05)

    def test_adam_two_steps_cross_entropy(self):
        self.check_training("adam-ce", "CROSS_ENTROPY", "ADAM", 0.01, 2,
                            l2=0.05)


if __name__ == "__main__":
    mlp_test_support.main(__doc__, STUBS)
