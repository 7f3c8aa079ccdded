#include "server/service/metrics.h"

#include <dirent.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "mlp_version.h"

namespace mlp::service {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr absl::string_view kHttpPrefix = "HTTP ";

// From 50 us (a small Predict on loopback) to 10 s.
const prometheus::Histogram::BucketBoundaries& InferenceBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10};
  return *buckets;
}

// The canonical name of a status code, as gRPC spells it ("NOT_FOUND").
const char* CodeName(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return "OK";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kUnknown:
      return "UNKNOWN";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kNotFound:
      return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists:
      return "ALREADY_EXISTS";
    case absl::StatusCode::kPermissionDenied:
      return "PERMISSION_DENIED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kFailedPrecondition:
      return "FAILED_PRECONDITION";
    case absl::StatusCode::kAborted:
      return "ABORTED";
    case absl::StatusCode::kOutOfRange:
      return "OUT_OF_RANGE";
    case absl::StatusCode::kUnimplemented:
      return "UNIMPLEMENTED";
    case absl::StatusCode::kInternal:
      return "INTERNAL";
    case absl::StatusCode::kUnavailable:
      return "UNAVAILABLE";
    case absl::StatusCode::kDataLoss:
      return "DATA_LOSS";
    case absl::StatusCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    default:
      return "UNKNOWN";
  }
}

// RequestLog's method names carry the protocol: "HTTP ModelInfer".
bool SplitMethod(absl::string_view* method) {
  if (absl::ConsumePrefix(method, kHttpPrefix)) return true;
  return false;
}

bool IsInference(absl::string_view method) {
  return method == "Predict" || method == "ModelInfer";
}

// Resident set size in bytes, from /proc/self/statm (pages).
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return static_cast<double>(resident) *
         static_cast<double>(sysconf(_SC_PAGESIZE));
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n - 3;  // ".", ".." and the directory's own descriptor
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

prometheus::Family<prometheus::Counter>& Counters(prometheus::Registry& r,
                                                  const char* name,
                                                  const char* help) {
  return BuildCounter().Name(name).Help(help).Register(r);
}

prometheus::Family<prometheus::Gauge>& Gauges(prometheus::Registry& r,
                                              const char* name,
                                              const char* help) {
  return BuildGauge().Name(name).Help(help).Register(r);
}

}  // namespace

Metrics::Metrics(const registry::Registry* registry)
    : registry_(registry),
      prom_(std::make_shared<prometheus::Registry>()),
      requests_(Counters(*prom_, "mlp_requests_total",
                         "Calls that ended, by protocol, method and status "
                         "code (gRPC's names; HTTP calls too)")),
      inference_seconds_(
          BuildHistogram()
              .Name("mlp_inference_duration_seconds")
              .Help("Time to answer a Predict or ModelInfer that succeeded, "
                    "from the request to the response, by model")
              .Register(*prom_)),
      in_flight_grpc_(
          Gauges(*prom_, "mlp_requests_in_flight", "Calls running now")
              .Add({{"protocol", "grpc"}})),
      // The same family (the registry merges families of one name).
      in_flight_http_(
          Gauges(*prom_, "mlp_requests_in_flight", "Calls running now")
              .Add({{"protocol", "http"}})),
      epochs_(Counters(*prom_, "mlp_training_epochs_total",
                       "Training epochs completed")
                  .Add({})),
      samples_(Counters(*prom_, "mlp_training_samples_total",
                        "Training samples processed (one per row per epoch)")
                   .Add({})),
      last_loss_(Gauges(*prom_, "mlp_training_last_loss",
                        "Training loss of the model's last epoch")),
      samples_per_second_(Gauges(*prom_, "mlp_training_samples_per_second",
                                 "Training speed of the model's last epoch")),
      trainings_running_(
          Gauges(*prom_, "mlp_trainings_running", "Trainings running now")
              .Add({})),
      models_(Gauges(*prom_, "mlp_models", "Models loaded").Add({})),
      versions_(Gauges(*prom_, "mlp_model_versions",
                       "Committed versions kept, over all models")
                    .Add({})),
      datasets_(Gauges(*prom_, "mlp_datasets", "Datasets stored").Add({})),
      dataset_bytes_(Gauges(*prom_, "mlp_dataset_bytes",
                            "Bytes of the stored datasets, on disk")
                         .Add({})),
      resident_bytes_(Gauges(*prom_, "process_resident_memory_bytes",
                             "Resident memory size in bytes")
                          .Add({})),
      cpu_seconds_(Counters(*prom_, "process_cpu_seconds_total",
                            "User and system CPU time spent, in seconds")
                       .Add({})),
      open_fds_(
          Gauges(*prom_, "process_open_fds", "Open file descriptors").Add({})) {
  Gauges(*prom_, "mlp_build_info",
         "The version and git revision this server was built from")
      .Add({{"version", MLP_VERSION}, {"revision", MLP_GIT_REVISION}})
      .Set(1);
  Gauges(*prom_, "process_start_time_seconds",
         "Start time of the process since the Unix epoch, in seconds")
      .Add({})
      .SetToCurrentTime();
  if (registry_->follower() != nullptr) {
    auto& passes = Counters(*prom_, "mlp_replica_passes_total",
                            "Passes over the repository by this replica, by "
                            "result (failed: it could not be listed)");
    absl::MutexLock lock(&scrape_mu_);
    replica_ = std::make_unique<ReplicaFigures>(ReplicaFigures{
        &Gauges(*prom_, "mlp_replica_loaded",
                "1 once this replica has loaded its repository")
             .Add({}),
        &Gauges(*prom_, "mlp_replica_unreadable_files",
                "Files of the repository the last pass could not read "
                "(skipped, read again at every pass; the log names them)")
             .Add({}),
        &Gauges(*prom_, "mlp_replica_last_pass_timestamp_seconds",
                "End of the last complete pass over the repository, since "
                "the Unix epoch")
             .Add({}),
        &passes.Add({{"result", "ok"}}), &passes.Add({{"result", "failed"}})});
  }
}

void Metrics::CallStarted(bool http) {
  (http ? in_flight_http_ : in_flight_grpc_).Increment();
}

void Metrics::CallLeft(bool http) {
  (http ? in_flight_http_ : in_flight_grpc_).Decrement();
}

void Metrics::CallEnded(absl::string_view method, absl::string_view subject,
                        absl::StatusCode code, double seconds) {
  const bool http = SplitMethod(&method);
  RequestCounter(http, method, code).Increment();
  // Only a call that succeeded names a model that exists: the label stays
  // bounded by the models, whatever names callers send.
  if (code == absl::StatusCode::kOk && IsInference(method)) {
    ObserveInference(http, method, subject, seconds);
  }
}

void Metrics::EpochTrained(const std::string& model,
                           const engine::EpochStats& stats) {
  epochs_.Increment();
  samples_.Increment(static_cast<double>(stats.samples));
  // Under mu_: a scrape may remove a deleted model's series (ReadRegistry).
  absl::MutexLock lock(&mu_);
  TrainingSeries& series = training_series_[model];
  if (series.last_loss == nullptr) {
    series.last_loss = &last_loss_.Add({{"model", model}});
    series.samples_per_second = &samples_per_second_.Add({{"model", model}});
  }
  series.last_loss->Set(stats.loss);
  series.samples_per_second->Set(stats.samples_per_second);
}

prometheus::Counter& Metrics::RequestCounter(bool http,
                                             absl::string_view method,
                                             absl::StatusCode code) {
  const std::string key = absl::StrCat(http, method, "/", code);
  absl::MutexLock lock(&mu_);
  prometheus::Counter*& series = request_series_[key];
  if (series == nullptr) {
    series = &requests_.Add({{"protocol", http ? "http" : "grpc"},
                             {"method", std::string(method)},
                             {"code", CodeName(code)}});
  }
  return *series;
}

void Metrics::ObserveInference(bool http, absl::string_view method,
                               absl::string_view model, double seconds) {
  const std::string key = absl::StrCat(http, method, "/", model);
  // Observed under mu_: a scrape may remove the series of a model that was
  // deleted meanwhile (ReadRegistry).
  absl::MutexLock lock(&mu_);
  InferenceSeries& series = inference_series_[key];
  if (series.histogram == nullptr) {
    series.model = std::string(model);
    series.histogram =
        &inference_seconds_.Add({{"protocol", http ? "http" : "grpc"},
                                 {"method", std::string(method)},
                                 {"model", series.model}},
                                InferenceBuckets());
  }
  series.histogram->Observe(seconds);
}

void Metrics::RemoveGoneModels(const absl::flat_hash_set<std::string>& models) {
  absl::MutexLock lock(&mu_);
  for (auto it = inference_series_.begin(); it != inference_series_.end();) {
    if (models.contains(it->second.model)) {
      ++it;
      continue;
    }
    inference_seconds_.Remove(it->second.histogram);
    inference_series_.erase(it++);
  }
  for (auto it = training_series_.begin(); it != training_series_.end();) {
    if (models.contains(it->first)) {
      ++it;
      continue;
    }
    last_loss_.Remove(it->second.last_loss);
    samples_per_second_.Remove(it->second.samples_per_second);
    training_series_.erase(it++);
  }
}

void Metrics::ReadRegistry() {
  int running = 0;
  size_t versions = 0;
  const std::vector<registry::ModelSnapshot> models =
      registry_->models().ListModels();
  absl::flat_hash_set<std::string> names;
  for (const registry::ModelSnapshot& m : models) {
    running += m.training ? 1 : 0;
    versions += m.available_versions.size();
    names.insert(m.name);
  }
  // A deleted model's series go, so that the figures stay bounded by the
  // models that exist however many come and go.
  RemoveGoneModels(names);
  trainings_running_.Set(running);
  models_.Set(static_cast<double>(models.size()));
  versions_.Set(static_cast<double>(versions));
  const std::vector<registry::DatasetInfo> datasets =
      registry_->datasets().ListDatasets();
  double bytes = 0;
  for (const registry::DatasetInfo& d : datasets) {
    bytes += static_cast<double>(d.size_bytes);
  }
  datasets_.Set(static_cast<double>(datasets.size()));
  dataset_bytes_.Set(bytes);
}

void Metrics::ReadFollower() {
  if (replica_ == nullptr) return;
  const registry::FollowerStats stats = registry_->follower()->stats();
  replica_->loaded->Set(stats.loaded ? 1 : 0);
  replica_->unreadable_files->Set(stats.unreadable_files);
  if (stats.loaded) {
    replica_->last_pass->Set(
        absl::ToDoubleSeconds(stats.last_pass - absl::UnixEpoch()));
  }
  replica_->passes_ok->Increment(
      static_cast<double>(stats.passes - replica_->passes_seen));
  replica_->passes_failed->Increment(
      static_cast<double>(stats.failed_passes - replica_->failed_seen));
  replica_->passes_seen = stats.passes;
  replica_->failed_seen = stats.failed_passes;
}

void Metrics::ReadProcess() {
  resident_bytes_.Set(ResidentBytes());
  open_fds_.Set(OpenFds());
  const double cpu = CpuSeconds();
  if (cpu > cpu_seconds_seen_) {
    cpu_seconds_.Increment(cpu - cpu_seconds_seen_);
    cpu_seconds_seen_ = cpu;
  }
}

std::string Metrics::Scrape() {
  absl::MutexLock lock(&scrape_mu_);
  ReadRegistry();
  ReadProcess();
  ReadFollower();
  return prometheus::TextSerializer().Serialize(prom_->Collect());
}

}  // namespace mlp::service
