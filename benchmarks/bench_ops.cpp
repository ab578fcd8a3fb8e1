// Op benchmarks on the cpu backend: recur::matmul beside oneDNN called directly (a matmul
// primitive in f32 and in bf16, and dnnl_sgemm), and causal attention forward + backward. Not here:
// model-level runs.
#include <benchmark/benchmark.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include <recur/backends/cpu.hpp>

namespace {

using Tensor = recur::Tensor<recur::cpu>;

/// Reports 2 M N K floating-point operations per iteration as a rate.
void count_gemm_flops(benchmark::State& state, std::int64_t m, std::int64_t n, std::int64_t k) {
    state.counters["FLOPS"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k),
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

/// Row-major (M, K) and (K, N) operands with standard-normal values.
struct gemm_inputs {
    std::int64_t m, n, k;
    Tensor a, b;
    explicit gemm_inputs(const benchmark::State& state)
        : m(state.range(0)), n(state.range(1)), k(state.range(2)) {
        recur::rng gen(1);
        a = recur::randn<recur::cpu>({m, k}, gen);
        b = recur::randn<recur::cpu>({k, n}, gen);
    }
};

// C = A B through recur::matmul (output from the pool, kernels::gemm<cpu>, cached primitive).
void BM_matmul_recur(benchmark::State& state) {
    const gemm_inputs in(state);
    for (auto _ : state) {
        Tensor c = recur::matmul(in.a, in.b);
        benchmark::DoNotOptimize(c.raw_data());
    }
    count_gemm_flops(state, in.m, in.n, in.k);
}

/// The product as one oneDNN matmul primitive, created once and executed in the loop, with operands
/// of type `operands` (bf16: converted once by a oneDNN reorder, outside the loop) and an f32 result.
void time_onednn_matmul(benchmark::State& state, dnnl::memory::data_type operands) {
    const gemm_inputs in(state);
    Tensor c = Tensor::empty({in.m, in.n});
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const dnnl::memory::desc a_f32({in.m, in.k}, dt::f32, tag::ab), b_f32({in.k, in.n}, dt::f32, tag::ab);
    const dnnl::memory::desc a_md({in.m, in.k}, operands, tag::ab), b_md({in.k, in.n}, operands, tag::ab),
        c_md({in.m, in.n}, dt::f32, tag::ab);
    dnnl::memory a_src(a_f32, engine, in.a.raw_data()), b_src(b_f32, engine, in.b.raw_data());
    dnnl::memory a_mem = a_src, b_mem = b_src, c_mem(c_md, engine, c.raw_data());
    if (operands != dt::f32) {
        a_mem = dnnl::memory(a_md, engine), b_mem = dnnl::memory(b_md, engine);
        dnnl::reorder(a_src, a_mem).execute(stream, a_src, a_mem);
        dnnl::reorder(b_src, b_mem).execute(stream, b_src, b_mem);
        stream.wait();
    }
    const dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine));
    const std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}};
    for (auto _ : state) {
        prim.execute(stream, args);
        stream.wait();
        benchmark::DoNotOptimize(c.raw_data());
    }
    count_gemm_flops(state, in.m, in.n, in.k);
}

// The same product as one oneDNN matmul primitive (the floor for recur::matmul's cached primitive).
void BM_matmul_onednn_primitive(benchmark::State& state) { time_onednn_matmul(state, dnnl::memory::data_type::f32); }

// The same product with bf16 operands and an f32 result (AMX or AVX512-BF16 kernels where the CPU has them).
// Reported as an error (not run) on CPUs where oneDNN has no bf16 matmul.
void BM_matmul_onednn_bf16(benchmark::State& state) {
    if (!recur::cpu_has_bf16_matmul()) {
        state.SkipWithError("this CPU has no oneDNN bf16 matmul (no AVX512-BF16 or AMX)");
        return;
    }
    time_onednn_matmul(state, dnnl::memory::data_type::bf16);
}

// The same product through oneDNN's BLAS-like dnnl_sgemm (row-major).
void BM_matmul_dnnl_sgemm(benchmark::State& state) {
    const gemm_inputs in(state);
    Tensor c = Tensor::empty({in.m, in.n});
    for (auto _ : state) {
        dnnl_sgemm('N', 'N', in.m, in.n, in.k, 1.0f, in.a.data<float>(), in.k, in.b.data<float>(), in.n, 0.0f,
                   c.data<float>(), in.n);
        benchmark::DoNotOptimize(c.raw_data());
    }
    count_gemm_flops(state, in.m, in.n, in.k);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"M", "N", "K"});
    // Model S's products, and a square one (where oneDNN's f32 kernels reach their best here).
    for (const auto& [m, n, k] : std::vector<std::array<std::int64_t, 3>>{
             {2048, 256, 256}, {2048, 704, 256}, {2048, 256, 704}, {1024, 1024, 1024}})
        b->Args({m, n, k});
    b->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK(BM_matmul_recur)->Apply(gemm_shapes);
BENCHMARK(BM_matmul_onednn_primitive)->Apply(gemm_shapes);
BENCHMARK(BM_matmul_onednn_bf16)->Apply(gemm_shapes);
BENCHMARK(BM_matmul_dnnl_sgemm)->Apply(gemm_shapes);

/// q (B, T, H, D) and k, v (B, T, Hkv, D) leaves that record gradients, plus a fixed dO.
struct attention_inputs {
    Tensor q, k, v, d_o;
    explicit attention_inputs(const benchmark::State& state) {
        const std::int64_t b = state.range(0), h = state.range(1), hkv = state.range(2), t = state.range(3),
                           d = state.range(4);
        recur::rng gen(2);
        q = recur::randn<recur::cpu>({b, t, h, d}, gen).set_requires_grad();
        k = recur::randn<recur::cpu>({b, t, hkv, d}, gen).set_requires_grad();
        v = recur::randn<recur::cpu>({b, t, hkv, d}, gen).set_requires_grad();
        d_o = recur::randn<recur::cpu>({b, t, h, d}, gen);
    }
};

// One training step of the op: forward, then backward into q, k, v (gradients accumulate, as in
// training; the first step's gradient buffers are adopted, later ones are added into).
void BM_attention_fwd_bwd(benchmark::State& state) {
    attention_inputs in(state);
    for (auto _ : state) {
        Tensor o = recur::attention(in.q, in.k, in.v);
        recur::backward(o, in.d_o);
        benchmark::DoNotOptimize(in.q.grad().raw_data());
    }
}

// Forward only, recording nothing (inference / the no_grad recurrence iterations).
void BM_attention_fwd(benchmark::State& state) {
    attention_inputs in(state);
    const recur::no_grad guard;
    for (auto _ : state) {
        Tensor o = recur::attention(in.q, in.k, in.v);
        benchmark::DoNotOptimize(o.raw_data());
    }
}

void attention_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"B", "H", "Hkv", "T", "D"});
    b->Args({8, 8, 8, 256, 32});
    b->Args({8, 8, 4, 256, 32});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_attention_fwd_bwd)->Apply(attention_shapes);
BENCHMARK(BM_attention_fwd)->Apply(attention_shapes);

}  // namespace

BENCHMARK_MAIN();
