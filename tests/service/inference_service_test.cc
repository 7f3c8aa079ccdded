// inference.GRPCInferenceService (the Open Inference Protocol) end to end: an
// in-process MlpServer on a loopback port, called over a real gRPC channel
// with stubs generated from the project's v2 proto, next to mlp.v1 on the
// same port.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/service/server.h"
#include "tests/testing/api.h"
#include "tests/testing/server_process.h"

namespace mlp {
namespace {

using ::inference::GRPCInferenceService;
using ::inference::ModelInferRequest;
using ::inference::ModelInferResponse;
using ::mlp::testing::ContextWithDeadline;
using ::mlp::testing::kSeedInputs;
using ::mlp::testing::MakeTensor;
using ::mlp::testing::SeedSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Exactly equal floats, bit for bit (so -0 and 0 differ).
std::vector<uint32_t> Bits(const float* values, size_t n) {
  std::vector<uint32_t> out(n);
  std::memcpy(out.data(), values, n * sizeof(float));
  return out;
}

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }

  void StartServer(std::string auth_tokens = "",
                   int max_message_bytes = 64 << 20) {
    server_.reset();
    service::ServerOptions options;
    options.address = "127.0.0.1:0";
    options.http_address = "";
    options.data_dir = dir_.path();
    options.max_message_bytes = max_message_bytes;
    // Small enough that any message limit down to 1 MiB is valid.
    options.limits.max_parameters = 100000;
    options.auth_tokens = std::move(auth_tokens);
    absl::StatusOr<std::unique_ptr<service::MlpServer>> server =
        service::MlpServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    const std::string address = "127.0.0.1:" + std::to_string(server_->port());
    mlp_ = testing::MakeStub(address);
    v2_ = GRPCInferenceService::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }

  // The seed network 3-4-1 as `name`, version 1.
  void CreateSeedModel(const std::string& name, uint64_t seed = 7) {
    ASSERT_TRUE(testing::CreateModel(mlp_.get(), name, SeedSpec(seed)).ok());
  }

  // One training of `name`: commits the next version.
  void TrainOnce(const std::string& name) {
    v1::TrainRequest request = testing::SeedTrainRequest(name, 20);
    auto context = ContextWithDeadline(60);
    auto reader = mlp_->Train(context.get(), request);
    v1::TrainProgress progress;
    while (reader->Read(&progress)) {
    }
    ASSERT_TRUE(reader->Finish().ok());
  }

  // mlp.v1 Predict on the tutorial's four rows.
  std::vector<float> PredictV1(const std::string& name, uint64_t version = 0) {
    v1::PredictRequest request;
    request.set_model(name);
    request.set_version(version);
    *request.mutable_inputs() = MakeTensor({4, 3}, kSeedInputs);
    v1::PredictResponse response;
    grpc::Status status =
        mlp_->Predict(ContextWithDeadline().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.outputs().values().begin(),
            response.outputs().values().end()};
  }

  // A typed FP32 request for the tutorial's four rows.
  static ModelInferRequest TypedRequest(const std::string& name) {
    ModelInferRequest request;
    request.set_model_name(name);
    auto* input = request.add_inputs();
    input->set_name("input");
    input->set_datatype("FP32");
    input->add_shape(4);
    input->add_shape(3);
    for (float v : kSeedInputs) input->mutable_contents()->add_fp32_contents(v);
    return request;
  }

  // The same rows as raw little-endian FP32 bytes.
  static ModelInferRequest RawRequest(const std::string& name) {
    ModelInferRequest request = TypedRequest(name);
    request.mutable_inputs(0)->clear_contents();
    request.add_raw_input_contents(
        std::string(reinterpret_cast<const char*>(kSeedInputs.data()),
                    kSeedInputs.size() * sizeof(float)));
    return request;
  }

  grpc::Status Infer(const ModelInferRequest& request,
                     ModelInferResponse* response) {
    return v2_->ModelInfer(ContextWithDeadline().get(), request, response);
  }

  // The status of ModelInfer for `request`.
  grpc::Status InferStatus(const ModelInferRequest& request) {
    ModelInferResponse response;
    return Infer(request, &response);
  }

  testing::TempDir dir_;
  std::unique_ptr<service::MlpServer> server_;
  std::unique_ptr<v1::ModelService::Stub> mlp_;
  std::unique_ptr<GRPCInferenceService::Stub> v2_;
};

TEST_F(InferenceServiceTest, ServerIsLiveReadyAndNamesItself) {
  grpc::ClientContext live_context;
  inference::ServerLiveResponse live;
  ASSERT_TRUE(
      v2_->ServerLive(&live_context, inference::ServerLiveRequest(), &live)
          .ok());
  EXPECT_TRUE(live.live());
  grpc::ClientContext ready_context;
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(
      v2_->ServerReady(&ready_context, inference::ServerReadyRequest(), &ready)
          .ok());
  EXPECT_TRUE(ready.ready());
  grpc::ClientContext meta_context;
  inference::ServerMetadataResponse meta;
  ASSERT_TRUE(v2_->ServerMetadata(&meta_context,
                                  inference::ServerMetadataRequest(), &meta)
                  .ok());
  EXPECT_EQ(meta.name(), "mlp-serve");
  EXPECT_THAT(meta.version(), ::testing::MatchesRegex("[0-9]+\\.[0-9]+.*"));
}

TEST_F(InferenceServiceTest, ModelMetadataListsTheKeptVersionsAndTensors) {
  CreateSeedModel("xnor");
  TrainOnce("xnor");
  inference::ModelMetadataRequest request;
  request.set_name("xnor");
  inference::ModelMetadataResponse meta;
  grpc::ClientContext context;
  ASSERT_TRUE(v2_->ModelMetadata(&context, request, &meta).ok());
  EXPECT_EQ(meta.name(), "xnor");
  EXPECT_THAT(meta.versions(), ElementsAre("1", "2"));
  EXPECT_EQ(meta.platform(), "mlp-serve");
  ASSERT_EQ(meta.inputs_size(), 1);
  EXPECT_EQ(meta.inputs(0).name(), "input");
  EXPECT_EQ(meta.inputs(0).datatype(), "FP32");
  EXPECT_THAT(meta.inputs(0).shape(), ElementsAre(-1, 3));
  ASSERT_EQ(meta.outputs_size(), 1);
  EXPECT_EQ(meta.outputs(0).name(), "output");
  EXPECT_EQ(meta.outputs(0).datatype(), "FP32");
  EXPECT_THAT(meta.outputs(0).shape(), ElementsAre(-1, 1));

  request.set_version("1");
  grpc::ClientContext v1_context;
  EXPECT_TRUE(v2_->ModelMetadata(&v1_context, request, &meta).ok());
  for (const char* version : {"9", "abc", "0", "-1", "1x"}) {
    request.set_version(version);
    grpc::ClientContext bad_context;
    grpc::Status status = v2_->ModelMetadata(&bad_context, request, &meta);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << version;
  }
  request.set_name("nope");
  request.set_version("");
  grpc::ClientContext unknown_context;
  grpc::Status status = v2_->ModelMetadata(&unknown_context, request, &meta);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("'nope'"));
}

TEST_F(InferenceServiceTest, ModelReadyForKeptVersionsOnly) {
  CreateSeedModel("xnor");
  auto ready = [&](const std::string& name, const std::string& version) {
    inference::ModelReadyRequest request;
    request.set_name(name);
    request.set_version(version);
    inference::ModelReadyResponse response;
    grpc::ClientContext context;
    EXPECT_TRUE(v2_->ModelReady(&context, request, &response).ok());
    return response.ready();
  };
  EXPECT_TRUE(ready("xnor", ""));
  EXPECT_TRUE(ready("xnor", "1"));
  EXPECT_FALSE(ready("xnor", "2"));
  EXPECT_FALSE(ready("nope", ""));
}

TEST_F(InferenceServiceTest, TypedInferEqualsPredictToTheLastBit) {
  CreateSeedModel("xnor");
  TrainOnce("xnor");
  const std::vector<float> expected = PredictV1("xnor");
  ModelInferRequest request = TypedRequest("xnor");
  request.set_id("call-17");
  ModelInferResponse response;
  ASSERT_TRUE(Infer(request, &response).ok());
  EXPECT_EQ(response.model_name(), "xnor");
  EXPECT_EQ(response.model_version(), "2");
  EXPECT_EQ(response.id(), "call-17");
  ASSERT_EQ(response.outputs_size(), 1);
  const auto& output = response.outputs(0);
  EXPECT_EQ(output.name(), "output");
  EXPECT_EQ(output.datatype(), "FP32");
  EXPECT_THAT(output.shape(), ElementsAre(4, 1));
  EXPECT_THAT(response.raw_output_contents(), IsEmpty());
  ASSERT_EQ(output.contents().fp32_contents_size(), 4);
  EXPECT_EQ(Bits(output.contents().fp32_contents().data(), 4),
            Bits(expected.data(), 4));
}

TEST_F(InferenceServiceTest, RawInferAnswersRawBytesEqualToPredict) {
  CreateSeedModel("xnor");
  const std::vector<float> expected = PredictV1("xnor");
  ModelInferResponse response;
  ASSERT_TRUE(Infer(RawRequest("xnor"), &response).ok());
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_FALSE(response.outputs(0).has_contents());
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(4, 1));
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  const std::string& raw = response.raw_output_contents(0);
  ASSERT_EQ(raw.size(), 4 * sizeof(float));
  std::vector<float> got(4);
  std::memcpy(got.data(), raw.data(), raw.size());
  EXPECT_EQ(Bits(got.data(), 4), Bits(expected.data(), 4));
}

TEST_F(InferenceServiceTest, Fp64InputIsConvertedTypedAndRaw) {
  CreateSeedModel("xnor");
  const std::vector<float> expected = PredictV1("xnor");
  ModelInferRequest typed = TypedRequest("xnor");
  auto* input = typed.mutable_inputs(0);
  input->set_datatype("FP64");
  input->clear_contents();
  std::vector<double> doubles(kSeedInputs.begin(), kSeedInputs.end());
  for (double v : doubles) input->mutable_contents()->add_fp64_contents(v);
  ModelInferResponse response;
  ASSERT_TRUE(Infer(typed, &response).ok());
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(Bits(response.outputs(0).contents().fp32_contents().data(), 4),
            Bits(expected.data(), 4));

  ModelInferRequest raw = RawRequest("xnor");
  raw.mutable_inputs(0)->set_datatype("FP64");
  raw.set_raw_input_contents(
      0, std::string(reinterpret_cast<const char*>(doubles.data()),
                     doubles.size() * sizeof(double)));
  response.Clear();
  ASSERT_TRUE(Infer(raw, &response).ok());
  std::vector<float> got(4);
  ASSERT_EQ(response.raw_output_contents(0).size(), 4 * sizeof(float));
  std::memcpy(got.data(), response.raw_output_contents(0).data(), 16);
  EXPECT_EQ(Bits(got.data(), 4), Bits(expected.data(), 4));
}

TEST_F(InferenceServiceTest, OneSampleShapeAndOutputFilterAndVersions) {
  CreateSeedModel("xnor");
  TrainOnce("xnor");
  const std::vector<float> v1_outputs = PredictV1("xnor", 1);
  ModelInferRequest request;
  request.set_model_name("xnor");
  request.set_model_version("1");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(3);
  for (int i = 0; i < 3; ++i) {
    input->mutable_contents()->add_fp32_contents(kSeedInputs[i]);
  }
  request.add_outputs()->set_name("output");
  ModelInferResponse response;
  ASSERT_TRUE(Infer(request, &response).ok());
  EXPECT_EQ(response.model_version(), "1");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_THAT(response.outputs(0).shape(), ElementsAre(1));
  EXPECT_EQ(Bits(response.outputs(0).contents().fp32_contents().data(), 1),
            Bits(v1_outputs.data(), 1));
}

TEST_F(InferenceServiceTest, BadRequestsNameTheFieldAndChangeNothing) {
  CreateSeedModel("xnor");
  struct Case {
    const char* what;
    std::function<void(ModelInferRequest*)> change;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"unknown model", [](auto* r) { r->set_model_name("nope"); },
       grpc::StatusCode::NOT_FOUND, "'nope'"},
      {"unknown version", [](auto* r) { r->set_model_version("5"); },
       grpc::StatusCode::NOT_FOUND, "version 5"},
      {"bad version", [](auto* r) { r->set_model_version("latest"); },
       grpc::StatusCode::NOT_FOUND, "'latest'"},
      {"input name",
       [](auto* r) { r->mutable_inputs(0)->set_name("x\nforged"); },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs[0].name is 'x\\nforged'"},
      {"datatype", [](auto* r) { r->mutable_inputs(0)->set_datatype("INT32"); },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs[0].datatype is 'INT32'"},
      {"shape", [](auto* r) { r->mutable_inputs(0)->set_shape(1, 2); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].shape is [4, 2]; expected [N, 3]"},
      {"zero rows", [](auto* r) { r->mutable_inputs(0)->set_shape(0, 0); },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs[0].shape is [0, 3]"},
      {"count",
       [](auto* r) {
         r->mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0] has 13 values in contents.fp32_contents"},
      {"not finite",
       [](auto* r) {
         r->mutable_inputs(0)->mutable_contents()->set_fp32_contents(
             4, std::nanf(""));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "(row 1, column 1) is nan"},
      {"two inputs", [](auto* r) { *r->add_inputs() = r->inputs(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs has 2 tensors"},
      {"raw and typed",
       [](auto* r) { r->add_raw_input_contents(std::string(48, '\0')); },
       grpc::StatusCode::INVALID_ARGUMENT, "inputs[0].contents is set"},
      {"raw size",
       [](auto* r) {
         r->mutable_inputs(0)->clear_contents();
         r->add_raw_input_contents(std::string(47, '\0'));
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "raw_input_contents[0] has 47 bytes"},
      {"output name", [](auto* r) { r->add_outputs()->set_name("probs"); },
       grpc::StatusCode::INVALID_ARGUMENT, "outputs[0].name is 'probs'"},
  };
  for (const Case& c : cases) {
    ModelInferRequest request = TypedRequest("xnor");
    c.change(&request);
    grpc::Status status = InferStatus(request);
    EXPECT_EQ(status.error_code(), c.code) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.what;
  }
  // The model is as it was: still one version, still answering.
  ModelInferResponse response;
  ASSERT_TRUE(Infer(TypedRequest("xnor"), &response).ok());
  EXPECT_EQ(response.model_version(), "1");
}

TEST_F(InferenceServiceTest, AnAnswerTooLargeIsResourceExhausted) {
  StartServer("", 2 << 20);
  v1::ModelSpec spec = SeedSpec(3);
  spec.mutable_layers(1)->set_units(1000);
  ASSERT_TRUE(testing::CreateModel(mlp_.get(), "wide", spec).ok());
  ModelInferRequest request;
  request.set_model_name("wide");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  // 800 x 1000 outputs of 4 bytes: 3.2 MB, past the 2 MiB limit, while the
  // request itself is 10 kB.
  input->add_shape(800);
  input->add_shape(3);
  input->mutable_contents()->mutable_fp32_contents()->Resize(2400, 0.5f);
  grpc::Status status = InferStatus(request);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("outputs"));
}

TEST_F(InferenceServiceTest, ProbesAreOpenAndEverythingElseNeedsAToken) {
  StartServer("reader-token reader\n");
  grpc::ClientContext live_context;
  inference::ServerLiveResponse live;
  EXPECT_TRUE(
      v2_->ServerLive(&live_context, inference::ServerLiveRequest(), &live)
          .ok());
  grpc::ClientContext ready_context;
  inference::ServerReadyResponse ready;
  EXPECT_TRUE(
      v2_->ServerReady(&ready_context, inference::ServerReadyRequest(), &ready)
          .ok());
  grpc::ClientContext meta_context;
  inference::ServerMetadataResponse meta;
  EXPECT_EQ(v2_->ServerMetadata(&meta_context,
                                inference::ServerMetadataRequest(), &meta)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(InferStatus(TypedRequest("xnor")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext infer_context;
  infer_context.AddMetadata("authorization", "Bearer reader-token");
  ModelInferResponse response;
  EXPECT_EQ(v2_->ModelInfer(&infer_context, TypedRequest("xnor"), &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace mlp
