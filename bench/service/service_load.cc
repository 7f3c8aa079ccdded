// service_load: closed-loop load generator for mlp.v1.ModelService/Predict,
// measured next to the echo server (echo_server.cc) as the transport floor.
//
// For every cell (model x batch x calls in flight) it keeps exactly N calls in
// flight on one channel (one HTTP/2 connection) for --seconds after a
// --warmup_seconds warm-up, first against Predict, then against the echo with
// requests and replies of the same serialized sizes, and prints one table row:
// mean / p50 / p99 latency and calls/s for both, the servers' CPU time per
// call (with --server_pid / --echo_pid), and the ratios Predict/echo.
//
//   service_load --server=127.0.0.1:P --echo=127.0.0.1:Q --create_models
//   service_load --server=... --write_h2load_body=FILE --body_model=seed
//                --body_batch=1 [--body_target=echo]
//
//   service_load --server=... --infer [--rounds=3]
//   service_load --server=... --write_http_bodies=DIR --body_model=mnist
//
// --infer compares Predict with the Open Inference Protocol's ModelInfer
// (raw little-endian FP32 in and out, as tritonclient sends it) on the same
// model, batch and server, instead of with the echo: --rounds rounds of
// Predict then ModelInfer per cell, each figure the median of its rounds.
// --write_http_bodies writes DIR/infer.json (a JSON infer request) and
// DIR/infer.bin with DIR/infer.bin.header_length (the binary tensor
// extension, binary output asked for) for an HTTP load tool, after checking
// ModelInfer over gRPC answers the same request.
//
// The h2load form writes one gRPC-framed request (a 0 byte, the big-endian
// length, the serialized message) for h2load -d FILE, and prints the message
// size. It asks the server for one Predict first, to size the echo's reply.
//
// Loopback only: the addresses must be 127.0.0.1. Every call has a deadline.
// Exit status 0 when every call succeeded, 1 otherwise.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "echo.grpc.pb.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "mlp/v1/mlp.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "mlp-server address");
ABSL_FLAG(std::string, echo, "",
          "echo_server address; empty = Predict only, no floor");
ABSL_FLAG(bool, create_models, false,
          "Create the benchmark models first (an existing one is kept)");
ABSL_FLAG(std::string, models, "seed,mnist",
          "Models to measure: seed (3-4-1) and/or mnist (784-256-128-10)");
ABSL_FLAG(std::string, batches, "1,256", "Rows per Predict request");
ABSL_FLAG(std::string, concurrency, "1,8,64", "Calls kept in flight");
ABSL_FLAG(double, seconds, 2.0, "Measured time per cell and target");
ABSL_FLAG(double, warmup_seconds, 0.5,
          "Unmeasured warm-up per cell and target");
ABSL_FLAG(std::string, label, "", "Printed in the table's heading");
ABSL_FLAG(int, server_pid, 0,
          "If set, the mlp-server process: its CPU time per call is reported");
ABSL_FLAG(int, echo_pid, 0,
          "If set, the echo_server process: its CPU time per call is reported");
ABSL_FLAG(std::string, write_h2load_body, "",
          "Write a gRPC-framed request body for h2load to this file and exit");
ABSL_FLAG(std::string, body_model, "seed", "Model of the h2load body");
ABSL_FLAG(int, body_batch, 1, "Rows of the h2load body");
ABSL_FLAG(std::string, body_target, "predict",
          "predict: a PredictRequest; echo: the matching EchoRequest");
ABSL_FLAG(bool, infer, false,
          "Compare Predict with ModelInfer (raw) instead of with the echo");
ABSL_FLAG(int, rounds, 3, "With --infer: rounds per cell (medians)");
ABSL_FLAG(std::string, write_http_bodies, "",
          "Write infer.json and infer.bin (binary extension) here and exit");

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kCallDeadline = std::chrono::seconds(30);

// The two benchmark models. Weights are whatever CreateModel initialises:
// a forward pass costs the same whatever the values.
struct ModelDef {
  std::string key;   // as named in --models
  std::string name;  // on the server
  mlp::v1::ModelSpec spec;
};

ModelDef SeedModel() {
  // The tutorial's network: 3 inputs, 4 relu, 1 linear output, no bias.
  ModelDef m{"seed", "bench-seed", {}};
  m.spec.set_input_size(3);
  auto* hidden = m.spec.add_layers();
  hidden->set_units(4);
  hidden->set_activation(mlp::v1::RELU);
  auto* out = m.spec.add_layers();
  out->set_units(1);
  out->set_activation(mlp::v1::LINEAR);
  m.spec.set_loss(mlp::v1::MSE);
  m.spec.set_bias(false);
  m.spec.set_init(mlp::v1::UNIFORM_0_1);
  m.spec.set_seed(1);
  return m;
}

ModelDef MnistModel() {
  ModelDef m{"mnist", "bench-mnist", {}};
  m.spec.set_input_size(784);
  for (auto [units, act] :
       {std::pair{256u, mlp::v1::RELU}, std::pair{128u, mlp::v1::RELU},
        std::pair{10u, mlp::v1::SOFTMAX}}) {
    auto* l = m.spec.add_layers();
    l->set_units(units);
    l->set_activation(act);
  }
  m.spec.set_loss(mlp::v1::CROSS_ENTROPY);
  m.spec.set_seed(1);
  return m;
}

bool FindModel(const std::string& key, ModelDef* out) {
  for (ModelDef m : {SeedModel(), MnistModel()}) {
    if (m.key == key) {
      *out = std::move(m);
      return true;
    }
  }
  return false;
}

std::vector<int> ParseInts(const std::string& text, const char* flag) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      std::fprintf(stderr, "--%s: '%s' is not a positive integer\n", flag,
                   std::string(part).c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

void CheckLoopback(const std::string& address, const char* flag) {
  if (!absl::StartsWith(address, "127.0.0.1:")) {
    std::fprintf(stderr,
                 "--%s must be 127.0.0.1:PORT (loopback only), got '%s'\n",
                 flag, address.c_str());
    std::exit(2);
  }
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + kCallDeadline);
}

grpc::Status CreateModel(mlp::v1::ModelService::Stub* stub,
                         const ModelDef& model) {
  mlp::v1::CreateModelRequest request;
  request.set_name(model.name);
  *request.mutable_spec() = model.spec;
  mlp::v1::ModelInfo info;
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status = stub->CreateModel(&context, request, &info);
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    return grpc::Status::OK;
  }
  return status;
}

mlp::v1::PredictRequest MakePredictRequest(const ModelDef& model, int batch) {
  mlp::v1::PredictRequest request;
  request.set_model(model.name);
  mlp::v1::Tensor* inputs = request.mutable_inputs();
  const int features = static_cast<int>(model.spec.input_size());
  inputs->add_shape(batch);
  inputs->add_shape(features);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  inputs->mutable_values()->Reserve(batch * features);
  for (int i = 0; i < batch * features; ++i) {
    inputs->add_values(uniform(rng));
  }
  return request;
}

// The same rows as `predict`, as a ModelInferRequest with raw input.
inference::ModelInferRequest MakeInferRequest(
    const mlp::v1::PredictRequest& predict) {
  inference::ModelInferRequest request;
  request.set_model_name(predict.model());
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  for (int64_t d : predict.inputs().shape()) input->add_shape(d);
  const auto& values = predict.inputs().values();
  request.add_raw_input_contents()->assign(
      reinterpret_cast<const char*>(values.data()),
      static_cast<size_t>(values.size()) * sizeof(float));
  return request;
}

// One ModelInfer of `request`; false (with a message) unless it answers raw
// output with exactly the bytes of Predict's `expected` values.
bool CheckInfer(inference::GRPCInferenceService::Stub* v2,
                const inference::ModelInferRequest& request,
                const mlp::v1::PredictResponse& expected,
                size_t* response_bytes) {
  inference::ModelInferResponse response;
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status = v2->ModelInfer(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "ModelInfer on '%s' failed: %d: %s\n",
                 request.model_name().c_str(), status.error_code(),
                 status.error_message().c_str());
    return false;
  }
  const auto& values = expected.outputs().values();
  const std::string want(reinterpret_cast<const char*>(values.data()),
                         static_cast<size_t>(values.size()) * sizeof(float));
  if (response.raw_output_contents_size() != 1 ||
      response.raw_output_contents(0) != want) {
    std::fprintf(stderr, "ModelInfer on '%s' did not answer Predict's bytes\n",
                 request.model_name().c_str());
    return false;
  }
  *response_bytes = response.ByteSizeLong();
  return true;
}

// An echo request whose serialized size equals `request_bytes` and which asks
// for a reply whose serialized size equals `reply_bytes` (each within a byte
// or two when a varint length changes width at the boundary).
mlp::bench::EchoRequest MakeEchoRequest(size_t request_bytes,
                                        size_t reply_bytes) {
  mlp::bench::EchoRequest request;
  // EchoReply{payload: n bytes} is 1 + varint(n) + n bytes.
  uint32_t reply_payload = 0;
  while (reply_payload < reply_bytes) {
    mlp::bench::EchoReply probe;
    probe.mutable_payload()->assign(reply_payload + 1, '\0');
    if (probe.ByteSizeLong() > reply_bytes) break;
    ++reply_payload;
  }
  request.set_reply_bytes(std::max<uint32_t>(reply_payload, 1));
  // Grow the payload from a close estimate until the request is big enough.
  size_t n = request_bytes > 16 ? request_bytes - 16 : 0;
  request.mutable_payload()->assign(n, 'x');
  while (request.ByteSizeLong() < request_bytes) {
    request.mutable_payload()->push_back('x');
  }
  return request;
}

// User + system CPU seconds used so far by process `pid` (all its threads,
// exited ones included), from /proc/PID/stat; -1 if unreadable.
double ProcessCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (pid <= 0 || !std::getline(in, line)) return -1;
  // Fields after the command name, which is in parentheses and may hold
  // spaces: state is field 3, utime 14, stime 15.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> fields =
      absl::StrSplit(line.substr(close + 2), ' ', absl::SkipEmpty());
  long long utime = 0;
  long long stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct Result {
  int64_t calls = 0;   // completed OK inside the measured window
  int64_t errors = 0;  // failed calls, anywhere
  std::string first_error;
  double seconds = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p99_us = 0;
  double server_cpu_seconds = -1;  // over the measured window; -1 = unknown
  double calls_per_second() const { return seconds > 0 ? calls / seconds : 0; }
  // Server CPU time per call, in microseconds; -1 = unknown.
  double cpu_us_per_call() const {
    return server_cpu_seconds >= 0 && calls > 0
               ? server_cpu_seconds * 1e6 / static_cast<double>(calls)
               : -1;
  }
};

// Keeps `concurrency` calls in flight until the end of the measured window.
// Each slot issues its next call from the previous one's completion callback,
// as gRPC's own callback benchmark client does. The calls that complete
// inside the measured window (after the warm-up) are the ones counted, for
// throughput and for latency alike.
//
// Thread-safety: a slot is touched by one callback at a time (its next call
// starts only after its previous one completed); `mu_` guards the count of
// slots still running.
template <typename Request, typename Response>
class ClosedLoop {
 public:
  using Start =
      std::function<void(grpc::ClientContext*, const Request*, Response*,
                         std::function<void(grpc::Status)>)>;

  // `server_pid` (0 = none): the server whose CPU time is sampled at the
  // start and the end of the measured window.
  ClosedLoop(Start start, const Request* request, int concurrency,
             double warmup_seconds, double seconds, int server_pid)
      : start_(std::move(start)),
        server_pid_(server_pid),
        request_(request),
        slots_(static_cast<size_t>(concurrency)),
        warmup_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(warmup_seconds))),
        measure_(std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(seconds))) {}

  Result Run() {
    measure_begin_ = Clock::now() + warmup_;
    measure_end_ = measure_begin_ + measure_;
    running_ = static_cast<int>(slots_.size());
    for (Slot& slot : slots_) Issue(&slot);
    double cpu_begin = -1;
    double cpu_end = -1;
    if (server_pid_ > 0) {
      std::this_thread::sleep_until(measure_begin_);
      cpu_begin = ProcessCpuSeconds(server_pid_);
      std::this_thread::sleep_until(measure_end_);
      cpu_end = ProcessCpuSeconds(server_pid_);
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return running_ == 0; });
    }
    Result result;
    result.seconds = std::chrono::duration<double>(measure_).count();
    if (cpu_begin >= 0 && cpu_end >= 0) {
      result.server_cpu_seconds = cpu_end - cpu_begin;
    }
    std::vector<double> all;
    for (Slot& slot : slots_) {
      all.insert(all.end(), slot.latencies_us.begin(), slot.latencies_us.end());
      result.errors += slot.errors;
      if (result.first_error.empty()) result.first_error = slot.first_error;
    }
    result.calls = static_cast<int64_t>(all.size());
    if (all.empty()) return result;
    double sum = 0;
    for (double v : all) sum += v;
    result.mean_us = sum / static_cast<double>(all.size());
    result.p50_us = Percentile(&all, 0.50);
    result.p99_us = Percentile(&all, 0.99);
    return result;
  }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    Response response;
    Clock::time_point started;
    std::vector<double> latencies_us;
    int64_t errors = 0;
    std::string first_error;
  };

  static double Percentile(std::vector<double>* values, double q) {
    const size_t k =
        std::min(values->size() - 1,
                 static_cast<size_t>(q * static_cast<double>(values->size())));
    std::nth_element(values->begin(), values->begin() + static_cast<long>(k),
                     values->end());
    return (*values)[k];
  }

  void Issue(Slot* slot) {
    slot->context = std::make_unique<grpc::ClientContext>();
    SetDeadline(slot->context.get());
    slot->response.Clear();
    slot->started = Clock::now();
    start_(slot->context.get(), request_, &slot->response,
           [this, slot](grpc::Status status) { Done(slot, status); });
  }

  void Done(Slot* slot, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    if (!status.ok()) {
      if (slot->errors++ == 0) {
        slot->first_error =
            absl::StrCat(status.error_code(), ": ", status.error_message());
      }
    } else if (now >= measure_begin_ && now <= measure_end_) {
      slot->latencies_us.push_back(
          std::chrono::duration<double, std::micro>(now - slot->started)
              .count());
    }
    if (now < measure_end_ && status.ok()) {
      Issue(slot);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (--running_ == 0) cv_.notify_all();
  }

  // Constant after construction (the times before the first Issue).
  const Start start_;
  const int server_pid_;
  const Request* const request_;
  std::vector<Slot> slots_;
  const Clock::duration warmup_;
  const Clock::duration measure_;
  Clock::time_point measure_begin_;
  Clock::time_point measure_end_;

  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;  // guarded by mu_
};

std::string Us(double us) {
  return us < 0 ? std::string("-") : absl::StrFormat("%.0f", us);
}

void PrintRow(const std::string& model, int batch, int concurrency,
              const Result& p, const Result* e) {
  std::string row = absl::StrFormat(
      "| %s | %d | %d | %s | %s | %s | %.0f | %s |", model, batch, concurrency,
      Us(p.mean_us), Us(p.p50_us), Us(p.p99_us), p.calls_per_second(),
      Us(p.cpu_us_per_call()));
  if (e != nullptr) {
    absl::StrAppendFormat(
        &row, " %s | %s | %s | %.0f | %s | %.2f | %.2f | %.2f |",
        Us(e->mean_us), Us(e->p50_us), Us(e->p99_us), e->calls_per_second(),
        Us(e->cpu_us_per_call()), e->mean_us > 0 ? p.mean_us / e->mean_us : 0,
        e->p50_us > 0 ? p.p50_us / e->p50_us : 0,
        e->calls_per_second() > 0 ? p.calls_per_second() / e->calls_per_second()
                                  : 0);
  }
  std::printf("%s\n", row.c_str());
  std::fflush(stdout);
}

// Sizes the requests of one (model, batch) pair: the PredictRequest, one
// Predict to learn the response size, and the matching echo request.
bool PrepareCell(mlp::v1::ModelService::Stub* stub, const ModelDef& model,
                 int batch, mlp::v1::PredictRequest* predict,
                 mlp::bench::EchoRequest* echo,
                 size_t* response_bytes = nullptr,
                 mlp::v1::PredictResponse* predict_response = nullptr) {
  *predict = MakePredictRequest(model, batch);
  mlp::v1::PredictResponse local;
  mlp::v1::PredictResponse& response =
      predict_response != nullptr ? *predict_response : local;
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status status = stub->Predict(&context, *predict, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "Predict on '%s' failed: %d: %s\n", model.name.c_str(),
                 status.error_code(), status.error_message().c_str());
    return false;
  }
  const int64_t want = static_cast<int64_t>(batch) *
                       model.spec.layers(model.spec.layers_size() - 1).units();
  if (response.outputs().values_size() != want) {
    std::fprintf(stderr, "Predict on '%s' returned %d values, expected %lld\n",
                 model.name.c_str(), response.outputs().values_size(),
                 static_cast<long long>(want));
    return false;
  }
  *echo = MakeEchoRequest(predict->ByteSizeLong(), response.ByteSizeLong());
  if (response_bytes != nullptr) *response_bytes = response.ByteSizeLong();
  return true;
}

// False, after saying how many calls failed and the first error, if any
// call of `r` failed.
bool ReportErrors(const Result& r) {
  if (r.errors == 0) return true;
  std::fprintf(stderr, "  %lld failed calls, first: %s\n",
               static_cast<long long>(r.errors), r.first_error.c_str());
  return false;
}

// Each field the median of its rounds.
Result Median(std::vector<Result> rounds) {
  auto median = [&rounds](auto field) {
    std::vector<double> v;
    for (const Result& r : rounds) v.push_back(field(r));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::sort(rounds.begin(), rounds.end(), [](const Result& a, const Result& b) {
    return a.calls_per_second() < b.calls_per_second();
  });
  Result out = rounds[rounds.size() / 2];  // calls, seconds, server CPU
  out.mean_us = median([](const Result& r) { return r.mean_us; });
  out.p50_us = median([](const Result& r) { return r.p50_us; });
  out.p99_us = median([](const Result& r) { return r.p99_us; });
  out.errors = 0;
  for (const Result& r : rounds) {
    out.errors += r.errors;
    if (out.first_error.empty()) out.first_error = r.first_error;
  }
  return out;
}

// --infer: Predict vs ModelInfer (raw), same rows, same server.
int RunInferComparison(mlp::v1::ModelService::Stub* stub,
                       inference::GRPCInferenceService::Stub* v2,
                       const std::vector<ModelDef>& models) {
  const std::vector<int> batches =
      ParseInts(absl::GetFlag(FLAGS_batches), "batches");
  const std::vector<int> concurrencies =
      ParseInts(absl::GetFlag(FLAGS_concurrency), "concurrency");
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const double warmup = absl::GetFlag(FLAGS_warmup_seconds);
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  const int pid = absl::GetFlag(FLAGS_server_pid);
  std::printf(
      "\nPredict vs ModelInfer (raw)%s%s: %.1f s measured per round after "
      "%.1f s warm-up, %d rounds each, medians; latencies and server CPU "
      "time per call in us; ratios ModelInfer / Predict\n\n",
      absl::GetFlag(FLAGS_label).empty() ? "" : ", ",
      absl::GetFlag(FLAGS_label).c_str(), seconds, warmup, rounds);
  std::printf(
      "| model (Predict / ModelInfer request bytes) | batch | in flight | "
      "Predict p50 | Predict calls/s | Predict CPU/call | ModelInfer p50 | "
      "ModelInfer calls/s | ModelInfer CPU/call | p50 ratio | calls/s ratio "
      "|\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  auto predict_start = [stub](grpc::ClientContext* c,
                              const mlp::v1::PredictRequest* req,
                              mlp::v1::PredictResponse* resp,
                              std::function<void(grpc::Status)> done) {
    stub->async()->Predict(c, req, resp, std::move(done));
  };
  auto infer_start = [v2](grpc::ClientContext* c,
                          const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* resp,
                          std::function<void(grpc::Status)> done) {
    v2->async()->ModelInfer(c, req, resp, std::move(done));
  };
  bool all_ok = true;
  for (const ModelDef& model : models) {
    for (int batch : batches) {
      mlp::v1::PredictRequest predict;
      mlp::bench::EchoRequest unused;
      mlp::v1::PredictResponse expected;
      size_t predict_bytes = 0;
      if (!PrepareCell(stub, model, batch, &predict, &unused, &predict_bytes,
                       &expected)) {
        return 1;
      }
      const inference::ModelInferRequest infer = MakeInferRequest(predict);
      size_t infer_bytes = 0;
      if (!CheckInfer(v2, infer, expected, &infer_bytes)) return 1;
      for (int concurrency : concurrencies) {
        std::vector<Result> p_rounds, i_rounds;
        for (int r = 0; r < rounds; ++r) {
          p_rounds.push_back(
              ClosedLoop<mlp::v1::PredictRequest, mlp::v1::PredictResponse>(
                  predict_start, &predict, concurrency, warmup, seconds, pid)
                  .Run());
          i_rounds.push_back(
              ClosedLoop<inference::ModelInferRequest,
                         inference::ModelInferResponse>(
                  infer_start, &infer, concurrency, warmup, seconds, pid)
                  .Run());
        }
        const Result p = Median(p_rounds);
        const Result i = Median(i_rounds);
        std::printf(
            "| %s (%zu / %zu B) | %d | %d | %s | %.0f | %s | %s | %.0f | %s | "
            "%.2f | %.2f |\n",
            model.key.c_str(), predict.ByteSizeLong(), infer.ByteSizeLong(),
            batch, concurrency, Us(p.p50_us).c_str(), p.calls_per_second(),
            Us(p.cpu_us_per_call()).c_str(), Us(i.p50_us).c_str(),
            i.calls_per_second(), Us(i.cpu_us_per_call()).c_str(),
            p.p50_us > 0 ? i.p50_us / p.p50_us : 0,
            p.calls_per_second() > 0
                ? i.calls_per_second() / p.calls_per_second()
                : 0);
        std::fflush(stdout);
        all_ok = ReportErrors(p) && all_ok;
        all_ok = ReportErrors(i) && all_ok;
      }
    }
  }
  return all_ok ? 0 : 1;
}

// --write_http_bodies: the JSON and the binary-extension infer requests of
// --body_model / --body_batch, the latter asking for binary output.
int WriteHttpBodies(mlp::v1::ModelService::Stub* stub,
                    inference::GRPCInferenceService::Stub* v2) {
  ModelDef model;
  if (!FindModel(absl::GetFlag(FLAGS_body_model), &model)) {
    std::fprintf(stderr, "--body_model must be seed or mnist\n");
    return 2;
  }
  mlp::v1::PredictRequest predict;
  mlp::bench::EchoRequest unused;
  mlp::v1::PredictResponse expected;
  size_t bytes = 0;
  if (!PrepareCell(stub, model, absl::GetFlag(FLAGS_body_batch), &predict,
                   &unused, &bytes, &expected) ||
      !CheckInfer(v2, MakeInferRequest(predict), expected, &bytes)) {
    return 1;
  }
  const auto& shape = predict.inputs().shape();
  const auto& values = predict.inputs().values();
  std::string json = absl::StrFormat(
      "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[%d,%d]"
      ","
      "\"data\":[",
      shape[0], shape[1]);
  for (int i = 0; i < values.size(); ++i) {
    absl::StrAppendFormat(&json, "%s%.9g", i > 0 ? "," : "", values[i]);
  }
  json += "]}]}";
  const std::string header = absl::StrFormat(
      "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[%d,%d]"
      ","
      "\"parameters\":{\"binary_data_size\":%d}}],\"outputs\":[{\"name\":"
      "\"output\",\"parameters\":{\"binary_data\":true}}]}",
      shape[0], shape[1], values.size() * 4);
  const std::string binary =
      header + std::string(reinterpret_cast<const char*>(values.data()),
                           static_cast<size_t>(values.size()) * 4);
  const std::string dir = absl::GetFlag(FLAGS_write_http_bodies);
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"infer.json", json},
        {"infer.bin", binary},
        {"infer.bin.header_length", absl::StrCat(header.size())}}) {
    std::ofstream out(dir + "/" + name, std::ios::binary);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) {
      std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name.c_str());
      return 1;
    }
  }
  std::printf("%zu %zu\n", json.size(), binary.size());
  return 0;
}

int WriteH2loadBody(mlp::v1::ModelService::Stub* stub) {
  ModelDef model;
  if (!FindModel(absl::GetFlag(FLAGS_body_model), &model)) {
    std::fprintf(stderr, "--body_model must be seed or mnist\n");
    return 2;
  }
  mlp::v1::PredictRequest predict;
  mlp::bench::EchoRequest echo;
  if (!PrepareCell(stub, model, absl::GetFlag(FLAGS_body_batch), &predict,
                   &echo)) {
    return 1;
  }
  const std::string target = absl::GetFlag(FLAGS_body_target);
  std::string message;
  if (target == "predict") {
    message = predict.SerializeAsString();
  } else if (target == "echo") {
    message = echo.SerializeAsString();
  } else {
    std::fprintf(stderr, "--body_target must be predict or echo\n");
    return 2;
  }
  const uint32_t n = static_cast<uint32_t>(message.size());
  const char prefix[5] = {0, static_cast<char>(n >> 24),
                          static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                          static_cast<char>(n)};
  std::ofstream out(absl::GetFlag(FLAGS_write_h2load_body), std::ios::binary);
  out.write(prefix, sizeof(prefix));
  out.write(message.data(), static_cast<std::streamsize>(message.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n",
                 absl::GetFlag(FLAGS_write_h2load_body).c_str());
    return 1;
  }
  std::printf("%u\n", n);
  return 0;
}

int Run() {
  const std::string server = absl::GetFlag(FLAGS_server);
  const std::string echo_address = absl::GetFlag(FLAGS_echo);
  CheckLoopback(server, "server");
  if (!echo_address.empty()) CheckLoopback(echo_address, "echo");

  std::shared_ptr<grpc::Channel> channel = MakeChannel(server);
  auto stub = mlp::v1::ModelService::NewStub(channel);
  auto v2 = inference::GRPCInferenceService::NewStub(channel);
  std::unique_ptr<mlp::bench::Echo::Stub> echo_stub;
  if (!echo_address.empty()) {
    echo_stub = mlp::bench::Echo::NewStub(MakeChannel(echo_address));
  }

  std::vector<ModelDef> models;
  for (absl::string_view key :
       absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty())) {
    ModelDef m;
    if (!FindModel(std::string(key), &m)) {
      std::fprintf(stderr, "--models: unknown '%s' (seed, mnist)\n",
                   std::string(key).c_str());
      return 2;
    }
    models.push_back(std::move(m));
  }
  if (absl::GetFlag(FLAGS_create_models)) {
    for (const ModelDef& m : {SeedModel(), MnistModel()}) {
      grpc::Status status = CreateModel(stub.get(), m);
      if (!status.ok()) {
        std::fprintf(stderr, "CreateModel '%s' failed: %d: %s\n",
                     m.name.c_str(), status.error_code(),
                     status.error_message().c_str());
        return 1;
      }
    }
  }
  if (!absl::GetFlag(FLAGS_write_h2load_body).empty()) {
    return WriteH2loadBody(stub.get());
  }
  if (!absl::GetFlag(FLAGS_write_http_bodies).empty()) {
    return WriteHttpBodies(stub.get(), v2.get());
  }
  if (absl::GetFlag(FLAGS_infer)) {
    return RunInferComparison(stub.get(), v2.get(), models);
  }

  const std::vector<int> batches =
      ParseInts(absl::GetFlag(FLAGS_batches), "batches");
  const std::vector<int> concurrencies =
      ParseInts(absl::GetFlag(FLAGS_concurrency), "concurrency");
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const double warmup = absl::GetFlag(FLAGS_warmup_seconds);

  std::printf(
      "\nPredict vs echo%s%s: %.1f s measured per cell after %.1f s "
      "warm-up; latencies and server CPU time per call in us\n\n",
      absl::GetFlag(FLAGS_label).empty() ? "" : ", ",
      absl::GetFlag(FLAGS_label).c_str(), seconds, warmup);
  std::printf(
      "| model (request / reply bytes) | batch | in flight | mean | p50 | p99 "
      "| "
      "calls/s | CPU/call |%s\n",
      echo_stub ? " echo mean | echo p50 | echo p99 | echo calls/s | echo "
                  "CPU/call | mean ratio | p50 ratio | calls/s ratio |"
                : "");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|%s\n",
              echo_stub ? "---:|---:|---:|---:|---:|---:|---:|---:|" : "");

  auto predict_start = [&stub](grpc::ClientContext* c,
                               const mlp::v1::PredictRequest* req,
                               mlp::v1::PredictResponse* resp,
                               std::function<void(grpc::Status)> done) {
    stub->async()->Predict(c, req, resp, std::move(done));
  };
  auto echo_start = [&echo_stub](grpc::ClientContext* c,
                                 const mlp::bench::EchoRequest* req,
                                 mlp::bench::EchoReply* resp,
                                 std::function<void(grpc::Status)> done) {
    echo_stub->async()->Echo(c, req, resp, std::move(done));
  };

  bool all_ok = true;
  for (const ModelDef& model : models) {
    for (int batch : batches) {
      mlp::v1::PredictRequest predict;
      mlp::bench::EchoRequest echo;
      size_t response_bytes = 0;
      if (!PrepareCell(stub.get(), model, batch, &predict, &echo,
                       &response_bytes)) {
        return 1;
      }
      for (int concurrency : concurrencies) {
        Result p =
            ClosedLoop<mlp::v1::PredictRequest, mlp::v1::PredictResponse>(
                predict_start, &predict, concurrency, warmup, seconds,
                absl::GetFlag(FLAGS_server_pid))
                .Run();
        Result e;
        if (echo_stub) {
          e = ClosedLoop<mlp::bench::EchoRequest, mlp::bench::EchoReply>(
                  echo_start, &echo, concurrency, warmup, seconds,
                  absl::GetFlag(FLAGS_echo_pid))
                  .Run();
        }
        const std::string name =
            absl::StrCat(model.key, " (", predict.ByteSizeLong(), " / ",
                         response_bytes, " B)");
        PrintRow(name, batch, concurrency, p, echo_stub ? &e : nullptr);
        all_ok = ReportErrors(p) && all_ok;
        all_ok = ReportErrors(e) && all_ok;
      }
    }
  }
  return all_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Run();
}
