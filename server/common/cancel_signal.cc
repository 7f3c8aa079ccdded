#include "server/common/cancel_signal.h"

#include <utility>

namespace mlp::common {

CancelSignal::Subscription::~Subscription() {
  absl::MutexLock lock(&signal_->mu_);
  signal_->listeners_.erase(id_);
}

void CancelSignal::Cancel() {
  absl::MutexLock lock(&mu_);
  if (flag_.exchange(true)) return;
  for (auto& [id, listener] : listeners_) listener();
  listeners_.clear();
}

std::unique_ptr<CancelSignal::Subscription> CancelSignal::Subscribe(
    std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  if (flag_.load()) {
    listener();
  } else {
    listeners_.emplace(id, std::move(listener));
  }
  return std::unique_ptr<Subscription>(new Subscription(this, id));
}

}  // namespace mlp::common
