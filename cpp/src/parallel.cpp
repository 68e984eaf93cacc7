#include "fastpot/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <thread>
#include <vector>

namespace fastpot {
namespace {

int default_threads() {
  if (const char* env = std::getenv("FASTPOT_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

std::atomic<int>& thread_budget() {
  static std::atomic<int> budget{default_threads()};
  return budget;
}

thread_local bool serial_thread = false;

}  // namespace

serial_kernels_scope::serial_kernels_scope() : previous_(serial_thread) { serial_thread = true; }
serial_kernels_scope::~serial_kernels_scope() { serial_thread = previous_; }

int num_threads() { return serial_thread ? 1 : thread_budget().load(std::memory_order_relaxed); }

void set_num_threads(int n) { thread_budget().store(n > 0 ? n : default_threads()); }

int plan_threads(std::int64_t units, std::int64_t elements) {
  if (serial_thread || units <= 1 || elements < 2 * kParallelMinElements) return 1;
  const std::int64_t by_size = elements / kParallelMinElements;
  return static_cast<int>(std::min<std::int64_t>({num_threads(), units, by_size}));
}

void run_parallel(int threads, std::int64_t units,
                  const std::function<void(std::int64_t, std::int64_t, int)>& fn) {
  if (threads <= 1 || units <= 1) {
    fn(0, units, 0);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
  auto slice = [&](int t) {
    const std::int64_t begin = units * t / threads;
    const std::int64_t end = units * (t + 1) / threads;
    try {
      fn(begin, end, t);
    } catch (...) {
      errors[static_cast<std::size_t>(t)] = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(threads - 1));
  for (int t = 1; t < threads; ++t) workers.emplace_back(slice, t);
  slice(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace fastpot
