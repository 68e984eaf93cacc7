// Asynchronous inference dispatcher: N OpenVINO infer requests in flight, statistics reduced
// into fastpot accumulators inside the completion callbacks (no Python, no GIL there).
#pragma once

#include <openvino/runtime/compiled_model.hpp>
#include <openvino/runtime/core.hpp>
#include <openvino/runtime/infer_request.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fastpot/stats/accumulator.hpp"
#include "fastpot/stats/recorder.hpp"

namespace fastpot::dispatch {

// What one accumulator (or recorder) is fed from, per batch.
struct feed {
  enum class kind {
    tensor,   // target.reduce(output a): an exported activation or an in-graph reduction
    abs_max,  // target.reduce(max(-output a, output b)): in-graph min (a) and max (b)
  };
  kind what = kind::tensor;
  std::size_t a = 0;
  std::size_t b = 0;
  // Exactly one of the two is set; not owned, outlives the run.
  statistic_accumulator* accumulator = nullptr;
  sample_recorder* recorder = nullptr;
};

// A model output copied out of a request for the caller (metric inputs).
struct kept_output {
  ov::element::Type type;
  ov::Shape shape;
  std::vector<unsigned char> bytes;
};

// One input array handed over by the caller (C-contiguous, the input's element type).
struct input_array {
  const void* data = nullptr;
  std::size_t bytes = 0;
  ov::Shape shape;
};

class dispatcher {
 public:
  // Reads the IR, compiles it; `requests` == 0 takes the device's optimal number.
  dispatcher(const std::string& xml, const std::string& bin, const std::string& device,
             const ov::AnyMap& properties, int requests);
  ~dispatcher();
  dispatcher(const dispatcher&) = delete;
  dispatcher& operator=(const dispatcher&) = delete;

  int requests() const { return static_cast<int>(slots_.size()); }
  const ov::CompiledModel& compiled() const { return compiled_; }

  // Starts a new run (no request may be in flight): accumulators to feed, outputs to keep.
  void begin(std::vector<feed> feeds, std::vector<std::size_t> keep);

  // Waits (up to `timeout`) for an idle request; false on timeout. Throws the first error of
  // a completed batch, if any. The caller polls this so that it can check for signals.
  bool wait_idle(std::chrono::milliseconds timeout);
  // Copies the arrays into the idle request's input tensors and starts it: batch number.
  // Call only after wait_idle() returned true.
  std::int64_t start(const std::vector<input_array>& inputs);

  // Waits (up to `timeout`) until no request is in flight; false on timeout.
  bool wait_all(std::chrono::milliseconds timeout);
  // After wait_all(): rethrows the first error; checks that every batch was folded.
  void check_finished();
  // Waits for every request, ignoring errors (cleanup after an exception or Ctrl-C).
  void drain() noexcept;

  // Kept outputs of the next batches, in batch order, as far as they are complete.
  std::vector<std::vector<kept_output>> take_outputs();

  std::int64_t submitted() const { return submitted_; }
  // Outputs reduced by an in-plugin SampleQuantile (marked Results of the IR).
  int plugin_quantiles() const { return plugin_quantiles_; }
  // Requests started and not reclaimed yet (running, or finished but not waited for).
  int in_flight() const;
  double callback_seconds() const { return static_cast<double>(callback_ns_.load()) * 1e-9; }
  std::string first_error() const;

 private:
  struct slot {
    ov::InferRequest request;
    std::int64_t batch = -1;
    bool busy = false;  // started and not reclaimed yet
    bool done = false;  // its callback has finished
  };
  struct batch_result {
    std::vector<statistic_accumulator::reduced_batch> reduced;  // accumulator feeds, in order
    std::vector<sample_recorder::batch> recorded;               // recorder feeds, in order
    std::vector<kept_output> kept;
  };

  void on_complete(slot& s, std::exception_ptr error) noexcept;
  void reclaim(slot& s);  // with mutex_ held, after done
  void record_error(const std::string& message);
  void fold_ready();  // with fold_mutex_ held

  ov::Core core_;
  ov::CompiledModel compiled_;
  std::vector<std::unique_ptr<slot>> slots_;
  std::vector<feed> feeds_;
  std::vector<std::size_t> keep_;

  mutable std::mutex mutex_;  // slots' states, errors
  std::condition_variable cv_;
  std::string error_;
  bool failed_ = false;
  slot* idle_ = nullptr;  // the slot wait_idle() found

  std::mutex fold_mutex_;  // pending results, folding order, kept outputs
  std::map<std::int64_t, batch_result> pending_;
  std::map<std::int64_t, std::vector<kept_output>> outputs_;
  std::int64_t next_fold_ = 0;
  std::int64_t next_take_ = 0;
  std::int64_t submitted_ = 0;
  std::atomic<std::int64_t> callback_ns_{0};
  int plugin_quantiles_ = 0;
};

}  // namespace fastpot::dispatch
