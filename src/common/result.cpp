#include "common/result.h"

#include <cstring>
#include <string>

namespace recorder {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kAlreadyExists:
      return "already exists";
    case ErrorCode::kResourceExhausted:
      return "resource exhausted";
    case ErrorCode::kFailedPrecondition:
      return "failed precondition";
    case ErrorCode::kOutOfRange:
      return "out of range";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

Error Error::from_errno(std::string_view what, int err, ErrorCode code) {
  if (err < 0) err = -err;
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  return Error(code, std::move(message), err);
}

Error Error::wrap(std::string_view context) const& {
  std::string message(context);
  message += ": ";
  message += message_;
  return Error(code_, std::move(message), errno_);
}

Error Error::wrap(std::string_view context) && {
  std::string message(context);
  message += ": ";
  message += message_;
  message_ = std::move(message);
  return std::move(*this);
}

}  // namespace recorder
