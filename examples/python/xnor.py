#!/usr/bin/python3
"""Trains the tutorial's XNOR network on mlp-server and predicts with it,
from Python (Debian's python3-grpcio and python3-protobuf).

Generate the client once, from the repository's root:

    mkdir -p gen
    protoc -I proto --python_out=gen --grpc_python_out=gen \\
        --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \\
        mlp/v1/mlp.proto

then run it:

    PYTHONPATH=gen /usr/bin/python3 examples/python/xnor.py [HOST:PORT]

(default: $MLP_SERVER or 127.0.0.1:50051). examples/python/run.sh does both.
It creates (or replaces) the model "example-xnor-python", prints the loss
every 25 epochs, predicts the four rows and exits 0 when all four are right.
"""

import os
import sys

import grpc
from mlp.v1 import mlp_pb2 as pb
from mlp.v1 import mlp_pb2_grpc

MODEL = "example-xnor-python"
INPUTS = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1]]
TARGETS = [1, 0, 1, 0]  # XNOR of the first and third input


def tensor(rows):
    return pb.Tensor(shape=[len(rows), len(rows[0])],
                     values=[float(v) for row in rows for v in row])


def main():
    address = (sys.argv[1] if len(sys.argv) > 1
               else os.environ.get("MLP_SERVER", "127.0.0.1:50051"))
    with grpc.insecure_channel(address) as channel:
        stub = mlp_pb2_grpc.ModelServiceStub(channel)
        try:
            stub.DeleteModel(pb.DeleteModelRequest(name=MODEL), timeout=30)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
        # 3 inputs -> 4 ReLU -> 1 linear, no bias, weights uniform in [0, 1).
        spec = pb.ModelSpec(
            input_size=3,
            layers=[pb.LayerSpec(units=4, activation=pb.RELU),
                    pb.LayerSpec(units=1, activation=pb.LINEAR)],
            loss=pb.MSE, bias=False, init=pb.UNIFORM_0_1, seed=1)
        created = stub.CreateModel(pb.CreateModelRequest(name=MODEL, spec=spec),
                                   timeout=30)
        print("created %s, version %d" % (created.name, created.version))
        request = pb.TrainRequest(
            model=MODEL,
            inline_data=pb.TrainingData(inputs=tensor(INPUTS),
                                        targets=tensor([[t] for t in TARGETS])),
            options=pb.TrainOptions(optimizer=pb.SGD, learning_rate=0.1,
                                    batch_size=1, max_epochs=1000,
                                    target_loss=0.001, seed=7))
        for progress in stub.Train(request, timeout=120):  # one per epoch
            if progress.epoch % 25 == 0 or progress.done:
                print("epoch %d: loss %.6f" % (progress.epoch, progress.loss))
        print("stopped: %s, committed version %d" %
              (pb.StopReason.Name(progress.stop_reason), progress.version))
        answer = stub.Predict(pb.PredictRequest(model=MODEL,
                                                inputs=tensor(INPUTS)),
                              timeout=30)
        right = 0
        for row, output, target in zip(INPUTS, answer.outputs.values, TARGETS):
            ok = abs(output - target) < 0.5
            right += ok
            print("%s -> %.3f (target %d)%s" % (" ".join(map(str, row)), output,
                                                target, "" if ok else " WRONG"))
    print("%d of 4 right" % right)
    return 0 if right == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
