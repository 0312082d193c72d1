# Moves protoc's generated C++ from namespace `recorder` into `recorder::pb`.
#
# Why: Hubble's API fixes `package recorder;` (it is part of the gRPC method path
# "/recorder.Recorder/Record") and the message names `Filter` and `Protocol`, and protoc maps the
# package to the C++ namespace with no option to change it. The project's own types
# recorder::Filter and recorder::Protocol (src/dispatch/filter.h) would collide. Only the C++
# spelling changes here; the descriptors keep the full names "recorder.Filter" etc., so the wire
# format, the method paths and reflection are exactly Hubble's.
#
# Usage: cmake -DFILES="a;b" -P pb_namespace.cmake
foreach(f IN LISTS FILES)
  file(READ "${f}" text)
  string(REPLACE "namespace recorder {" "namespace recorder {\nnamespace pb {" text "${text}")
  string(REPLACE "}  // namespace recorder" "}  // namespace pb\n}  // namespace recorder" text "${text}")
  string(REPLACE "::recorder::" "::recorder::pb::" text "${text}")
  file(WRITE "${f}" "${text}")
endforeach()
