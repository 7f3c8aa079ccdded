#include "server/service/model_service.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "server/common/log.h"
#include "server/engine/train_options.h"
#include "server/service/limits.h"
#include "server/service/model_convert.h"
#include "server/service/predict.h"
#include "server/service/request_log.h"
#include "server/service/status.h"
#include "server/service/tensor_convert.h"
#include "server/service/train_stream.h"
#include "server/service/unary.h"

namespace mlp::service {

namespace {

// Receives one dataset upload. A failed or cancelled upload drops the
// DatasetUpload, which removes its temporary file.
class UploadReactor final
    : public grpc::ServerReadReactor<v1::UploadDatasetRequest> {
 public:
  UploadReactor(registry::Registry* registry,
                grpc::CallbackServerContext* context, v1::DatasetInfo* response,
                const absl::Status& auth, Metrics* metrics)
      : registry_(registry),
        context_(context),
        response_(response),
        log_("UploadDataset", "", metrics) {
    if (!auth.ok()) {
      End(auth);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // End of the stream: a half-close commits, a cancellation does not.
      if (cancelled_.load() || context_->IsCancelled()) {
        End(absl::CancelledError("upload cancelled by the caller"));
      } else {
        End(Commit());
      }
      return;
    }
    absl::Status status = Handle();
    if (!status.ok()) {
      End(status);
      return;
    }
    StartRead(&request_);
  }

  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }

 private:
  absl::Status Handle() {
    if (request_.has_header()) {
      if (upload_ != nullptr) {
        return absl::InvalidArgumentError(
            "header: only the first message may be a header");
      }
      const v1::DatasetHeader& h = request_.header();
      log_.set_subject(h.name());
      MLP_ASSIGN_OR_RETURN(
          upload_, registry_->datasets().BeginUpload(h.name(), h.input_size(),
                                                     h.target_size()));
      return absl::OkStatus();
    }
    if (upload_ == nullptr) {
      return absl::InvalidArgumentError(
          "the first message must be a header, got a chunk");
    }
    if (!request_.has_chunk()) {
      return absl::InvalidArgumentError("message has neither header nor chunk");
    }
    const v1::TrainingData& chunk = request_.chunk();
    const std::string field = absl::StrCat("chunk ", chunks_);
    MLP_ASSIGN_OR_RETURN(
        MatrixView inputs,
        InputsView(chunk.inputs(), field + " inputs", upload_->input_size(),
                   "header.input_size"));
    MLP_ASSIGN_OR_RETURN(
        MatrixView targets,
        InputsView(chunk.targets(), field + " targets", upload_->target_size(),
                   "header.target_size"));
    if (targets.cols() != inputs.cols()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " has ", inputs.cols(), " input rows but ",
                       targets.cols(), " target rows"));
    }
    ++chunks_;
    return upload_->Append(inputs.data(), targets.data(),
                           static_cast<uint64_t>(inputs.cols()));
  }

  absl::Status Commit() {
    if (upload_ == nullptr) {
      return absl::InvalidArgumentError("the stream ended without a header");
    }
    MLP_ASSIGN_OR_RETURN(registry::DatasetInfo meta, upload_->Commit());
    DatasetToProto(meta, response_);
    return absl::OkStatus();
  }

  // Ends the call with `status`: an error drops the upload's temporary file.
  void End(const absl::Status& status) {
    upload_.reset();
    log_.Done(status);
    Finish(ToGrpcStatus(status));
  }

  registry::Registry* const registry_;
  grpc::CallbackServerContext* const context_;
  v1::DatasetInfo* const response_;
  RequestLog log_;

  std::atomic<bool> cancelled_{false};
  // Touched only by OnReadDone, which gRPC never runs concurrently with
  // itself for one call.
  v1::UploadDatasetRequest request_;
  std::unique_ptr<registry::DatasetUpload> upload_;
  int64_t chunks_ = 0;
};

}  // namespace

ModelServiceImpl::ModelServiceImpl(registry::Registry* registry,
                                   int training_threads,
                                   const ServiceLimits& limits,
                                   std::vector<Credential> credentials,
                                   Metrics* metrics,
                                   std::string primary_address)
    : registry_(registry),
      limits_(limits),
      auth_(std::move(credentials)),
      metrics_(metrics),
      primary_address_(std::move(primary_address)),
      training_pool_(training_threads, kTrainingNice) {}

ModelServiceImpl::~ModelServiceImpl() = default;

absl::Status ModelServiceImpl::CheckServes(absl::string_view method) const {
  const registry::RepositoryFollower* follower = registry_->follower();
  if (follower == nullptr) return absl::OkStatus();
  // A write is whatever needs more than a reader's role (auth.cc's table).
  if (RequiredRole(method) > Role::kReader) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this server is a read-only replica: send ", method, " to the primary",
        primary_address_.empty() ? ""
                                 : absl::StrCat(" at ", primary_address_)));
  }
  if (!follower->loaded()) {
    return absl::UnavailableError(
        "this replica has not loaded the model repository yet; retry");
  }
  return absl::OkStatus();
}

absl::Status ModelServiceImpl::Admit(const grpc::ServerContextBase& context,
                                     absl::string_view method) const {
  MLP_RETURN_IF_ERROR(auth_.Check(context, method));
  return CheckServes(method);
}

template <typename Body>
grpc::ServerUnaryReactor* ModelServiceImpl::Unary(
    grpc::CallbackServerContext* context, const RequestLog& log,
    Body body) const {
  return RunUnary(context, auth_, log, [&]() -> absl::Status {
    MLP_RETURN_IF_ERROR(CheckServes(log.method()));
    return body();
  });
}

grpc::ServerUnaryReactor* ModelServiceImpl::CreateModel(
    grpc::CallbackServerContext* context, const v1::CreateModelRequest* request,
    v1::ModelInfo* response) {
  return Unary(
      context, RequestLog("CreateModel", request->name(), metrics_),
      [&]() -> absl::Status {
        MLP_RETURN_IF_ERROR(registry::ValidateName(request->name(), "name"));
        MLP_ASSIGN_OR_RETURN(engine::NetworkSpec spec,
                             SpecFromProto(request->spec()));
        MLP_ASSIGN_OR_RETURN(
            registry::ModelSnapshot snapshot,
            registry_->models().CreateModel(request->name(), spec));
        SnapshotToProto(snapshot, response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ModelServiceImpl::GetModel(
    grpc::CallbackServerContext* context, const v1::GetModelRequest* request,
    v1::ModelInfo* response) {
  return Unary(context, RequestLog("GetModel", request->name(), metrics_),
               [&]() -> absl::Status {
                 MLP_ASSIGN_OR_RETURN(
                     registry::ModelSnapshot snapshot,
                     registry_->models().GetModel(request->name()));
                 SnapshotToProto(snapshot, response);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ModelServiceImpl::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  return Unary(context, RequestLog("ListModels", "", metrics_),
               [&]() -> absl::Status {
                 for (const registry::ModelSnapshot& snapshot :
                      registry_->models().ListModels()) {
                   SnapshotToProto(snapshot, response->add_models());
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ModelServiceImpl::DeleteModel(
    grpc::CallbackServerContext* context, const v1::DeleteModelRequest* request,
    v1::DeleteModelResponse* response) {
  return Unary(
      context, RequestLog("DeleteModel", request->name(), metrics_),
      [&] { return registry_->models().DeleteModel(request->name()); });
}

grpc::ServerWriteReactor<v1::TrainProgress>* ModelServiceImpl::Train(
    grpc::CallbackServerContext* context, const v1::TrainRequest* request) {
  return StartTrainStream(registry_, &training_pool_, limits_, metrics_,
                          context, request, Admit(*context, "Train"));
}

grpc::ServerUnaryReactor* ModelServiceImpl::Predict(
    grpc::CallbackServerContext* context, const v1::PredictRequest* request,
    v1::PredictResponse* response) {
  return Unary(context, RequestLog("Predict", request->model(), metrics_),
               [&]() -> absl::Status {
                 MLP_ASSIGN_OR_RETURN(
                     std::shared_ptr<const registry::ModelVersion> version,
                     registry_->models().GetVersion(request->model(),
                                                    request->version()));
                 const engine::Network& network = *version->network;
                 MLP_ASSIGN_OR_RETURN(MatrixView inputs,
                                      InputsView(request->inputs(), "inputs",
                                                 network.input_size()));
                 MLP_RETURN_IF_ERROR(CheckResponseFits(
                     "outputs", inputs.cols() * int64_t{network.output_size()},
                     limits_.max_message_bytes));
                 MLP_RETURN_IF_ERROR(PredictInto(network, inputs,
                                                 response->mutable_outputs(),
                                                 WhileTheCallerWaits(context)));
                 response->set_version(version->version);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ModelServiceImpl::GetWeights(
    grpc::CallbackServerContext* context, const v1::GetWeightsRequest* request,
    v1::GetWeightsResponse* response) {
  return Unary(context, RequestLog("GetWeights", request->model(), metrics_),
               [&]() -> absl::Status {
                 MLP_ASSIGN_OR_RETURN(
                     std::shared_ptr<const registry::ModelVersion> version,
                     registry_->models().GetVersion(request->model(),
                                                    request->version()));
                 MLP_RETURN_IF_ERROR(CheckResponseFits(
                     "weights", version->network->parameter_count(),
                     limits_.max_message_bytes));
                 response->set_version(version->version);
                 LayersToProto(*version->network, response);
                 return absl::OkStatus();
               });
}

grpc::ServerReadReactor<v1::UploadDatasetRequest>*
ModelServiceImpl::UploadDataset(grpc::CallbackServerContext* context,
                                v1::DatasetInfo* response) {
  return new UploadReactor(registry_, context, response,
                           Admit(*context, "UploadDataset"), metrics_);
}

grpc::ServerUnaryReactor* ModelServiceImpl::ListDatasets(
    grpc::CallbackServerContext* context,
    const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return Unary(context, RequestLog("ListDatasets", "", metrics_),
               [&]() -> absl::Status {
                 for (const registry::DatasetInfo& meta :
                      registry_->datasets().ListDatasets()) {
                   DatasetToProto(meta, response->add_datasets());
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* ModelServiceImpl::DeleteDataset(
    grpc::CallbackServerContext* context,
    const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return Unary(
      context, RequestLog("DeleteDataset", request->name(), metrics_),
      [&] { return registry_->datasets().DeleteDataset(request->name()); });
}

}  // namespace mlp::service
