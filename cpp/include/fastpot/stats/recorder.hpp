// Per-batch recording of per-sample values, for statistics derived after the pass.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "fastpot/array_view.hpp"
#include "fastpot/stats/reduce.hpp"

namespace fastpot {

// Keeps what every batch reduces to, batch by batch and in the order fed (an accumulator
// folds batches into an aggregate instead): the per-sample values of a statistic
// (reduce_per_sample), or each group's extremes (extremes_per_sample, with
// k = extremes_count(group size, bound); when 2 k >= group size the whole group is kept,
// sorted). A 0-d batch is one sample. update() and add() are thread-safe; reduce() is const
// and lock-free (the dispatcher reduces in its callbacks and adds in batch order).
class sample_recorder {
 public:
  static sample_recorder values(statistic stat, std::optional<int> channel_axis, double q);
  static sample_recorder extremes(std::optional<int> channel_axis, double bound);

  sample_recorder(const sample_recorder& other);
  sample_recorder& operator=(const sample_recorder&) = delete;

  // One batch reduced: [n, channels, width] values of `type` in `low` (statistics, extremes'
  // smallest values) and `high` (extremes' largest values; empty for statistics and when the
  // whole group is kept: then `low` is empty and `high` holds the sorted group).
  struct batch {
    std::int64_t n = 0;
    std::int64_t channels = 1;
    std::int64_t size = 0;   // values per (sample, channel) group
    std::int64_t width = 1;  // values kept per group and side
    dtype type = dtype::float32;
    std::vector<unsigned char> low, high;
  };
  batch reduce(const array_view& x) const;
  // Appends a reduced batch. A batch with another channel count (or, for extremes, another
  // group size) than the first makes the recording inconsistent: the values are dropped,
  // the batch lengths are still kept.
  void add(batch b);
  void update(const array_view& x) { add(reduce(x)); }

  bool is_extremes() const { return extremes_; }
  statistic stat() const { return stat_; }
  std::optional<int> channel_axis() const { return channel_axis_; }
  double q() const { return q_; }
  double bound() const { return bound_; }

  bool consistent() const;
  std::vector<std::int64_t> lengths() const;  // samples of every batch, in order
  std::int64_t samples() const;
  std::int64_t channels() const;  // -1 before the first batch
  std::int64_t size() const;      // group size of the first batch, -1 before it
  std::int64_t width() const;     // values kept per group and side, -1 before the first batch
  std::int64_t k() const;         // extremes_count(size, bound); -1 before the first batch
  dtype type() const;
  // Everything recorded, concatenated: [samples, channels, width] values of type().
  std::vector<unsigned char> low() const;
  std::vector<unsigned char> high() const;

 private:
  sample_recorder(bool extremes, statistic stat, std::optional<int> channel_axis, double q,
                  double bound);

  bool extremes_;
  statistic stat_;
  std::optional<int> channel_axis_;
  double q_;
  double bound_;
  mutable std::mutex mutex_;
  bool consistent_ = true;
  std::int64_t channels_ = -1, size_ = -1, width_ = -1;
  dtype type_ = dtype::float32;
  std::vector<std::int64_t> lengths_;
  std::vector<unsigned char> low_, high_;
};

}  // namespace fastpot
