#include "dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "fastpot/errors.hpp"
#include "fastpot/parallel.hpp"
#include "sample_quantile.hpp"

namespace fastpot::dispatch {

namespace {

std::string shape_text(const ov::Shape& shape) {
  std::ostringstream s;
  s << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

// A fastpot view of an output tensor (float outputs only; checked in begin()).
array_view view_of(const ov::Tensor& t) {
  dtype type = dtype::float32;
  if (t.get_element_type() == ov::element::f16) type = dtype::float16;
  else if (t.get_element_type() == ov::element::f64) type = dtype::float64;
  const ov::Shape dims = t.get_shape();  // by value: one copy, then its iterators
  std::vector<std::int64_t> shape(dims.begin(), dims.end());
  return array_view::contiguous(t.data(), type, std::move(shape));
}

bool is_float(const ov::element::Type& t) {
  return t == ov::element::f32 || t == ov::element::f16 || t == ov::element::f64;
}

// max(-lo, hi) element by element with NumPy's NaN propagation (np.maximum). Adding +0.0
// turns a zero of either sign into +0.0 (and changes nothing else), as max|x| of all-zero
// data is +0.0 in the reference (np.abs(x).max()).
template <class T>
void neg_max(const T* lo, const T* hi, std::size_t n, T* out) {
  for (std::size_t i = 0; i < n; ++i) {
    const T a = -lo[i];
    const T b = hi[i];
    out[i] = (std::isnan(a) || std::isnan(b)) ? std::numeric_limits<T>::quiet_NaN()
                                              : (a < b ? b : a) + T(0);
  }
}

}  // namespace

dispatcher::dispatcher(const std::string& xml, const std::string& bin, const std::string& device,
                       const ov::AnyMap& properties, int requests) {
  if (requests < 0) throw invalid_argument("requests: must be >= 0 (0: the device's optimum)");
  std::shared_ptr<ov::Model> model = core_.read_model(xml, bin);
  plugin_quantiles_ = place_sample_quantiles(model);  // marked exports: in-plugin quantiles
  compiled_ = core_.compile_model(model, device, properties);
  model.reset();
  std::uint32_t n = static_cast<std::uint32_t>(requests);
  if (n == 0) n = std::max<std::uint32_t>(1, compiled_.get_property(ov::optimal_number_of_infer_requests));
  slots_.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto s = std::make_unique<slot>();
    s->request = compiled_.create_infer_request();
    slot* raw = s.get();
    // Captures only `this` and the slot (no OpenVINO objects, as the API asks); the
    // destructor waits for every request before either goes away.
    s->request.set_callback([this, raw](std::exception_ptr e) { on_complete(*raw, e); });
    slots_.push_back(std::move(s));
  }
}

dispatcher::~dispatcher() {
  drain();
  for (auto& s : slots_) {
    try {
      s->request.set_callback([](std::exception_ptr) {});
    } catch (...) {
    }
  }
  slots_.clear();  // requests before the compiled model (member order does the rest)
}

void dispatcher::begin(std::vector<feed> feeds, std::vector<std::size_t> keep) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& s : slots_)
      if (s->busy) throw std::logic_error("dispatcher: begin() while requests are in flight");
  }
  const std::size_t outputs = compiled_.outputs().size();
  for (const feed& f : feeds) {
    if ((f.accumulator == nullptr) == (f.recorder == nullptr))
      throw invalid_argument("feeds: each feed needs an accumulator or a recorder");
    for (std::size_t index : {f.a, f.b}) {
      if (index >= outputs)
        throw invalid_argument("feeds: output " + std::to_string(index) + " out of range (the "
                               "model has " + std::to_string(outputs) + " outputs)");
      const auto type = compiled_.output(index).get_element_type();
      if (!is_float(type))
        throw type_error("feeds: output " + std::to_string(index) + " has element type " +
                         type.get_type_name() + "; statistics need float16/32/64");
    }
    if (f.what == feed::kind::abs_max &&
        compiled_.output(f.a).get_element_type() != compiled_.output(f.b).get_element_type())
      throw type_error("feeds: abs_max needs min and max outputs of the same element type");
  }
  for (std::size_t index : keep)
    if (index >= outputs) throw invalid_argument("keep: output " + std::to_string(index) + " out of range");
  feeds_ = std::move(feeds);
  keep_ = std::move(keep);
  std::lock_guard<std::mutex> lock(mutex_);
  std::lock_guard<std::mutex> fold(fold_mutex_);
  failed_ = false;
  error_.clear();
  pending_.clear();
  outputs_.clear();
  next_fold_ = next_take_ = submitted_ = 0;
  callback_ns_ = 0;
}

bool dispatcher::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto find = [&]() -> slot* {
    for (auto& s : slots_)
      if (!s->busy || s->done) return s.get();
    return nullptr;
  };
  slot* s = nullptr;
  if (!cv_.wait_for(lock, timeout, [&] { return failed_ || (s = find()) != nullptr; })) return false;
  if (failed_) throw std::runtime_error(error_);
  if (s->busy) reclaim(*s);
  idle_ = s;
  return true;
}

void dispatcher::reclaim(slot& s) {
  // The callback has returned (or is returning): wait() returns once OpenVINO is done with
  // the request, so it can be restarted. Its errors were recorded by the callback.
  try {
    s.request.wait();
  } catch (...) {
  }
  s.busy = false;
  s.done = false;
}

std::int64_t dispatcher::start(const std::vector<input_array>& inputs) {
  slot* s = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s = idle_;
    idle_ = nullptr;
  }
  if (s == nullptr || s->busy) throw std::logic_error("dispatcher: start() without wait_idle()");
  const auto ports = compiled_.inputs();
  if (inputs.size() != ports.size())
    throw invalid_argument("inputs: " + std::to_string(inputs.size()) + " arrays for a model with " +
                           std::to_string(ports.size()) + " inputs");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const input_array& in = inputs[i];
    ov::Tensor tensor = s->request.get_input_tensor(i);
    if (tensor.get_shape() != in.shape) {
      // Dynamic inputs (or a new batch size): a tensor of this batch's shape.
      tensor = ov::Tensor(ports[i].get_element_type(), in.shape);
      s->request.set_input_tensor(i, tensor);
    }
    if (tensor.get_byte_size() != in.bytes)
      throw invalid_argument("model input '" + ports[i].get_any_name() + "': " +
                             std::to_string(in.bytes) + " bytes for shape " + shape_text(in.shape));
    // The one copy of the input: into the request's own tensor (as OpenVINO's Python API).
    std::memcpy(tensor.data(), in.data, in.bytes);
  }
  std::int64_t batch = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch = submitted_++;
    s->batch = batch;
    s->busy = true;
    s->done = false;
  }
  try {
    s->request.start_async();
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    s->busy = false;
    --submitted_;
    throw;
  }
  return batch;
}

void dispatcher::on_complete(slot& s, std::exception_ptr error) noexcept {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    if (error) std::rethrow_exception(error);
    serial_kernels_scope serial;  // this is one of OpenVINO's threads: no kernel threads
    batch_result r;
    r.reduced.reserve(feeds_.size());
    std::vector<float> scratch32;
    std::vector<double> scratch64;
    for (const feed& f : feeds_) {
      auto consume = [&](const array_view& v) {
        if (f.accumulator != nullptr) r.reduced.push_back(f.accumulator->reduce(v));
        else r.recorded.push_back(f.recorder->reduce(v));
      };
      const ov::Tensor a = s.request.get_output_tensor(f.a);
      if (f.what == feed::kind::tensor) {
        consume(view_of(a));
        continue;
      }
      const ov::Tensor b = s.request.get_output_tensor(f.b);
      if (a.get_shape() != b.get_shape())
        throw std::runtime_error("abs_max: min and max outputs differ in shape");
      const ov::Shape dims = a.get_shape();
      std::vector<std::int64_t> shape(dims.begin(), dims.end());
      if (a.get_element_type() == ov::element::f64) {
        scratch64.resize(a.get_size());
        neg_max(a.data<const double>(), b.data<const double>(), a.get_size(), scratch64.data());
        consume(array_view::contiguous(scratch64.data(), dtype::float64, std::move(shape)));
      } else if (a.get_element_type() == ov::element::f32) {
        scratch32.resize(a.get_size());
        neg_max(a.data<const float>(), b.data<const float>(), a.get_size(), scratch32.data());
        consume(array_view::contiguous(scratch32.data(), dtype::float32, std::move(shape)));
      } else {
        throw std::runtime_error("abs_max: float16 in-graph reductions are not supported");
      }
    }
    r.kept.reserve(keep_.size());
    for (std::size_t index : keep_) {
      const ov::Tensor t = s.request.get_output_tensor(index);
      kept_output k{t.get_element_type(), t.get_shape(), {}};
      const auto* p = static_cast<const unsigned char*>(t.data());
      k.bytes.assign(p, p + t.get_byte_size());
      r.kept.push_back(std::move(k));
    }
    {
      std::lock_guard<std::mutex> lock(fold_mutex_);
      pending_.emplace(s.batch, std::move(r));
      fold_ready();
    }
  } catch (const std::exception& e) {
    record_error("batch " + std::to_string(s.batch) + ": " + e.what());
  } catch (...) {
    record_error("batch " + std::to_string(s.batch) + ": unknown error in the inference callback");
  }
  callback_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.done = true;
  }
  cv_.notify_all();
}

void dispatcher::fold_ready() {
  // Batches fold in submission order whatever order they complete in: the accumulators end
  // up exactly as a synchronous loop leaves them (sums included).
  for (auto it = pending_.begin(); it != pending_.end() && it->first == next_fold_;
       it = pending_.erase(it), ++next_fold_) {
    std::size_t reduced = 0, recorded = 0;
    for (const feed& f : feeds_) {
      if (f.accumulator != nullptr) f.accumulator->add(it->second.reduced[reduced++]);
      else f.recorder->add(std::move(it->second.recorded[recorded++]));
    }
    if (!keep_.empty()) outputs_.emplace(it->first, std::move(it->second.kept));
  }
}

void dispatcher::record_error(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!failed_) {
    failed_ = true;
    error_ = message;
  }
}

int dispatcher::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s->busy; }));
}

std::string dispatcher::first_error() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

bool dispatcher::wait_all(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  const bool all = cv_.wait_for(lock, timeout, [&] {
    return std::all_of(slots_.begin(), slots_.end(), [](const auto& s) { return !s->busy || s->done; });
  });
  if (!all) return false;
  for (auto& s : slots_)
    if (s->busy) reclaim(*s);
  return true;
}

void dispatcher::check_finished() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_) throw std::runtime_error(error_);
  std::lock_guard<std::mutex> fold(fold_mutex_);
  if (next_fold_ != submitted_ || !pending_.empty())
    throw std::logic_error("dispatcher: " + std::to_string(submitted_ - next_fold_) +
                           " batches were not folded");
}

void dispatcher::drain() noexcept {
  std::vector<slot*> busy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& s : slots_)
      if (s->busy) busy.push_back(s.get());
  }
  for (slot* s : busy) {
    try {
      s->request.wait();
    } catch (...) {
    }
  }
  // Every callback has returned now; mark the slots idle.
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] {
    return std::all_of(slots_.begin(), slots_.end(), [](const auto& s) { return !s->busy || s->done; });
  });
  for (auto& s : slots_) {
    s->busy = false;
    s->done = false;
  }
  idle_ = nullptr;
}

std::vector<std::vector<kept_output>> dispatcher::take_outputs() {
  std::lock_guard<std::mutex> lock(fold_mutex_);
  std::vector<std::vector<kept_output>> out;
  for (auto it = outputs_.begin(); it != outputs_.end() && it->first == next_take_;
       it = outputs_.erase(it), ++next_take_)
    out.push_back(std::move(it->second));
  return out;
}

}  // namespace fastpot::dispatch
