#include "waf/evaluation_pool.hpp"

#include "core/cpus.hpp"

#include <gateway/waf.hpp>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace gateway {

namespace {
std::atomic<unsigned> configured_threads{0};
std::atomic<int> configured_nice{10};
}  // namespace

void configure_waf_pool(const waf_pool_options& options) noexcept {
  configured_threads = options.threads;
  configured_nice = options.nice;
}

namespace waf {

evaluation_pool& evaluation_pool::shared() {
  static evaluation_pool pool(configured_threads.load(), configured_nice.load());
  return pool;
}

evaluation_pool::evaluation_pool(unsigned threads, int nice) {
  if (threads == 0) threads = usable_cpus();
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i)
    threads_.emplace_back([this, nice] { run(nice); });
}

evaluation_pool::~evaluation_pool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_)
    t.join();
}

void evaluation_pool::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

bool evaluation_pool::try_post(std::function<void()> task, std::size_t max_queued) {
  {
    std::lock_guard lock(mutex_);
    if (max_queued && tasks_.size() >= max_queued) return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

std::size_t evaluation_pool::queued() const {
  std::lock_guard lock(mutex_);
  return tasks_.size();
}

void evaluation_pool::run(int nice) {
  // Linux applies a priority to the one thread (its tid), not the process.
  if (nice != 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), nice);
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to do
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // tasks catch their own exceptions
  }
}

}  // namespace waf
}  // namespace gateway
