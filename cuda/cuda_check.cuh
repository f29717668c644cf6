// Copyright (c) Mirage developers.
//! \file cuda_check.cuh
//! CUDA error checking and RAII owners of CUDA resources. Every CUDA call of the backend goes
//! through MIRAGE_CUDA_CHECK, which throws std::runtime_error naming the device, the call, the
//! source location and the CUDA error; every device allocation, stream and event is owned by
//! an object here, so a throw releases them.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace mirage::cuda::detail {

//! The CUDA device this thread works on, named in its CUDA errors (name_device_in_errors); -1:
//! none set, name the current device.
inline thread_local int error_device = -1;

//! Names `device` in the calling thread's CUDA errors from now on (a device thread sets it
//! before its cudaSetDevice: a new thread's current device is 0, so a failing
//! cudaSetDevice(3) would otherwise be reported as device 0).
inline void name_device_in_errors(int device) {
  error_device = device;
}

//! Throws std::runtime_error for a failed CUDA call: "CUDA error on device D (NAME): CALL
//! failed at FILE:LINE: MESSAGE (cudaErrorName)". D is the thread's device
//! (name_device_in_errors), else the current device; NAME is left out when the device's
//! properties cannot be read, and the device too when it was not set and is not known to exist.
[[noreturn]] inline void throw_cuda_error(cudaError_t status, const char* call, const char* file,
                                          int line) {
  std::string where = "CUDA error";
  int device = error_device;
  const bool named = device >= 0;
  if (!named && cudaGetDevice(&device) != cudaSuccess) device = -1;
  if (device >= 0) {
    cudaDeviceProp prop;
    int count = 0;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
      where += " on device " + std::to_string(device) + " (" + prop.name + ")";
    } else if (named || (cudaGetDeviceCount(&count) == cudaSuccess && device < count)) {
      where += " on device " + std::to_string(device);
    }
    cudaGetLastError();  // the look-ups above may have failed; leave no error behind
  }
  std::string path = file;
  const std::size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) path = path.substr(slash + 1);
  throw std::runtime_error(where + ": " + call + " failed at " + path + ":" + std::to_string(line) +
                           ": " + cudaGetErrorString(status) + " (" + cudaGetErrorName(status) +
                           ")");
}

//! Throws (throw_cuda_error) unless `status` is cudaSuccess.
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(status, call, file, line);
}

}  // namespace mirage::cuda::detail

//! Checks the cudaError_t returned by `call`; throws std::runtime_error on failure. After a
//! kernel launch, check cudaGetLastError().
#define MIRAGE_CUDA_CHECK(call) \
  ::mirage::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)

namespace mirage::cuda::detail {

//! Device memory for `count` objects of type T (uninitialized), freed on destruction.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count) {
    if (count > 0)
      MIRAGE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), count * sizeof(T)));
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);  // errors here are reported by an earlier check
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
};

//! Page-locked host memory for `count` objects of type T (uninitialized), so that copies from
//! it run asynchronously; freed on destruction.
template <class T>
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t count) {
    if (count > 0) {
      MIRAGE_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&ptr_), count * sizeof(T)));
    }
  }
  ~PinnedBuffer() {
    if (ptr_ != nullptr) cudaFreeHost(ptr_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
};

//! A non-blocking stream on the current device.
class Stream {
 public:
  Stream() { MIRAGE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(stream_); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

//! An event without timing whose synchronize yields the CPU instead of spinning.
class Event {
 public:
  Event() {
    MIRAGE_CUDA_CHECK(
        cudaEventCreateWithFlags(&event_, cudaEventDisableTiming | cudaEventBlockingSync));
  }
  ~Event() { cudaEventDestroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

//! Waits for a stream on destruction (ignoring errors). Declared after the buffers a stream
//! uses, it is destroyed first, so no buffer is freed while queued work may still use it.
class StreamDrain {
 public:
  explicit StreamDrain(cudaStream_t stream) : stream_(stream) {}
  ~StreamDrain() { cudaStreamSynchronize(stream_); }
  StreamDrain(const StreamDrain&) = delete;
  StreamDrain& operator=(const StreamDrain&) = delete;

 private:
  cudaStream_t stream_;
};

}  // namespace mirage::cuda::detail
