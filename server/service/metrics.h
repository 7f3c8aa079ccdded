// Metrics: the server's figures in the Prometheus text format, served at
// GET /metrics on the HTTP port (--http_address). The registry and the text
// format are prometheus-cpp's (Debian's prometheus-cpp-dev); the figures:
//
//   mlp_requests_total{protocol,method,code}        every call, by status code
//   mlp_requests_in_flight{protocol}                calls running now
//   mlp_inference_duration_seconds{protocol,method,model}
//                                                   Predict and ModelInfer that
//                                                   succeeded (histogram)
//   mlp_training_epochs_total, mlp_training_samples_total
//   mlp_training_last_loss{model}, mlp_training_samples_per_second{model}
//   mlp_trainings_running, mlp_models, mlp_model_versions, mlp_datasets,
//   mlp_dataset_bytes                                read from the registry
//                                                   at each scrape
//   mlp_replica_loaded, mlp_replica_unreadable_files,
//   mlp_replica_last_pass_timestamp_seconds,
//   mlp_replica_passes_total{result}                 a replica's following
//                                                   of its repository
//   mlp_build_info{version,revision}                 1
//   process_resident_memory_bytes, process_cpu_seconds_total,
//   process_open_fds, process_start_time_seconds     the standard process
//                                                   figures
//
// Labels stay bounded whatever a caller sends: `method` and `code` come from
// fixed sets, and `model` is only ever a model that exists (a call on an
// unknown name is counted, but under no model label); a deleted model's
// series are removed at the next scrape.
//
// Thread-safety: every method may be called from any thread.
#ifndef MLP_SERVER_SERVICE_METRICS_H_
#define MLP_SERVER_SERVICE_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "server/engine/train_options.h"
#include "server/registry/registry.h"
#include "server/service/request_log.h"

namespace mlp::service {

class Metrics final : public CallObserver {
 public:
  // `registry` (read at each scrape) must outlive this.
  explicit Metrics(const registry::Registry* registry);

  // CallObserver: RequestLog reports every call here.
  void CallStarted(bool http) override;
  void CallLeft(bool http) override;
  void CallEnded(absl::string_view method, absl::string_view subject,
                 absl::StatusCode code, double seconds) override;

  // One epoch of a training of `model` (which exists: it is training).
  void EpochTrained(const std::string& model, const engine::EpochStats& stats);

  // The text exposition format (version 0.0.4) of every figure.
  std::string Scrape();

 private:
  // Series are created on first use and kept; a lookup takes mu_.
  prometheus::Counter& RequestCounter(bool http, absl::string_view method,
                                      absl::StatusCode code);
  void ObserveInference(bool http, absl::string_view method,
                        absl::string_view model, double seconds);
  // Drops the per-model series of every model not in `models`.
  void RemoveGoneModels(const absl::flat_hash_set<std::string>& models);
  void ReadRegistry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);
  void ReadProcess() ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);
  void ReadFollower() ABSL_EXCLUSIVE_LOCKS_REQUIRED(scrape_mu_);

  const registry::Registry* const registry_;
  absl::Mutex scrape_mu_;  // one scrape at a time
  std::shared_ptr<prometheus::Registry> prom_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& inference_seconds_;
  prometheus::Gauge& in_flight_grpc_;
  prometheus::Gauge& in_flight_http_;
  prometheus::Counter& epochs_;
  prometheus::Counter& samples_;
  prometheus::Family<prometheus::Gauge>& last_loss_;
  prometheus::Family<prometheus::Gauge>& samples_per_second_;
  prometheus::Gauge& trainings_running_;
  prometheus::Gauge& models_;
  prometheus::Gauge& versions_;
  prometheus::Gauge& datasets_;
  prometheus::Gauge& dataset_bytes_;
  prometheus::Gauge& resident_bytes_;
  prometheus::Counter& cpu_seconds_;  // advanced to getrusage's at a scrape
  prometheus::Gauge& open_fds_;
  double cpu_seconds_seen_ ABSL_GUARDED_BY(scrape_mu_) = 0;
  // A replica's figures (null on a primary).
  struct ReplicaFigures {
    prometheus::Gauge* loaded;
    prometheus::Gauge* unreadable_files;
    prometheus::Gauge* last_pass;
    prometheus::Counter* passes_ok;
    prometheus::Counter* passes_failed;
    uint64_t passes_seen = 0;
    uint64_t failed_seen = 0;
  };
  std::unique_ptr<ReplicaFigures> replica_ ABSL_GUARDED_BY(scrape_mu_);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, prometheus::Counter*> request_series_
      ABSL_GUARDED_BY(mu_);
  struct InferenceSeries {
    std::string model;
    prometheus::Histogram* histogram = nullptr;
  };
  struct TrainingSeries {
    prometheus::Gauge* last_loss = nullptr;
    prometheus::Gauge* samples_per_second = nullptr;
  };
  // By protocol, method and model; by model.
  absl::flat_hash_map<std::string, InferenceSeries> inference_series_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TrainingSeries> training_series_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_METRICS_H_
