// A 2 GiB blob through the real server: uploaded in 256 MiB PATCHes generated
// on the fly, pulled back as a stream, hashed on both legs by the client, and
// the server's peak resident set (VmHWM) stays small throughout. Neither side
// holds the blob in memory; the client never writes it to disk.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cerrno>
#include <iostream>
#include <memory>

#include "tests/server/oci_client.hpp"
#include "tests/server/process_harness.hpp"

namespace drydock::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kBlobSize = 2ull << 30;
constexpr std::uint64_t kChunk = 256ull << 20;
constexpr std::size_t kPiece = 1u << 20;
constexpr std::uint64_t kMaxHwmKib = 64 * 1024;

double mib_per_s(std::uint64_t bytes, Clock::duration d) {
  return static_cast<double>(bytes) / (1 << 20) / std::chrono::duration<double>(d).count();
}

// Sends one PATCH of `n` bytes at `offset`, generated and hashed piece by
// piece; returns the response (202 expected).
Response patch_chunk(Connection& conn, const std::string& location, std::uint64_t offset,
                     std::uint64_t n, ByteStream& gen, Sha256& hash) {
  Request head{
      .method = "PATCH",
      .target = location,
      .headers = {{"Content-Type", "application/octet-stream"},
                  {"Content-Range", std::to_string(offset) + "-" + std::to_string(offset + n - 1)},
                  {"Content-Length", std::to_string(n)}}};
  conn.send(head.head());
  auto buf = std::make_unique<char[]>(kPiece);
  for (std::uint64_t sent = 0; sent < n; sent += kPiece) {
    std::span<char> piece(buf.get(),
                          static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, n - sent)));
    gen.fill(piece);
    hash.update(piece.data(), piece.size());
    conn.send({piece.data(), piece.size()});
  }
  return conn.read_response();
}

struct Streamed {
  unsigned status = 0;
  std::uint64_t length = 0;
  std::string digest;
};

// GET `target` on a fresh connection, hashing the body as it arrives: the
// test client's read_response would buffer 2 GiB, so this reads the socket
// itself (Content-Length framing, which is how the server sends blobs).
Streamed stream_get(std::uint16_t port, const std::string& target) {
  Connection conn(port, 120s);
  conn.send(Request{.method = "GET", .target = target}.serialize());
  auto buf = std::make_unique<char[]>(kPiece);
  std::string head;
  std::size_t end = std::string::npos;
  std::size_t got = 0;
  while (end == std::string::npos) {
    ssize_t n = ::recv(conn.fd(), buf.get(), kPiece, 0);
    if (n <= 0) throw HttpError("connection ended in the response header");
    head.append(buf.get(), static_cast<std::size_t>(n));
    end = head.find("\r\n\r\n");
  }
  Streamed out;
  out.status = static_cast<unsigned>(std::stoul(head.substr(9, 3)));
  auto cl = head.find("Content-Length: ");
  if (cl == std::string::npos || cl > end)
    throw HttpError("no Content-Length: " + head.substr(0, end));
  std::uint64_t length = std::stoull(head.substr(cl + 16));
  Sha256 hash;
  std::string_view rest = std::string_view(head).substr(end + 4);
  hash.update(rest);
  got = rest.size();
  while (got < length) {
    ssize_t n = ::recv(conn.fd(), buf.get(), kPiece, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw HttpError("connection ended after " + std::to_string(got) + " body bytes");
    hash.update(buf.get(), static_cast<std::size_t>(n));
    got += static_cast<std::size_t>(n);
  }
  out.length = got;
  out.digest = hash.finish();
  return out;
}

TEST(Process, TwoGiBUploadAndDownloadKeepRssSmall) {
  ScratchDir work;
  // The server stores the blob once (the upload file is renamed into place).
  auto space = fs::space(work.path());
  if (space.available < kBlobSize + (1ull << 30)) {
    GTEST_SKIP() << "needs 3 GiB free in " << work.path() << ", has " << (space.available >> 20)
                 << " MiB";
  }
  fs::path data = work.path() / "data";
  ServerProcess server(ServerProcess::serve_args(data), work.path() / "server.log");
  Client c(server.port());
  Response post = c.post("/v2/big/blob/blobs/uploads/");
  ASSERT_EQ(post.status, 202u) << post.body;
  std::string loc = post.header("Location");

  ByteStream gen(20240601);
  Sha256 sent_hash;
  Connection conn(server.port(), 600s);  // an fsync of 2 GiB may take a while
  auto t0 = Clock::now();
  for (std::uint64_t off = 0; off < kBlobSize; off += kChunk) {
    Response r = patch_chunk(conn, loc, off, kChunk, gen, sent_hash);
    ASSERT_EQ(r.status, 202u) << "PATCH at " << off << ": " << r.body;
    ASSERT_EQ(r.header("Range"), "0-" + std::to_string(off + kChunk - 1));
    loc = r.header("Location");
  }
  auto t1 = Clock::now();
  std::string digest = sent_hash.finish();
  Response put = conn.roundtrip(Request{.method = "PUT", .target = with_digest(loc, digest)});
  auto t2 = Clock::now();
  ASSERT_EQ(put.status, 201u) << put.body;
  EXPECT_EQ(put.header("Docker-Content-Digest"), digest);
  conn.close();
  EXPECT_EQ(fs::file_size(blob_path(data, digest)), kBlobSize);

  Streamed got = stream_get(server.port(), "/v2/big/blob/blobs/" + digest);
  auto t3 = Clock::now();
  EXPECT_EQ(got.status, 200u);
  EXPECT_EQ(got.length, kBlobSize);
  EXPECT_EQ(got.digest, digest);

  std::uint64_t hwm = server.vm_hwm_kib();
  std::cout << "[ 2 GiB ] upload (PATCHes) " << mib_per_s(kBlobSize, t1 - t0) << " MiB/s, "
            << "final PUT (verify + fsync + rename) "
            << std::chrono::duration<double>(t2 - t1).count() << " s, upload overall "
            << mib_per_s(kBlobSize, t2 - t0) << " MiB/s; download " << mib_per_s(kBlobSize, t3 - t2)
            << " MiB/s; server VmHWM " << hwm / 1024.0 << " MiB" << std::endl;
  EXPECT_LT(hwm, kMaxHwmKib) << "server peak RSS " << hwm << " KiB";

  auto exit = server.terminate(30s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(exit->ok()) << exit->describe();
}

}  // namespace
}  // namespace drydock::testing
