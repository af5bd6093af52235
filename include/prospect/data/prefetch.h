// A background thread that makes the next items ahead of the consumer (SPEC §2.3: reads and collates
// the next step's micro-batches while the model computes). Generic: the producer is any callable
// item(i) -> std::optional<T> (nullopt ends the stream). At most `depth` items wait in the queue.
// next() blocks until an item is ready and measures how long it waited (the data wait); a producer
// exception is rethrown in the consumer by next(); the destructor stops and joins the thread.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace prospect {

template <typename T>
class Prefetcher {
 public:
  using Producer = std::function<std::optional<T>(int64_t)>;

  Prefetcher(Producer producer, int depth) : producer_(std::move(producer)), depth_(depth < 1 ? 1 : depth) {
    thread_ = std::thread([this] { run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // The next item in order; nullopt at the end. Rethrows the producer's exception.
  std::optional<T> next() {
    auto t0 = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || done_; });
    last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    wait_s_ += last_wait_s_;
    if (queue_.empty()) {
      if (error_) {
        auto e = error_;
        error_ = nullptr;
        std::rethrow_exception(e);
      }
      return std::nullopt;
    }
    T item = std::move(queue_.front());
    queue_.pop_front();
    ++consumed_;
    lock.unlock();
    cv_.notify_all();
    return std::optional<T>(std::move(item));
  }

  double wait_seconds() const {
    std::lock_guard<std::mutex> lock(mu_);
    return wait_s_;
  }
  double last_wait_seconds() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_wait_s_;
  }
  int64_t consumed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return consumed_;
  }

 private:
  void run() {
    for (int64_t i = 0;; ++i) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || static_cast<int>(queue_.size()) < depth_; });
        if (stop_) break;
      }
      std::optional<T> item;
      try {
        item = producer_(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = std::current_exception();
        done_ = true;
        cv_.notify_all();
        return;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (!item) {
        done_ = true;
        cv_.notify_all();
        return;
      }
      queue_.push_back(std::move(*item));
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  Producer producer_;
  int depth_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> queue_;
  std::exception_ptr error_;
  bool stop_ = false, done_ = false;
  double wait_s_ = 0, last_wait_s_ = 0;
  int64_t consumed_ = 0;
  std::thread thread_;
};

}  // namespace prospect
