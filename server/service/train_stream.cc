#include "server/service/train_stream.h"

#include <atomic>
#include <deque>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "server/common/escape.h"
#include "server/common/log.h"
#include "server/engine/train_options.h"
#include "server/registry/training_job.h"
#include "server/service/model_convert.h"
#include "server/service/request_log.h"
#include "server/service/status.h"
#include "server/service/tensor_convert.h"
#include "server/service/training_options.h"

namespace mlp::service {
namespace {

void StatsToProto(const engine::EpochStats& stats, v1::TrainProgress* p) {
  p->set_epoch(static_cast<uint32_t>(stats.epoch));
  p->set_loss(stats.loss);
  p->set_accuracy(stats.accuracy);
  p->set_validation_loss(stats.validation_loss);
  p->set_validation_accuracy(stats.validation_accuracy);
  p->set_samples_per_second(stats.samples_per_second);
  p->set_elapsed_seconds(stats.elapsed_seconds);
  p->set_epochs_run(static_cast<uint32_t>(stats.epochs_run));
}

// Streams one training.
//
// Threads: Start and the gRPC reactions (OnWriteDone, OnCancel) run on gRPC's
// threads; Run runs on the training pool. Every gRPC call on the stream
// (StartWrite, Finish) is decided under mu_ by NextLocked and made outside
// it by Act, in the same function, so two threads never both act.
//
// Lifetime: gRPC deletes the reactor in OnDone, after Finish. Finish needs
// the final status, which only the training side sets (Complete, its last
// touch of the reactor), and no write in flight; a thread that decided to
// StartWrite therefore still owns the reactor while it makes that call.
class TrainReactor final : public grpc::ServerWriteReactor<v1::TrainProgress> {
 public:
  TrainReactor(registry::Registry* registry, ThreadPool* pool,
               const ServiceLimits& limits, Metrics* metrics,
               grpc::CallbackServerContext* context,
               const v1::TrainRequest* request)
      : registry_(registry),
        pool_(pool),
        limits_(limits),
        metrics_(metrics),
        context_(context),
        request_(request),
        log_("Train", request->model(), metrics) {}

  // Validates and schedules the training, or finishes with the error
  // (`auth`, the caller's authorization, first).
  void Start(const absl::Status& auth) {
    absl::Status status = auth.ok() ? Prepare() : auth;
    if (!status.ok()) {
      job_.reset();
      Complete(status, std::nullopt);
      return;
    }
    pool_->Schedule([this] { Run(); });
  }

  void OnWriteDone(bool ok) override {
    Action action;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      last_taken_ = absl::Now();
      if (!ok) {
        // The caller is gone: stop training, send nothing more.
        caller_cancelled_.store(true);
        queue_.clear();
      }
      action = NextLocked(&status);
    }
    Act(action, std::move(status));
  }

  void OnCancel() override {
    // Under mu_, so that a Send waiting for room re-checks and wakes.
    absl::MutexLock lock(&mu_);
    caller_cancelled_.store(true);
  }
  void OnDone() override { delete this; }

 private:
  enum class Action { kNone, kWrite, kFinish };
  // Progress messages waiting for a slow reader before the training blocks.
  static constexpr size_t kMaxQueued = 256;

  // Validates the request and begins the training job (which takes the
  // model's lease).
  absl::Status Prepare() {
    MLP_ASSIGN_OR_RETURN(std::shared_ptr<const registry::ModelVersion> latest,
                         registry_->models().GetVersion(request_->model(), 0));
    const engine::NetworkSpec& spec = latest->network->spec();
    registry::TrainingSpec training;
    training.model = request_->model();
    MLP_ASSIGN_OR_RETURN(training.options,
                         OptionsFromProto(request_->options()));
    training.reinitialize = request_->options().reinitialize();
    training.max_batch_values = limits_.max_batch_values;
    switch (request_->data_case()) {
      case v1::TrainRequest::kInlineData: {
        const v1::TrainingData& data = request_->inline_data();
        MLP_ASSIGN_OR_RETURN(
            MatrixView inputs,
            InputsView(data.inputs(), "inline_data.inputs", spec.input_size));
        MLP_ASSIGN_OR_RETURN(
            MatrixView targets,
            TargetsView(data.targets(), "inline_data.targets", inputs.cols(),
                        spec.layers.back().units, spec.loss));
        training.inputs.emplace(inputs);
        training.targets.emplace(targets);
        break;
      }
      case v1::TrainRequest::kDataset:
        training.dataset = request_->dataset();  // loaded by the job's Run
        break;
      default:
        return absl::InvalidArgumentError(
            "data is not set: expected inline_data or dataset");
    }
    MLP_ASSIGN_OR_RETURN(
        job_, registry::TrainingJob::Begin(registry_, std::move(training)));
    return absl::OkStatus();
  }

  // Runs on the training pool: the job, then the `done` message (or the
  // call's error). The job releases the model before it returns, so the
  // model is READY when the caller reads `done`.
  void Run() {
    // A deletion or shutdown wakes a Send waiting for room: the listener
    // takes mu_, and releasing it makes the waiter re-check its condition.
    std::unique_ptr<common::CancelSignal::Subscription> wake =
        job_->cancel_signal()->Subscribe(
            [this] { absl::MutexLock lock(&mu_); });
    absl::StatusOr<registry::TrainingOutcome> outcome = job_->Run(
        [this](const engine::EpochStats& stats) {
          if (metrics_ != nullptr) {
            metrics_->EpochTrained(request_->model(), stats);
          }
          v1::TrainProgress progress;
          StatsToProto(stats, &progress);
          Send(std::move(progress));
        },
        &caller_cancelled_);
    wake.reset();  // before Complete: the reactor may be gone after it
    if (!outcome.ok()) {
      Complete(outcome.status(), std::nullopt);
      return;
    }
    if (metrics_ != nullptr && !outcome->cancelled) {
      metrics_->EpochTrained(request_->model(), outcome->final_stats);
    }
    v1::TrainProgress done;
    StatsToProto(outcome->final_stats, &done);
    done.set_done(true);
    if (outcome->cancelled) {
      done.set_stop_reason(v1::CANCELLED);  // deleted, or the server stops
    } else {
      done.set_stop_reason(StopReasonToProto(outcome->stop_reason));
      done.set_version(outcome->version);
    }
    Complete(absl::OkStatus(), std::move(done));
  }

  // Queues a progress message. Blocks the training while kMaxQueued
  // messages wait for a slow reader, so a fast training on a small data set
  // cannot fill memory; a cancellation (caller, deletion, shutdown) unblocks,
  // and a reader that takes no message for limits_.stalled_stream gets the
  // call cancelled, so it cannot hold a training slot forever.
  void Send(v1::TrainProgress progress) {
    Action action = Action::kNone;
    grpc::Status status;
    bool stalled = false;
    {
      absl::MutexLock lock(&mu_);
      const common::CancelSignal* model_cancel = job_->cancel_signal().get();
      auto has_room = [this,
                       model_cancel]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return queue_.size() < kMaxQueued || caller_cancelled_.load() ||
               model_cancel->cancelled();
      };
      // Woken by OnWriteDone (room), OnCancel (the caller) and the model's
      // cancel signal (Run's subscription), each of which takes mu_. The
      // deadline is the reader's: no message taken for stalled_stream.
      while (!mu_.AwaitWithDeadline(absl::Condition(&has_room),
                                    last_taken_ + limits_.stalled_stream)) {
        if (absl::Now() - last_taken_ >= limits_.stalled_stream) {
          stalled = true;
          caller_cancelled_.store(true);
          break;
        }
      }
      if (caller_cancelled_.load() && !stalled) return;
      if (!stalled) {
        queue_.push_back(std::move(progress));
        action = NextLocked(&status);
      }
    }
    if (stalled) {
      // Like the caller's own cancel: the training stops and commits
      // nothing; the write in flight ends (not ok) and the call finishes.
      // Outside mu_: TryCancel may run OnCancel on this thread.
      MLP_LOG(WARNING) << "Train " << common::Quote(request_->model())
                       << ": the reader took no message for "
                       << absl::FormatDuration(limits_.stalled_stream)
                       << "; cancelling the call (--stalled_stream_seconds)";
      context_->TryCancel();
      return;
    }
    Act(action, std::move(status));
  }

  // Hands over the final status and, on success, the `done` message (queued
  // without waiting for room: the training no longer holds a pool thread
  // hostage to a slow reader). The training side's last touch of `this`.
  void Complete(const absl::Status& final_status,
                std::optional<v1::TrainProgress> done) {
    Action action;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      final_status_ = final_status;
      if (!final_status.ok()) queue_.clear();
      if (done.has_value() && !caller_cancelled_.load()) {
        queue_.push_back(*std::move(done));
      }
      action = NextLocked(&status);
    }
    Act(action, std::move(status));
  }

  // The next gRPC call on the stream: a write of the next queued message, or
  // Finish once everything is written and the final status is known.
  Action NextLocked(grpc::Status* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return Action::kNone;
    if (!queue_.empty()) {
      current_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      return Action::kWrite;
    }
    if (!final_status_.has_value()) return Action::kNone;
    finished_ = true;
    log_.Done(*final_status_);
    *status = ToGrpcStatus(*final_status_);
    return Action::kFinish;
  }

  // Makes the call NextLocked decided, outside mu_: gRPC may run reactions
  // inline. After kFinish the reactor may be deleted at any moment.
  void Act(Action action, grpc::Status status) {
    if (action == Action::kWrite) StartWrite(&current_);
    if (action == Action::kFinish) Finish(std::move(status));
  }

  // Constant after construction.
  registry::Registry* const registry_;
  ThreadPool* const pool_;
  const ServiceLimits limits_;
  Metrics* const metrics_;  // may be null
  grpc::CallbackServerContext* const context_;
  const v1::TrainRequest* const request_;
  const RequestLog log_;

  // Set by Prepare, then used by Run only; the job's cancel flag outlives
  // the model's lease, which the job drops before the last message.
  std::unique_ptr<registry::TrainingJob> job_;

  std::atomic<bool> caller_cancelled_{false};

  absl::Mutex mu_;
  std::deque<v1::TrainProgress> queue_ ABSL_GUARDED_BY(mu_);
  v1::TrainProgress current_;  // owned by the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // When the reader last took a message (or the call started).
  absl::Time last_taken_ ABSL_GUARDED_BY(mu_) = absl::Now();
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> final_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<v1::TrainProgress>* StartTrainStream(
    registry::Registry* registry, ThreadPool* pool, const ServiceLimits& limits,
    Metrics* metrics, grpc::CallbackServerContext* context,
    const v1::TrainRequest* request, const absl::Status& auth) {
  auto* reactor =
      new TrainReactor(registry, pool, limits, metrics, context, request);
  reactor->Start(auth);
  return reactor;
}

}  // namespace mlp::service
