// The mlp-server binary as users run it: reflection lists the API, health
// answers, SIGTERM drains and exits 0, bad flags are refused.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "reflection_subset.grpc.pb.h"
#include "tests/testing/api.h"
#include "tests/testing/server_process.h"
#include "tests/testing/status_matchers.h"

namespace mlp {
namespace {

using ::mlp::testing::ContextWithDeadline;
using ::mlp::testing::ServerProcess;
using ::mlp::testing::StatusIs;
using ::mlp::testing::TempDir;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// One reflection request on a stream of its own: the answer.
grpc::reflection::v1alpha::ServerReflectionResponse Reflect(
    const std::shared_ptr<grpc::Channel>& channel,
    const grpc::reflection::v1alpha::ServerReflectionRequest& request) {
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  auto context = ContextWithDeadline(10);
  auto stream = stub->ServerReflectionInfo(context.get());
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  EXPECT_TRUE(stream->Write(request));
  EXPECT_TRUE(stream->Read(&response));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  return response;
}

// The services reflection lists, without credentials.
std::vector<std::string> ReflectedServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  const grpc::reflection::v1alpha::ServerReflectionResponse response =
      Reflect(channel, request);
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) {
    names.push_back(s.name());
  }
  return names;
}

TEST(ProcessTest, ReflectionListsTheModelServiceAndHealth) {
  TempDir dir;
  auto server = ServerProcess::Start(dir.path() + "/data");
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(),
                                     grpc::InsecureChannelCredentials());
  const std::vector<std::string> names = ReflectedServices(channel);
  EXPECT_THAT(names, Contains("mlp.v1.ModelService"));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));

  // The service's descriptor is served too, so generic tools can call it.
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_file_containing_symbol("mlp.v1.ModelService");
  EXPECT_GT(Reflect(channel, request)
                .file_descriptor_response()
                .file_descriptor_proto_size(),
            0);
}

// With --auth_token_file, health and reflection answer without a token
// (orchestrators and generic tools), while ModelService refuses a call
// without one.
TEST(ProcessTest, HealthAndReflectionStayOpenWithATokenConfigured) {
  TempDir dir;
  const std::string token_file = dir.path() + "/token";
  { std::ofstream(token_file) << "s3cret\n"; }
  ::chmod(token_file.c_str(), 0600);
  auto server = ServerProcess::Start(dir.path() + "/data",
                                     {"--auth_token_file=" + token_file});
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(),
                                     grpc::InsecureChannelCredentials());

  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const std::string service : {"", "mlp.v1.ModelService"}) {
    grpc::health::v1::HealthCheckRequest check;
    check.set_service(service);
    grpc::health::v1::HealthCheckResponse serving;
    const grpc::Status status =
        health->Check(ContextWithDeadline().get(), check, &serving);
    ASSERT_TRUE(status.ok()) << service << ": " << status.error_message();
    EXPECT_EQ(serving.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }

  EXPECT_THAT(ReflectedServices(channel), Contains("mlp.v1.ModelService"));

  auto stub = v1::ModelService::NewStub(channel);
  v1::ListModelsResponse list;
  EXPECT_EQ(
      stub->ListModels(ContextWithDeadline().get(), {}, &list).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  auto with_token = ContextWithDeadline();
  with_token->AddMetadata("authorization", "Bearer s3cret");
  EXPECT_TRUE(stub->ListModels(with_token.get(), {}, &list).ok());
}

// Trains 256 -> 256 relu -> 4 linear on `address` in batches of 128: its
// first layer's products are large enough for the compute pool to cut them
// into blocks (server/engine/gemm.cc). The weights of the result.
std::vector<float> TrainWideModel(const std::string& address) {
  auto stub = testing::MakeStub(address);
  v1::ModelSpec spec;
  spec.set_input_size(256);
  spec.add_layers()->set_units(256);
  spec.mutable_layers(0)->set_activation(v1::RELU);
  spec.add_layers()->set_units(4);
  spec.mutable_layers(1)->set_activation(v1::LINEAR);
  spec.set_loss(v1::MSE);
  spec.set_seed(5);
  EXPECT_TRUE(testing::CreateModel(stub.get(), "wide", spec).ok());
  const int rows = 512;
  std::vector<float> x(rows * 256), t(rows * 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 101) / 100;
  for (size_t i = 0; i < t.size(); ++i) t[i] = float((i * 31) % 11) / 10;
  v1::TrainRequest train;
  train.set_model("wide");
  *train.mutable_inline_data()->mutable_inputs() =
      testing::MakeTensor({rows, 256}, x);
  *train.mutable_inline_data()->mutable_targets() =
      testing::MakeTensor({rows, 4}, t);
  train.mutable_options()->set_optimizer(v1::ADAM);
  train.mutable_options()->set_learning_rate(0.001f);
  train.mutable_options()->set_batch_size(128);
  train.mutable_options()->set_max_epochs(3);
  train.mutable_options()->set_shuffle(true);
  train.mutable_options()->set_seed(9);
  auto context = ContextWithDeadline(120);
  auto reader = stub->Train(context.get(), train);
  v1::TrainProgress progress;
  while (reader->Read(&progress)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(progress.version(), 2u);
  v1::GetWeightsRequest request;
  request.set_model("wide");
  v1::GetWeightsResponse weights;
  EXPECT_TRUE(
      stub->GetWeights(ContextWithDeadline().get(), request, &weights).ok());
  std::vector<float> all;
  for (const v1::LayerWeights& layer : weights.layers()) {
    all.insert(all.end(), layer.weights().values().begin(),
               layer.weights().values().end());
    all.insert(all.end(), layer.bias().values().begin(),
               layer.bias().values().end());
  }
  return all;
}

// --compute_threads changes how fast, never what: the same training on a
// server with 1 and with 2 compute threads gives the same weights, bit for
// bit (the reproducibility contract in docs/architecture.md).
TEST(ProcessTest, ComputeThreadsDoNotChangeTheWeights) {
  std::vector<std::vector<float>> results;
  for (const char* threads : {"1", "2"}) {
    SCOPED_TRACE(threads);
    TempDir dir;
    auto server = ServerProcess::Start(
        dir.path() + "/data", {std::string("--compute_threads=") + threads});
    ASSERT_TRUE(server.ok()) << server.status();
    results.push_back(TrainWideModel((*server)->address()));
    ASSERT_EQ(results.back().size(), 256u * 256 + 256 + 256 * 4 + 4);
  }
  EXPECT_TRUE(results[0] == results[1]);
}

TEST(ProcessTest, SigtermDrainsAndExitsZero) {
  TempDir dir;
  auto server = ServerProcess::Start(dir.path() + "/data");
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->address());
  ASSERT_TRUE(testing::CreateModel(stub.get(), "m", testing::SeedSpec(1)).ok());
  // A training that would run for a long time.
  v1::TrainRequest train = testing::SeedTrainRequest("m", 100000000);
  train.mutable_options()->set_target_loss(0);
  auto context = ContextWithDeadline(60);
  auto reader = stub->Train(context.get(), train);
  v1::TrainProgress progress;
  ASSERT_TRUE(reader->Read(&progress));

  const absl::Time start = absl::Now();
  (*server)->Signal(SIGTERM);
  v1::TrainProgress last;
  while (reader->Read(&progress)) last = progress;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.stop_reason(), v1::CANCELLED);
  EXPECT_EQ(last.version(), 0u);
  const int status = (*server)->Wait(5);
  ASSERT_NE(status, -1) << "mlp-server did not exit within 5 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// One line per call at info level: method, subject, status, duration, and
// the cause of an error; none below it.
TEST(ProcessTest, LogsOneLinePerCallAtInfoOnly) {
  for (const std::string level : {"info", "warning"}) {
    SCOPED_TRACE(level);
    TempDir dir;
    auto server =
        ServerProcess::Start(dir.path() + "/data", {"--log_level=" + level});
    ASSERT_TRUE(server.ok()) << server.status();
    auto stub = testing::MakeStub((*server)->address());
    ASSERT_TRUE(
        testing::CreateModel(stub.get(), "logged", testing::SeedSpec(1)).ok());
    v1::PredictRequest predict;
    predict.set_model("logged");
    *predict.mutable_inputs() =
        testing::MakeTensor({4, 3}, testing::kSeedInputs);
    v1::PredictResponse outputs;
    ASSERT_TRUE(
        stub->Predict(ContextWithDeadline().get(), predict, &outputs).ok());
    v1::GetModelRequest missing;
    missing.set_name("nope");
    v1::ModelInfo info;
    EXPECT_EQ(stub->GetModel(ContextWithDeadline().get(), missing, &info)
                  .error_code(),
              grpc::StatusCode::NOT_FOUND);
    stub.reset();  // closes the connection: nothing left for the drain
    (*server)->Signal(SIGTERM);
    ASSERT_NE((*server)->Wait(5), -1);

    std::ifstream in((*server)->log_path());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    const std::string stamp =
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z";
    const std::string ms = "[0-9]+\\.[0-9]{3} ms";
    if (level == "info") {
      EXPECT_THAT(lines, Contains(MatchesRegex("I " + stamp +
                                               " [a-z_]+\\.cc:[0-9]+\\] "
                                               "CreateModel 'logged' OK " +
                                               ms)));
      EXPECT_THAT(lines,
                  Contains(MatchesRegex(".*\\] Predict 'logged' OK " + ms)));
      EXPECT_THAT(
          lines, Contains(MatchesRegex(".*\\] GetModel 'nope' NOT_FOUND " + ms +
                                       ": model 'nope' not found")));
    } else {
      EXPECT_THAT(lines, Not(Contains(ContainsRegex("Predict|GetModel"))));
    }
  }
}

// A caller, with or without credentials, cannot forge a log line or write a
// long one through the names it sends, nor get raw control bytes back.
TEST(ProcessTest, CallerStringsAreEscapedAndBoundedInLogsAndErrors) {
  TempDir dir;
  const std::string token_file = dir.path() + "/token";
  {
    std::ofstream out(token_file);
    out << "s3cret\n";
  }
  ::chmod(token_file.c_str(), 0600);
  auto server = ServerProcess::Start(dir.path() + "/data",
                                     {"--auth_token_file=" + token_file});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->address());
  const std::string forged = "x\nE 2099-01-01T00:00:00.000Z main.cc:1] forged";
  v1::GetModelRequest request;
  v1::ModelInfo info;
  request.set_name(forged);
  EXPECT_EQ(
      stub->GetModel(ContextWithDeadline().get(), request, &info).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  auto with_token = [] {
    auto context = ContextWithDeadline();
    context->AddMetadata("authorization", "Bearer s3cret");
    return context;
  };
  grpc::Status status = stub->GetModel(with_token().get(), request, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message().find('\n'), std::string::npos);
  EXPECT_THAT(status.error_message(), ContainsRegex("x\\\\nE 2099"));
  request.set_name(std::string(1 << 20, 'n'));
  EXPECT_EQ(
      stub->GetModel(ContextWithDeadline().get(), request, &info).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  status = stub->GetModel(with_token().get(), request, &info);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(status.error_message().size(), 400u);
  stub.reset();
  (*server)->Signal(SIGTERM);
  ASSERT_NE((*server)->Wait(5), -1);

  std::ifstream in((*server)->log_path());
  int request_lines = 0;
  for (std::string line; std::getline(in, line);) {
    EXPECT_LT(line.size(), 1200u) << line.substr(0, 200);
    EXPECT_THAT(line, Not(ContainsRegex("^E 2099"))) << line;
    if (line.find("] GetModel ") != std::string::npos) ++request_lines;
  }
  EXPECT_EQ(request_lines, 4);  // one per call, each on one line
}

// --log_format=json: every line the process writes, the request lines, the
// start and stop lines and the libraries' lines, is one JSON object,
// whatever a caller sent.
TEST(ProcessTest, JsonLogFormatWritesOneObjectPerLine) {
  TempDir dir;
  auto server =
      ServerProcess::Start(dir.path() + "/data", {"--log_format=json"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->address());
  ASSERT_TRUE(
      testing::CreateModel(stub.get(), "logged", testing::SeedSpec(1)).ok());
  v1::GetModelRequest request;
  request.set_name("x\"\n{\"level\":\"error\"} \x1b[2J");
  v1::ModelInfo info;
  EXPECT_EQ(
      stub->GetModel(ContextWithDeadline().get(), request, &info).error_code(),
      grpc::StatusCode::NOT_FOUND);
  // A name that is not UTF-8 makes protobuf log on the server: its line is
  // JSON too.
  request.set_name("bad \xff name");
  EXPECT_FALSE(
      stub->GetModel(ContextWithDeadline().get(), request, &info).ok());
  stub.reset();
  (*server)->Signal(SIGTERM);
  ASSERT_NE((*server)->Wait(5), -1);

  std::ifstream in((*server)->log_path());
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    nlohmann::json object;
    ASSERT_NO_THROW(object = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(object.is_object()) << line;
    for (const char* key : {"time", "level", "file", "line", "message"}) {
      EXPECT_TRUE(object.contains(key)) << key << " in " << line;
    }
    lines.push_back(std::move(object));
  }
  const auto message_with = [&lines](const std::string& text) {
    return std::count_if(lines.begin(), lines.end(), [&](const auto& line) {
      return line["message"].template get<std::string>().find(text) !=
             std::string::npos;
    });
  };
  EXPECT_EQ(message_with("CreateModel 'logged' OK"), 1);
  EXPECT_EQ(message_with("GetModel 'x\"\\n{\"level\":\"error\"} \\x1b[2J'"), 1);
  EXPECT_EQ(message_with("invalid UTF-8"), 1);  // protobuf's, routed
  EXPECT_EQ(message_with("listening on"), 1);
  for (const nlohmann::json& line : lines) {
    EXPECT_THAT(line["level"].get<std::string>(),
                MatchesRegex("debug|info|warning|error"))
        << line;
    EXPECT_TRUE(line["line"].is_number_integer()) << line;
  }
}

// A write that fails under the data directory reaches the caller named
// after the model, and the server's log keeps the path for the operator.
// (Tests run as root, where permissions stop no write: the model's directory
// is replaced by a file instead, which fails every write under it.)
TEST(ProcessTest, StorageErrorsGiveCallersNamesAndTheLogThePath) {
  TempDir dir;
  const std::string data_dir = dir.path() + "/data";
  auto server = ServerProcess::Start(data_dir);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = testing::MakeStub((*server)->address());
  ASSERT_TRUE(
      testing::CreateModel(stub.get(), "doomed", testing::SeedSpec(1)).ok());
  const std::string model_dir = data_dir + "/models/doomed";
  ASSERT_EQ(std::rename(model_dir.c_str(), (dir.path() + "/moved").c_str()), 0);
  { std::ofstream(model_dir) << "not a directory"; }

  auto context = ContextWithDeadline(60);
  auto reader =
      stub->Train(context.get(), testing::SeedTrainRequest("doomed", 3));
  v1::TrainProgress progress;
  while (reader->Read(&progress)) {
  }
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(status.error_message(),
              ContainsRegex("^cannot store version 2 of model 'doomed': "));
  EXPECT_THAT(status.error_message(), Not(HasSubstr(data_dir)));
  EXPECT_THAT(status.error_message(), Not(HasSubstr("/models/")));
  stub.reset();
  (*server)->Signal(SIGTERM);
  ASSERT_NE((*server)->Wait(5), -1);

  std::ifstream in((*server)->log_path());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const std::string logged =
      "] cannot store version 2 of model 'doomed': create '" + model_dir +
      "/v000002.ver.tmp";
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [&](const std::string& line) {
                            return line.rfind("E ", 0) == 0 &&
                                   line.find(logged) != std::string::npos;
                          }),
            1)
      << logged;
}

TEST(ProcessTest, RepeatedStopSignalsStillExitZero) {
  TempDir dir;
  auto server = ServerProcess::Start(dir.path() + "/data");
  ASSERT_TRUE(server.ok()) << server.status();
  // An impatient operator: Ctrl-C, then SIGTERM, while it drains.
  (*server)->Signal(SIGINT);
  (*server)->Signal(SIGTERM);
  (*server)->Signal(SIGINT);
  const int status = (*server)->Wait(5);
  ASSERT_NE(status, -1);
  EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ProcessTest, TwoServersCannotShareADataDirectory) {
  TempDir dir;
  auto first = ServerProcess::Start(dir.path() + "/data");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = ServerProcess::Start(dir.path() + "/data");
  // Refused with its cause, not crashed.
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kInternal,
                               AllOf(HasSubstr("exited with code 1 "),
                                     HasSubstr("is in use by another "
                                               "mlp-server"))));
  // Once the first is gone (even by SIGKILL), the directory is free again.
  (*first)->Signal(SIGKILL);
  (*first)->Wait(5);
  auto third = ServerProcess::Start(dir.path() + "/data");
  EXPECT_TRUE(third.ok()) << third.status();
}

// Runs `mlp-server ARG` to its end; its exit code and output (both streams).
int RunServer(const std::string& arg, std::string* output) {
  const std::string command =
      "'" + testing::ServerBinary() + "' " + arg + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t got = 0;
  while ((got = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    output->append(buffer, got);
  }
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ProcessTest, VersionAndHelpNameTheBuildAndEveryFlag) {
  std::string version;
  EXPECT_EQ(RunServer("--version", &version), 0);
  EXPECT_THAT(version, MatchesRegex("mlp-server [0-9]+\\.[0-9]+\\.[0-9]+ "
                                    "\\(git [0-9a-z-]+\\)\n"));
  std::string help;
  EXPECT_EQ(RunServer("--help", &help), 1);  // Abseil's exit code for --help
  for (const char* flag :
       {"--address", "--data_dir", "--compute_threads", "--max_message_bytes",
        "--max_parameters", "--keep_versions", "--auth_token_file",
        "--log_format", "--max_dataset_bytes"}) {
    EXPECT_THAT(help, ContainsRegex(std::string(flag) + " \\("));
  }
  EXPECT_THAT(help, ContainsRegex("default: 67108864"));
  EXPECT_THAT(help, Not(ContainsRegex("No flags matched")));
}

// Each bad value is refused with exit code 2 and a message naming the flag
// and the value (a crash, or a refusal for another reason, does not pass).
TEST(ProcessTest, BadFlagsAreRefused) {
  TempDir dir;
  auto server =
      ServerProcess::Start(dir.path() + "/data", {"--log_level=loud"});
  EXPECT_THAT(server, StatusIs(absl::StatusCode::kInternal,
                               AllOf(HasSubstr("exited with code 2 "),
                                     HasSubstr("--log_level must be debug, "
                                               "info, warning or error, got "
                                               "'loud'"))));
  auto server2 =
      ServerProcess::Start(dir.path() + "/data2", {"--keep_versions=0"});
  EXPECT_THAT(server2,
              StatusIs(absl::StatusCode::kInternal,
                       AllOf(HasSubstr("exited with code 2 "),
                             HasSubstr("keep_versions must be >= 1, got 0"))));
  auto server3 =
      ServerProcess::Start(dir.path() + "/data3", {"--memory_trim_seconds=-1"});
  EXPECT_THAT(server3, StatusIs(absl::StatusCode::kInternal,
                                AllOf(HasSubstr("exited with code 2 "),
                                      HasSubstr("memory_trim_seconds must be "
                                                ">= 0 (0 = never), got -1"))));
  std::string output;
  EXPECT_EQ(RunServer("--log_format=xml --data_dir='" + dir.path() + "/data4'",
                      &output),
            2);
  EXPECT_THAT(output, ContainsRegex("--log_format must be text or json, got "
                                    "'xml'"));
}

}  // namespace
}  // namespace mlp
