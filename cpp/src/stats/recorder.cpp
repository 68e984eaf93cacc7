#include "fastpot/stats/recorder.hpp"

#include <string>
#include <utility>

#include "fastpot/errors.hpp"
#include "fastpot/layout.hpp"
#include "fastpot/stats/extremes.hpp"

namespace fastpot {

sample_recorder::sample_recorder(bool extremes, statistic stat, std::optional<int> channel_axis,
                                 double q, double bound)
    : extremes_(extremes), stat_(stat), channel_axis_(channel_axis), q_(q), bound_(bound) {
  if (channel_axis && *channel_axis == 0)
    throw invalid_argument("channel_axis: axis 0 holds the samples and cannot be the channel axis");
  const bool needs_q = stat == statistic::quantile || stat == statistic::abs_quantile;
  if (!extremes && needs_q && !(q >= 0.0 && q <= 1.0))
    throw invalid_argument("q: " + std::to_string(q) + " is outside [0, 1]");
  if (extremes) extremes_count(1, bound);  // validates the bound
}

sample_recorder sample_recorder::values(statistic stat, std::optional<int> channel_axis, double q) {
  return sample_recorder(false, stat, channel_axis, q, 0.0);
}

sample_recorder sample_recorder::extremes(std::optional<int> channel_axis, double bound) {
  return sample_recorder(true, statistic::min, channel_axis, 0.0, bound);
}

sample_recorder::sample_recorder(const sample_recorder& other)
    : extremes_(other.extremes_),
      stat_(other.stat_),
      channel_axis_(other.channel_axis_),
      q_(other.q_),
      bound_(other.bound_) {
  std::lock_guard<std::mutex> lock(other.mutex_);
  consistent_ = other.consistent_;
  channels_ = other.channels_;
  size_ = other.size_;
  width_ = other.width_;
  type_ = other.type_;
  lengths_ = other.lengths_;
  low_ = other.low_;
  high_ = other.high_;
}

sample_recorder::batch sample_recorder::reduce(const array_view& input) const {
  array_view x = input;
  if (x.ndim() == 0) {  // a scalar tensor is one sample
    x.shape = {1};
    x.strides = {static_cast<std::int64_t>(itemsize(x.type))};
  }
  const reduction_layout l = make_reduction_layout(x, channel_axis_);
  batch b;
  b.n = l.samples;
  b.channels = l.channels;
  b.size = l.group_size;
  b.type = result_dtype(x.type);
  const std::int64_t groups = l.groups();
  const auto item = static_cast<std::int64_t>(itemsize(b.type));
  if (!extremes_) {
    b.width = 1;
    b.low.resize(static_cast<std::size_t>(groups * item));
    reduce_per_sample(x, stat_, channel_axis_, q_, {b.low.data(), b.type, groups});
    return b;
  }
  const std::int64_t k = extremes_count(l.group_size, bound_);
  const bool whole = 2 * k >= l.group_size;
  b.width = whole ? l.group_size : k;
  const std::int64_t values = groups * b.width;
  b.high.resize(static_cast<std::size_t>(values * item));
  if (whole) {
    // Both sides would hold the whole group: the smallest `size` values are the sorted group.
    std::vector<unsigned char> unused(static_cast<std::size_t>(values * item));
    extremes_per_sample(x, b.width, channel_axis_, {unused.data(), b.type, values},
                        {b.high.data(), b.type, values});
  } else {
    b.low.resize(static_cast<std::size_t>(values * item));
    extremes_per_sample(x, k, channel_axis_, {b.low.data(), b.type, values},
                        {b.high.data(), b.type, values});
  }
  return b;
}

void sample_recorder::add(batch b) {
  std::lock_guard<std::mutex> lock(mutex_);
  lengths_.push_back(b.n);
  if (!consistent_) return;
  if (channels_ < 0) {
    channels_ = b.channels;
    size_ = b.size;
    width_ = b.width;
    type_ = b.type;
  } else if (b.channels != channels_ || b.type != type_ ||
             (extremes_ && (b.size != size_ || b.width != width_))) {
    consistent_ = false;
    low_.clear();
    low_.shrink_to_fit();
    high_.clear();
    high_.shrink_to_fit();
    return;
  }
  low_.insert(low_.end(), b.low.begin(), b.low.end());
  high_.insert(high_.end(), b.high.begin(), b.high.end());
}

bool sample_recorder::consistent() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return consistent_;
}

std::vector<std::int64_t> sample_recorder::lengths() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lengths_;
}

std::int64_t sample_recorder::samples() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::int64_t n = 0;
  for (std::int64_t v : lengths_) n += v;
  return n;
}

std::int64_t sample_recorder::channels() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return channels_;
}

std::int64_t sample_recorder::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return size_;
}

std::int64_t sample_recorder::width() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return width_;
}

std::int64_t sample_recorder::k() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (size_ < 0) return -1;
  return extremes_ ? extremes_count(size_, bound_) : 1;
}

dtype sample_recorder::type() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return type_;
}

std::vector<unsigned char> sample_recorder::low() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return low_;
}

std::vector<unsigned char> sample_recorder::high() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return high_;
}

}  // namespace fastpot
