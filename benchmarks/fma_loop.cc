// The FMA throughput of this machine, as gluon_seq's compiled operators can reach it:
// 256 independent multiply-add chains per thread (enough to fill every FMA unit whatever
// its latency), vectorised by the compiler.  Usage: fma_loop THREADS [STEPS]; prints the
// best GFLOP/s of 5 runs of all threads together.  Built and run by benchmarks/limit.py.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

static constexpr int kChains = 256;

static float chains(long steps, float m, float a) {
  float acc[kChains];
  for (int k = 0; k < kChains; ++k) acc[k] = 1.0f + k * 1e-6f;
  for (long s = 0; s < steps; ++s)
    for (int k = 0; k < kChains; ++k) acc[k] = acc[k] * m + a;
  float sum = 0;
  for (int k = 0; k < kChains; ++k) sum += acc[k];
  return sum;
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 1;
  const long steps = argc > 2 ? atol(argv[2]) : 10000000;
  const float m = 0.9999999f + (argc > 3 ? 1e-8f : 0.0f), a = 1e-7f;  // unknown at compile time
  double best = 0;
  float kept = 0;
  for (int run = 0; run < 5; ++run) {
    std::vector<std::thread> pool;
    std::vector<float> sums(threads);
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { sums[t] = chains(steps, m, a); });
    for (auto& thread : pool) thread.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double gflops = 2.0 * kChains * steps * threads / seconds / 1e9;
    if (gflops > best) best = gflops;
    kept += sums[0];
  }
  std::printf("%s%.2f\n", kept == 12345.0f ? " " : "", best);  // the sums stay live
  return 0;
}
