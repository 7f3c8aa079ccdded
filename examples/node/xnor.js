// Trains the tutorial's XNOR network on mlp-server and predicts with it,
// from Node.js. The client is built at run time from the project's
// proto/mlp/v1/mlp.proto by @grpc/proto-loader: no code generation step.
//
//   cd examples/node && npm ci
//   node xnor.js [HOST:PORT]        (default: $MLP_SERVER or 127.0.0.1:50051)
//
// It creates (or replaces) the model "example-xnor-node", streams the loss
// of every epoch, predicts the four rows and exits 0 when all four are
// right, 1 otherwise.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.join(__dirname, '..', '..', 'proto');
const MODEL = 'example-xnor-node';
const INPUTS = [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 1, 1]];
const TARGETS = [1, 0, 1, 0];  // XNOR of the first and third input

const definition = protoLoader.loadSync(path.join('mlp', 'v1', 'mlp.proto'), {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
});
const mlp = grpc.loadPackageDefinition(definition).mlp.v1;

function tensor(rows) {
  return {shape: [rows.length, rows[0].length], values: rows.flat()};
}

// A promise of a unary call's answer.
function call(client, method, request) {
  const deadline = new Date(Date.now() + 30000);
  return new Promise((resolve, reject) => {
    client[method](request, {deadline}, (error, answer) =>
      error ? reject(error) : resolve(answer));
  });
}

function train(client) {
  return new Promise((resolve, reject) => {
    const stream = client.Train({
      model: MODEL,
      inline_data: {
        inputs: tensor(INPUTS),
        targets: tensor(TARGETS.map((t) => [t])),
      },
      options: {
        optimizer: 'SGD', learning_rate: 0.1, batch_size: 1,
        max_epochs: 1000, target_loss: 0.001, seed: 7,
      },
    });
    let last = null;
    stream.on('data', (progress) => {
      last = progress;
      if (progress.epoch % 25 === 0 || progress.done) {
        console.log(`epoch ${progress.epoch}: loss ${progress.loss.toFixed(6)}`);
      }
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(last));
  });
}

async function main() {
  const address = process.argv[2] || process.env.MLP_SERVER || '127.0.0.1:50051';
  const client = new mlp.ModelService(address, grpc.credentials.createInsecure());
  try {
    await call(client, 'DeleteModel', {name: MODEL});
  } catch (error) {
    if (error.code !== grpc.status.NOT_FOUND) throw error;
  }
  // 3 inputs -> 4 ReLU -> 1 linear, no bias, weights uniform in [0, 1).
  const created = await call(client, 'CreateModel', {
    name: MODEL,
    spec: {
      input_size: 3,
      layers: [{units: 4, activation: 'RELU'}, {units: 1, activation: 'LINEAR'}],
      loss: 'MSE', bias: false, init: 'UNIFORM_0_1', seed: 1,
    },
  });
  console.log(`created ${created.name}, version ${created.version}`);
  const done = await train(client);
  console.log(`stopped: ${done.stop_reason}, committed version ${done.version}`);
  const answer = await call(client, 'Predict', {model: MODEL, inputs: tensor(INPUTS)});
  let right = 0;
  INPUTS.forEach((row, i) => {
    const output = answer.outputs.values[i];
    const ok = Math.abs(output - TARGETS[i]) < 0.5;
    right += ok ? 1 : 0;
    console.log(`${row.join(' ')} -> ${output.toFixed(3)} (target ${TARGETS[i]})` +
                (ok ? '' : ' WRONG'));
  });
  client.close();
  console.log(`${right} of 4 right`);
  return right === 4 ? 0 : 1;
}

main().then((code) => process.exit(code), (error) => {
  console.error(`error: ${error.message}`);
  process.exit(1);
});
