// Recurrent-model benchmarks on the cpu backend: one core iteration (adapter + 2 Llama blocks) forward
// and forward+backward at B=8, T=256, d=256, a training step of model "S" (forward + backward) and
// its optimizer step alone. Tokens/s as counters. Not here: PyTorch (peer_torch_model.py).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <recur/backends/cpu.hpp>
#include <recur/optim/muon_adamw.hpp>

namespace {

using B = recur::cpu;
using Tensor = recur::Tensor<B>;

/// Model "S": vocab 4096, d 256, 8 heads, 4 kv heads, ffn 704, (P, R, C) = (2, 2, 2).
recur::model_config model_s() {
    recur::model_config c;
    c.vocab_size = 4096;
    c.d_model = 256;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.ffn_dim = 704;
    c.max_seq_len = 256;
    return c;
}

constexpr std::int64_t batch = 8, seq = 256;

/// (batch, seq) token ids uniform over model S's vocabulary.
Tensor random_ids(std::uint64_t seed) {
    recur::rng gen(seed);
    std::vector<std::int32_t> ids(batch * seq);
    for (auto& x : ids) x = static_cast<std::int32_t>(gen.next() % 4096);
    return Tensor::from_host(ids, {batch, seq});
}

void count_tokens(benchmark::State& state, double tokens_per_iteration) {
    state.counters["tokens_per_s"] = benchmark::Counter(tokens_per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

/// One recurrence iteration: core(adapter([s ; e])) with the two core blocks of model S.
struct core_iteration {
    recur::Linear<B> adapter;
    recur::Stack<recur::LlamaBlock<B>> core;
    Tensor s, e;
    core_iteration() {
        const auto c = model_s();
        recur::rng gen(1);
        const auto rope = std::make_shared<const recur::rope_table<B>>(c.rope, c.resolved_head_dim(), c.max_seq_len);
        adapter = recur::Linear<B>(2 * c.d_model, c.d_model, false, gen);
        core = recur::Stack<recur::LlamaBlock<B>>(2, 0, c, rope, gen);
        s = recur::randn<B>({batch, seq, c.d_model}, gen).set_requires_grad();
        e = recur::randn<B>({batch, seq, c.d_model}, gen).set_requires_grad();
    }
    Tensor run() const { return core.forward(adapter.forward(recur::concat({s, e}))); }
};

void BM_core_iteration_fwd(benchmark::State& state) {
    const core_iteration it;
    const recur::no_grad off;
    for (auto _ : state) benchmark::DoNotOptimize(it.run().raw_data());
    count_tokens(state, batch * seq);
}

void BM_core_iteration_fwd_bwd(benchmark::State& state) {
    const core_iteration it;
    const Tensor seed = Tensor::full({batch, seq, model_s().d_model}, 1e-3);
    for (auto _ : state) recur::backward(it.run(), seed);
    count_tokens(state, batch * seq);
}

/// Model S training step at r = 4 (n = 0, k = 4): forward, loss, backward (the optimizer: below).
void BM_model_s_train_step(benchmark::State& state) {
    const std::int64_t n = state.range(0), k = state.range(1);
    recur::Recurrent<B> m(model_s(), 2, 2, 2, recur::recurrence_options{}, 1);
    const auto ti = random_ids(2), tt = random_ids(5);
    std::uint64_t step = 0;
    for (auto _ : state) {
        recur::backward(m.loss(ti, tt, {n, k}, step++));
        recur::zero_grad<B>(m);
    }
    count_tokens(state, batch * seq);
}

/// Model S's Muon + AdamW step alone (gradients from one backward, kept), Newton-Schulz's GEMMs in
/// f32 (0) or bf16 (1).
void BM_model_s_optimizer_step(benchmark::State& state) {
    recur::Recurrent<B> m(model_s(), 2, 2, 2, recur::recurrence_options{}, 1);
    const auto ti = random_ids(4);
    recur::backward(m.loss(ti, ti, {0, 4}));
    recur::muon_adamw_options options;
    options.muon.ns_precision = state.range(0) ? recur::matmul_precision::bf16 : recur::matmul_precision::f32;
    recur::muon_adamw<B> opt(recur::named_parameters<B>(m), options);
    for (auto _ : state) opt.step(1e-3);
}

/// Model S inference forward at r iterations.
void BM_model_s_forward(benchmark::State& state) {
    recur::Recurrent<B> m(model_s(), 2, 2, 2, recur::recurrence_options{}, 1);
    const auto ti = random_ids(3);
    const recur::no_grad off;
    for (auto _ : state) benchmark::DoNotOptimize(m.forward(ti, state.range(0)).raw_data());
    count_tokens(state, batch * seq);
}

}  // namespace

BENCHMARK(BM_core_iteration_fwd)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_core_iteration_fwd_bwd)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_model_s_train_step)->ArgNames({"n", "k"})->Args({0, 4})->Args({4, 4})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_model_s_optimizer_step)->ArgName("ns_bf16")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_model_s_forward)->ArgName("r")->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
