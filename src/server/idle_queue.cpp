#include "server/idle_queue.hpp"

#include <atomic>

namespace gateway {

namespace {
thread_local idle_queue* this_thread_queue = nullptr;
std::atomic<std::size_t> queued_total{0};
std::atomic<std::uint64_t> back_to_back_total{0};
using clock = std::chrono::steady_clock;
}  // namespace

idle_queue::idle_queue(asio::io_context& context, std::chrono::microseconds max_wait,
                       std::chrono::microseconds batch, const std::size_t* in_progress)
    : context_(context), max_wait_(max_wait), batch_(batch), in_progress_(in_progress) {}

idle_queue::~idle_queue() {
  queued_total.fetch_sub(tasks_.size(), std::memory_order_relaxed);
}

idle_queue* idle_queue::current() noexcept {
  return this_thread_queue;
}

idle_queue::scope::scope(idle_queue& q) noexcept : outer_(this_thread_queue) {
  this_thread_queue = &q;
}

idle_queue::scope::~scope() {
  this_thread_queue = outer_;
}

std::size_t idle_queue::queued_everywhere() noexcept {
  return queued_total.load(std::memory_order_relaxed);
}

std::uint64_t idle_queue::back_to_back_everywhere() noexcept {
  return back_to_back_total.load(std::memory_order_relaxed);
}

bool idle_queue::try_push(task t, std::size_t max_queued) {
  if (max_queued && tasks_.size() >= max_queued) return false;
  if (tasks_.empty()) due_ = clock::now() + max_wait_;
  tasks_.push_back(std::move(t));
  queued_total.fetch_add(1, std::memory_order_relaxed);
  schedule();
  return true;
}

void idle_queue::schedule() {
  if (scheduled_) return;
  scheduled_ = true;
  asio::post(context_, [this] { drain(); });
}

// One task per call, posted again while tasks remain. A task's own posts (the
// request it resumes) must be settled by this handler's end before another
// nested poll_one: Asio moves an outer handler's private queue to the main
// one for a nested poll but not its count of outstanding work, so running
// them nested would undercount the loop's work until it stopped by itself.
void idle_queue::drain() {
  struct on_exit {
    idle_queue& q;
    ~on_exit() {
      q.scheduled_ = false;  // held until here, so no drain runs nested in this one
      if (!q.tasks_.empty()) q.schedule();
    }
  } done{*this};
  // Anything ready goes first: poll_one runs one ready handler (looking at
  // the sockets without waiting when none is queued), and 0 means idle.
  while (!context_.stopped() && clock::now() < due_ && context_.poll_one() != 0) {
  }
  if (context_.stopped()) {  // the worker is going away, and its requests with it
    queued_total.fetch_sub(tasks_.size(), std::memory_order_relaxed);
    tasks_.clear();
    return;
  }
  // Back to back only while every request in progress holds the queue and
  // no other request ended since the last task ran.
  const bool alone = in_progress_ && holders_ >= *in_progress_ && others_ == others_seen_;
  others_seen_ = others_;
  const auto until = clock::now() + batch_;
  for (bool first = true;; first = false) {
    if (tasks_.empty()) return;
    if (!first) back_to_back_total.fetch_add(1, std::memory_order_relaxed);
    task t = std::move(tasks_.front());
    tasks_.pop_front();
    queued_total.fetch_sub(1, std::memory_order_relaxed);
    t();
    if (!alone || holders_ < *in_progress_ || clock::now() >= until) break;
  }
  due_ = clock::now() + max_wait_;
}

}  // namespace gateway
