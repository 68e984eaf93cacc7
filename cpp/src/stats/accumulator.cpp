#include "fastpot/stats/accumulator.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "fastpot/errors.hpp"

namespace fastpot {

statistic_accumulator::statistic_accumulator(statistic stat, aggregation how,
                                             std::optional<int> channel_axis, double q)
    : stat_(stat), how_(how), channel_axis_(channel_axis), q_(q) {
  const bool needs_q = stat == statistic::quantile || stat == statistic::abs_quantile;
  if (needs_q && !(q >= 0.0 && q <= 1.0))
    throw invalid_argument("q: " + std::to_string(q) + " is outside [0, 1]");
  if (channel_axis && *channel_axis == 0)
    throw invalid_argument("channel_axis: axis 0 holds the samples and cannot be the channel axis");
}

statistic_accumulator::statistic_accumulator(const statistic_accumulator& other)
    : stat_(other.stat_), how_(other.how_), channel_axis_(other.channel_axis_), q_(other.q_) {
  std::lock_guard<std::mutex> lock(other.mutex_);
  state_ = other.state_;
}

statistic_accumulator& statistic_accumulator::operator=(const statistic_accumulator& other) {
  if (this == &other) return *this;
  std::scoped_lock lock(mutex_, other.mutex_);
  stat_ = other.stat_;
  how_ = other.how_;
  channel_axis_ = other.channel_axis_;
  q_ = other.q_;
  state_ = other.state_;
  return *this;
}

bool statistic_accumulator::keeps_all_values() const {
  return how_ == aggregation::median || how_ == aggregation::mean_no_outliers ||
         how_ == aggregation::median_no_outliers || how_ == aggregation::hl_estimator;
}

statistic_accumulator::reduced_batch statistic_accumulator::reduce(const array_view& batch) const {
  const std::int64_t groups = reduce_output_size(batch, channel_axis_);
  const dtype rt = result_dtype(batch.type);
  reduced_batch r;
  r.n = batch.shape[0];
  r.c = r.n > 0 ? groups / r.n : 0;
  r.float64 = rt == dtype::float64;
  r.values.resize(static_cast<std::size_t>(groups));
  if (rt == dtype::float64) {
    reduce_per_sample(batch, stat_, channel_axis_, q_, {r.values.data(), rt, groups});
  } else {
    // Round per-sample values to float32 first, exactly as the standalone kernel returns them.
    std::vector<float> tmp(static_cast<std::size_t>(groups));
    reduce_per_sample(batch, stat_, channel_axis_, q_, {tmp.data(), rt, groups});
    for (std::int64_t i = 0; i < groups; ++i) r.values[i] = tmp[i];
  }
  return r;
}

void statistic_accumulator::add(const reduced_batch& batch) {
  if (batch.n <= 0 || batch.c <= 0 ||
      static_cast<std::int64_t>(batch.values.size()) != batch.n * batch.c)
    throw invalid_argument("batch: inconsistent reduced batch (" +
                           std::to_string(batch.values.size()) + " values for " +
                           std::to_string(batch.n) + " x " + std::to_string(batch.c) + ")");
  fold(batch.values, batch.n, batch.c, batch.float64);
}

void statistic_accumulator::update(const array_view& batch) {
  // Reduce outside the lock: several inference threads may feed one accumulator.
  const reduced_batch r = reduce(batch);
  fold(r.values, r.n, r.c, r.float64);
}

void statistic_accumulator::fold(const std::vector<double>& v, std::int64_t n, std::int64_t c,
                                 bool f64) {
  std::lock_guard<std::mutex> lock(mutex_);
  state& s = state_;
  if (s.channels >= 0 && s.channels != c)
    throw invalid_argument("batch: " + std::to_string(c) + " channels, but earlier batches had " +
                           std::to_string(s.channels));
  const bool first = s.channels < 0;
  s.channels = c;
  s.float64 = s.float64 || f64;
  if (keeps_all_values()) {
    s.values.insert(s.values.end(), v.begin(), v.end());
  } else if (how_ == aggregation::mean) {
    // POT's mean: average the samples of the batch, then average the batch means.
    if (first) s.values.assign(c, 0.0);
    for (std::int64_t k = 0; k < c; ++k) {
      double sum = 0.0;
      for (std::int64_t i = 0; i < n; ++i) sum += v[i * c + k];
      s.values[k] += sum / static_cast<double>(n);
    }
  } else {
    const bool is_max = how_ == aggregation::max;
    if (first)
      s.values.assign(c, is_max ? -std::numeric_limits<double>::infinity()
                                : std::numeric_limits<double>::infinity());
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k < c; ++k) {
        const double x = v[i * c + k];
        double& cur = s.values[k];
        if (std::isnan(cur)) continue;
        if (std::isnan(x)) cur = x;
        else if (is_max ? x > cur : x < cur) cur = x;
      }
  }
  s.batches += 1;
  s.samples += n;
}

void statistic_accumulator::merge(const statistic_accumulator& other) {
  if (this == &other) throw invalid_argument("other: cannot merge an accumulator into itself");
  if (stat_ != other.stat_ || how_ != other.how_ || channel_axis_ != other.channel_axis_ ||
      q_ != other.q_)
    throw invalid_argument("other: accumulators differ in statistic, aggregator, channel axis or q");
  const state o = other.get_state();
  if (o.channels < 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  state& s = state_;
  if (s.channels < 0) {
    s = o;
    return;
  }
  if (s.channels != o.channels)
    throw invalid_argument("other: " + std::to_string(o.channels) + " channels, but this has " +
                           std::to_string(s.channels));
  if (keeps_all_values()) {
    s.values.insert(s.values.end(), o.values.begin(), o.values.end());
  } else if (how_ == aggregation::mean) {
    for (std::size_t k = 0; k < s.values.size(); ++k) s.values[k] += o.values[k];
  } else {
    const bool is_max = how_ == aggregation::max;
    for (std::size_t k = 0; k < s.values.size(); ++k) {
      double& cur = s.values[k];
      const double x = o.values[k];
      if (std::isnan(cur)) continue;
      if (std::isnan(x)) cur = x;
      else if (is_max ? x > cur : x < cur) cur = x;
    }
  }
  s.batches += o.batches;
  s.samples += o.samples;
  s.float64 = s.float64 || o.float64;
}

bool statistic_accumulator::empty() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.channels < 0;
}
std::int64_t statistic_accumulator::channels() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.channels;
}
std::int64_t statistic_accumulator::batches() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.batches;
}
std::int64_t statistic_accumulator::samples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.samples;
}
dtype statistic_accumulator::result_type() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.float64 ? dtype::float64 : dtype::float32;
}

std::vector<double> statistic_accumulator::result() const {
  const state s = get_state();
  if (s.channels < 0) throw invalid_argument("accumulator: no batch has been fed yet");
  const std::int64_t c = s.channels;
  std::vector<double> out(static_cast<std::size_t>(c));
  if (how_ == aggregation::mean) {
    for (std::int64_t k = 0; k < c; ++k) out[k] = s.values[k] / static_cast<double>(s.batches);
  } else if (!keeps_all_values()) {
    out = s.values;
  } else {
    std::vector<double> column(static_cast<std::size_t>(s.samples));
    for (std::int64_t k = 0; k < c; ++k) {
      for (std::int64_t i = 0; i < s.samples; ++i) column[i] = s.values[i * c + k];
      out[k] = aggregate_column(column, how_);
    }
  }
  return out;
}

statistic_accumulator::state statistic_accumulator::get_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

void statistic_accumulator::set_state(const state& s) {
  // What fold() can produce: nothing yet (channels -1, no batch), or channels >= 1 after
  // batches >= 1 of samples >= batches; values hold [channels] or [samples, channels].
  const bool fresh = s.channels == -1 && s.batches == 0 && s.samples == 0;
  const bool fed = s.channels >= 1 && s.batches >= 1 && s.samples >= s.batches;
  if (!fresh && !fed) throw invalid_argument("state: inconsistent accumulator state");
  std::size_t expected = 0;
  if (fed) {
    const bool keeps = keeps_all_values();
    if (keeps && s.samples > std::numeric_limits<std::int64_t>::max() / s.channels)
      throw invalid_argument("state: inconsistent accumulator state");
    expected = static_cast<std::size_t>(keeps ? s.samples * s.channels : s.channels);
  }
  if (s.values.size() != expected) throw invalid_argument("state: inconsistent accumulator state");
  std::lock_guard<std::mutex> lock(mutex_);
  state_ = s;
}

}  // namespace fastpot
