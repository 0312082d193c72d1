# Finds every third-party dependency once, as imported targets. All come from Debian packages
# that scripts/setup.sh installs.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 CONFIG REQUIRED)  # command lines of recorderd, recorderctl and the benchmarks
pkg_check_modules(LIBPCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(LIBURING REQUIRED IMPORTED_TARGET liburing)

if(RECORDER_BUILD_DATAPATH)
  pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)
endif()

if(RECORDER_BUILD_SERVICE)
  find_package(Protobuf REQUIRED)
  find_package(gRPC CONFIG REQUIRED)
  find_package(nlohmann_json REQUIRED)
  find_package(prometheus-cpp CONFIG REQUIRED)  # --metrics-listen of recorderd and the relay
endif()

if(RECORDER_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
  if(RECORDER_BUILD_SERVICE)
    find_package(OpenSSL REQUIRED)  # a TLS client of the test's own (failed handshakes)
  endif()
endif()

if(RECORDER_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
