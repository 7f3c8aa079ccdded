// Serving first: trainings must not starve serving. A real mlp-server,
// every thread pinned to one core, runs fifty trainings at once (with
// --max_concurrent_trainings=64, the case); a client that connects
// then must get each of its Predict answers within 1 s. Training threads run
// at low priority (kTrainingNice) for this.
#include <dirent.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "tests/testing/api.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/server_process.h"

namespace mlp {
namespace {

constexpr int kTrainings = 50;

// Pins every thread of process `pid` to `cpu` (threads it starts later
// inherit it from their creator). False if a thread could not be pinned.
bool PinProcess(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return false;
  bool ok = true;
  while (dirent* entry = readdir(tasks)) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &tid)) continue;
    ok = ok && sched_setaffinity(tid, sizeof(set), &set) == 0;
  }
  closedir(tasks);
  return ok;
}

// A model whose epochs keep a core busy: 64 -> 128 -> 128 -> 1.
v1::ModelSpec BusySpec() {
  v1::ModelSpec spec;
  spec.set_input_size(64);
  for (int units : {128, 128}) {
    auto* layer = spec.add_layers();
    layer->set_units(units);
    layer->set_activation(v1::RELU);
  }
  auto* out = spec.add_layers();
  out->set_units(1);
  out->set_activation(v1::LINEAR);
  spec.set_loss(v1::MSE);
  spec.set_seed(3);
  return spec;
}

// Runs until cancelled: no target loss, a huge epoch budget.
v1::TrainRequest EndlessTraining(const std::string& model) {
  v1::TrainRequest request;
  request.set_model(model);
  std::vector<float> inputs(256 * 64), targets(256);
  for (size_t i = 0; i < inputs.size(); ++i) inputs[i] = (i % 7) * 0.1f;
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = (i % 3) * 0.5f;
  *request.mutable_inline_data()->mutable_inputs() =
      testing::MakeTensor({256, 64}, inputs);
  *request.mutable_inline_data()->mutable_targets() =
      testing::MakeTensor({256, 1}, targets);
  auto* options = request.mutable_options();
  options->set_max_epochs(1000000000);
  options->set_batch_size(32);
  options->set_learning_rate(1e-6);
  return request;
}

TEST(ServingFirstTest, FiftyTrainingsOnOneCoreDoNotStarveANewClient) {
#ifdef MLP_ASAN
  // The release and image-engine stages run it; instrumented, every call
  // costs several times its CPU and the 1 s bound would measure the
  // sanitizer (a first call took 1002 ms once).
  GTEST_SKIP() << "a latency bound: not measured under AddressSanitizer";
#endif
  testing::TempDir dir;
  auto server = testing::ServerProcess::Start(
      dir.path(), {absl::StrCat("--max_concurrent_trainings=", 64),
                   "--compute_threads=1", "--log_level=warning"});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE(PinProcess((*server)->pid(), 0));
  auto stub = testing::MakeStub((*server)->address());
  ASSERT_TRUE(
      testing::CreateModel(stub.get(), "probe", testing::SeedSpec(1)).ok());

  // The trainings, each read on its own thread; each has run an epoch
  // before the measurement starts.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<absl::Notification>> first_epoch;
  std::vector<std::thread> readers;
  for (int i = 0; i < kTrainings; ++i) {
    const std::string name = absl::StrCat("busy", i);
    ASSERT_TRUE(testing::CreateModel(stub.get(), name, BusySpec()).ok());
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    first_epoch.push_back(std::make_unique<absl::Notification>());
    readers.emplace_back([&, i, name] {
      auto reader = stub->Train(contexts[i].get(), EndlessTraining(name));
      v1::TrainProgress progress;
      while (reader->Read(&progress)) {
        if (!first_epoch[i]->HasBeenNotified()) first_epoch[i]->Notify();
      }
      reader->Finish();
      if (!first_epoch[i]->HasBeenNotified()) first_epoch[i]->Notify();
    });
  }
  for (auto& n : first_epoch) n->WaitForNotification();

  // A client that connects now: its channel, then 50 Predicts, one at a
  // time, each with a 1 s deadline.
  auto fresh = testing::MakeStub((*server)->address());
  std::vector<double> ms;
  int failed = 0;
  for (int i = 0; i < 50; ++i) {
    v1::PredictRequest request;
    request.set_model("probe");
    *request.mutable_inputs() = testing::MakeTensor({1, 3}, {1, 0, 1});
    v1::PredictResponse response;
    auto context = testing::ContextWithDeadline(1.0);
    const auto start = std::chrono::steady_clock::now();
    const grpc::Status status =
        fresh->Predict(context.get(), request, &response);
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - start)
                     .count());
    if (!status.ok()) ++failed;
  }
  for (auto& context : contexts) context->TryCancel();
  for (auto& reader : readers) reader.join();

  std::sort(ms.begin(), ms.end());
  std::printf(
      "Predict under %d trainings on one core: p50 %.2f ms, p99 %.2f "
      "ms, max %.2f ms\n",
      kTrainings, ms[ms.size() / 2], ms[ms.size() * 99 / 100], ms.back());
  EXPECT_EQ(failed, 0) << "Predicts missed their 1 s deadline";
  EXPECT_LT(ms.back(), 1000.0);
}

}  // namespace
}  // namespace mlp
