// Streaming statistic: per-sample reduction of each batch, folded into an aggregator state.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fastpot/array_view.hpp"
#include "fastpot/stats/aggregate.hpp"
#include "fastpot/stats/reduce.hpp"

namespace fastpot {

// Feeds batches ([N, ...], axis 0 = samples) one at a time. Batch semantics follow POT:
// `mean` is the unweighted mean of per-batch means; min/max/median/no_outliers/hl treat all
// samples of all batches as one pool. Memory is O(channels) for mean/min/max; the
// median-type aggregators keep every per-sample value (they need them).
// update() and merge() are thread-safe: the reduction runs outside the lock.
class statistic_accumulator {
 public:
  statistic_accumulator(statistic stat, aggregation how, std::optional<int> channel_axis,
                        double q);
  statistic_accumulator(const statistic_accumulator& other);
  statistic_accumulator& operator=(const statistic_accumulator& other);

  void update(const array_view& batch);

  // update() in two steps, for callers that reduce concurrently but must fold in a fixed
  // order (the asynchronous dispatcher folds batches in sample order, so its state is
  // bit-identical to a synchronous loop): reduce() is const and lock-free, add() folds.
  struct reduced_batch {
    std::vector<double> values;  // [n, c] per-sample values, already rounded to result type
    std::int64_t n = 0;
    std::int64_t c = 0;
    bool float64 = false;
  };
  reduced_batch reduce(const array_view& batch) const;
  // Folds per-sample values computed elsewhere (e.g. by in-graph reductions); `values` must
  // hold n * c numbers that this accumulator's statistic would have produced.
  void add(const reduced_batch& batch);
  // Adds everything `other` has seen; both must have the same statistic, aggregator,
  // channel axis and q, and the same number of channels.
  void merge(const statistic_accumulator& other);

  bool empty() const;
  std::int64_t channels() const;  // -1 before the first batch
  std::int64_t batches() const;
  std::int64_t samples() const;
  dtype result_type() const;
  // Aggregated result, `channels()` values (1 without a channel axis).
  std::vector<double> result() const;

  statistic stat() const { return stat_; }
  aggregation how() const { return how_; }
  std::optional<int> channel_axis() const { return channel_axis_; }
  double q() const { return q_; }

  // Serialisable state (used for pickling): numbers and one flat vector.
  struct state {
    std::int64_t channels = -1;
    std::int64_t batches = 0;
    std::int64_t samples = 0;
    bool float64 = false;
    std::vector<double> values;  // running values, or all per-sample values [samples, C]
  };
  state get_state() const;
  void set_state(const state& s);

 private:
  bool keeps_all_values() const;
  void fold(const std::vector<double>& per_sample, std::int64_t n, std::int64_t c, bool f64);

  statistic stat_;
  aggregation how_;
  std::optional<int> channel_axis_;
  double q_;
  mutable std::mutex mutex_;
  state state_;
};

}  // namespace fastpot
