#pragma once

#include <string>
#include <vector>

// `bench_blobclient hammer HOST:PORT METHOD TARGET CONNECTIONS THREADS SECONDS [HEADER...]`:
// a closed-loop keep-alive load generator in the manner of wrk (each connection sends its
// next request when the previous response is complete), for what wrk 4.1 cannot measure:
// it waits for a body after a HEAD response that carries Content-Length, so blob HEAD
// reports 0 req/s. Prints requests, req/s, p50/p99 latency in ms, non-2xx and errors.
int run_hammer(const std::vector<std::string>& args);
