// Result<T> and Error: how every fallible function in pcap-recorder reports failure.
//
// An Error says what was attempted, on what, and why (errno text where there is one), so the
// message can go straight to a log line or to a gRPC status. The data path never throws:
// functions that can fail return Result<T>, which the caller must check ([[nodiscard]]).
// Exceptions are reserved for fatal start-up errors caught in main().
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace recorder {

// What kind of failure this is; the service maps it onto a gRPC status code.
enum class ErrorCode {
  kInvalidArgument,     // the request or input is wrong: the caller must change it
  kNotFound,            // a named thing (recording, file, interface) does not exist
  kAlreadyExists,       // a thing that must be unique exists already
  kResourceExhausted,   // a limit was reached (recordings, rules, memory, disk)
  kFailedPrecondition,  // the system is not in a state that allows this
  kOutOfRange,          // a position or range outside what exists (a ring's time range)
  kUnavailable,         // a kernel feature or device is missing (io_uring, BPF, interface)
  kInternal,            // a system call or library failed unexpectedly
};

std::string_view to_string(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), message_(std::move(message)), errno_(sys_errno) {}

  // An Error from a failed system or library call: "<what>: <strerror(err)>".
  // libbpf and liburing return -errno; pass either sign.
  static Error from_errno(std::string_view what, int err, ErrorCode code = ErrorCode::kInternal);

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  // Prefixes context: Error("open: ENOENT").wrap("start recording 7") ->
  // "start recording 7: open: ENOENT".
  Error wrap(std::string_view context) const&;
  Error wrap(std::string_view context) &&;

 private:
  ErrorCode code_;
  std::string message_;
  int errno_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, {}};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace recorder
