// grpc_idle_floor (bench/daemon), run as side_by_side.sh's idle part runs it: it must serve the
// health service on its socket as recorderd's server does (SERVING), start no thread recorderd's
// server does not (no callback-API "nexting_thread"), and end with status 0 on SIGINT, removing
// its socket; else its idle row measures some other server. No timing.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "listening_process.h"
#include "temp_dir.h"

namespace recorder {
namespace {

namespace fs = std::filesystem;
using grpc::health::v1::HealthCheckResponse;

TEST(GrpcIdleFloor, ServesHealthOnItsSocketUntilSigint) {
  test::TempDir dir("prt_floor");
  const std::string socket = (dir / "floor.sock").string();
  testing::ListeningProcess floor({GRPC_IDLE_FLOOR_PATH, socket}, (dir / "floor.log").string());
  ASSERT_TRUE(floor.ready()) << floor.output();

  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  HealthCheckResponse response;
  const grpc::Status status = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  for (const auto& task :
       fs::directory_iterator(fs::path("/proc") / std::to_string(floor.pid()) / "task")) {
    const std::string name = test::read_file(task.path() / "comm");
    EXPECT_EQ(name.find("nexting"), std::string::npos) << name;
  }

  EXPECT_EQ(floor.stop(), 0) << floor.output();
  EXPECT_FALSE(fs::exists(socket));
}

TEST(GrpcIdleFloor, RefusesAMissingSocketPath) {
  test::TempDir dir("prt_floor");
  testing::ListeningProcess floor({GRPC_IDLE_FLOOR_PATH}, (dir / "floor.log").string());
  EXPECT_FALSE(floor.ready());
  EXPECT_EQ(floor.stop(), 2);
  EXPECT_NE(floor.output().find("usage: grpc_idle_floor SOCKET_PATH"), std::string::npos)
      << floor.output();
}

}  // namespace
}  // namespace recorder
