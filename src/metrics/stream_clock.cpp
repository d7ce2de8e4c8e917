// StreamClock: host times on the CPU; CUDA events (timing enabled) on CUDA, elapsed from an origin
// event recorded at begin(). Pools of marks and events grow once and are reused step after step.
#include "metrics/stream_clock.h"

#include <c10/core/Device.h>

#include <atomic>
#include <chrono>
#include <vector>

#if PARALLAX_HAVE_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace parallax {
namespace {

double host_now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct StreamClock::Impl {
  explicit Impl(const c10::Device& d) : device(d) {}
  c10::Device device;
  double origin = 0;
  size_t used = 0;
  // Host marks: written by mark() or, for a future's completion, by the communication thread.
  std::vector<std::unique_ptr<std::atomic<double>>> host;
  std::vector<double> seconds;  // resolved
  std::vector<char> is_event;
#if PARALLAX_HAVE_CUDA
  std::vector<std::unique_ptr<at::cuda::CUDAEvent>> events;  // [0] is the origin
  std::unique_ptr<c10::cuda::CUDAStream> side;
  at::cuda::CUDAEvent& event(size_t i) {
    while (events.size() <= i) events.push_back(std::make_unique<at::cuda::CUDAEvent>(0));
    return *events[i];  // flags 0 = cudaEventDefault: timing enabled
  }
#endif
  int next(bool event) {
    const size_t i = used++;
    if (host.size() <= i) host.push_back(std::make_unique<std::atomic<double>>(0));
    if (is_event.size() <= i) is_event.resize(i + 1);
    *host[i] = 0;
    is_event[i] = event;
    return static_cast<int>(i);
  }
};

StreamClock::StreamClock(const c10::Device& device) : impl_(std::make_unique<Impl>(device)) {}
StreamClock::~StreamClock() = default;

bool StreamClock::on_device() const {
#if PARALLAX_HAVE_CUDA
  return impl_->device.is_cuda();
#else
  return false;
#endif
}

void StreamClock::begin() {
  impl_->used = 0;
  impl_->origin = host_now_s();
#if PARALLAX_HAVE_CUDA
  if (on_device()) impl_->event(0).record(c10::cuda::getCurrentCUDAStream(impl_->device.index()));
#endif
}

int StreamClock::mark() {
  const int i = impl_->next(on_device());
#if PARALLAX_HAVE_CUDA
  if (on_device()) {
    impl_->event(i + 1).record(c10::cuda::getCurrentCUDAStream(impl_->device.index()));
    return i;
  }
#endif
  *impl_->host[i] = host_now_s();
  return i;
}

int StreamClock::mark_done(const compat::Work& work, bool device_work) {
#if PARALLAX_HAVE_CUDA
  if (on_device() && device_work) {
    const int i = impl_->next(true);
    if (!impl_->side)
      impl_->side = std::make_unique<c10::cuda::CUDAStream>(
          c10::cuda::getStreamFromPool(false, impl_->device.index()));
    // wait() on a NCCL work makes the current stream (here the side stream) wait for the
    // collective's end; the host goes on at once. The event then completes with the collective.
    // In 2.x this first wait() also drops the work's own references to its tensors: the caller
    // must keep them alive until the compute stream has waited too (GradReducer's buckets are).
    c10::cuda::CUDAStreamGuard guard(*impl_->side);
    work->wait();
    impl_->event(i + 1).record(*impl_->side);
    return i;
  }
#endif
  const int i = impl_->next(false);
  std::atomic<double>* slot = impl_->host[i].get();
  work->getFuture()->addCallback([slot](c10::ivalue::Future&) { *slot = host_now_s(); });
  return i;
}

void StreamClock::resolve() {
  impl_->seconds.assign(impl_->used, 0);
  for (size_t i = 0; i < impl_->used; ++i) {
#if PARALLAX_HAVE_CUDA
    if (impl_->is_event[i]) {
      auto& ev = impl_->event(i + 1);
      ev.synchronize();  // complete already when the step has synced; else waits here, once
      impl_->seconds[i] = impl_->event(0).elapsed_time(ev) * 1e-3;
      continue;
    }
#endif
    const double t = impl_->host[i]->load();
    // A future not completed yet (it is, once its work was waited for): count it as now.
    impl_->seconds[i] = (t > 0 ? t : host_now_s()) - impl_->origin;
  }
}

double StreamClock::origin_host_s() const {
  return impl_->origin;
}

double StreamClock::seconds_since(const StreamClock& ref) const {
#if PARALLAX_HAVE_CUDA
  if (on_device() && ref.on_device() && impl_->device == ref.impl_->device) {
    // Queued in host order on one stream, reached in that order: elapsed from the earlier.
    auto& mine = impl_->event(0);
    auto& theirs = ref.impl_->event(0);
    mine.synchronize();
    theirs.synchronize();
    return impl_->origin >= ref.impl_->origin ? theirs.elapsed_time(mine) * 1e-3
                                              : -mine.elapsed_time(theirs) * 1e-3;
  }
#endif
  return impl_->origin - ref.impl_->origin;
}

double StreamClock::at(int mark) const {
  return impl_->seconds.at(static_cast<size_t>(mark));
}

}  // namespace parallax
