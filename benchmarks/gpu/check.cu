// The cuda side of the GPU check (scripts/gpu_check.sh): on the current device, (1) the bf16 dense
// peak a cuBLAS GEMM reaches (8192^3, bf16 operands, f32 accumulation), (2) models S and M trained
// 20 steps in f32 from seed 1 against the cpu losses in expected.json, (3) training steps of
// TinyLlama-1.1B's shape retrofitted as (4, 8, 4) at T 1024 in bf16: tokens/s and MFU against (1),
// (4) greedy decode tokens/s of that model at r = 1, 4, 16. Writes one JSON file; exit status 1 when
// the losses disagree. Usage: gpu_check EXPECTED.json OUT.json [--quick]. Not here: the workloads
// (workload.hpp), building or the op tests (scripts/gpu_check.sh runs those).
#include <cuda_bf16.h>
#include <cublas_v2.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

#include <recur/backends/cuda.hpp>

#include "gpu/workload.hpp"

namespace {

using gpu = recur::cuda;
namespace gc = recur::gpu_check;

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

__global__ void fill_bf16(__nv_bfloat16* x, std::int64_t n, std::uint64_t key) {
    for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
        x[i] = __float2bfloat16(static_cast<float>(recur::keyed::uniform(recur::keyed::mix(key, i)) - 0.5));
}

/// TFLOP/s of an n^3 bf16 GEMM with f32 accumulation (cuBLAS's choice of kernel), best of 10 after 3.
double bf16_peak_tflops(std::int64_t n) {
    recur::cuda_detail::scratch<__nv_bfloat16> a(n * n), b(n * n), c(n * n);
    fill_bf16<<<1024, 256>>>(a.get(), n * n, 1);
    fill_bf16<<<1024, 256>>>(b.get(), n * n, 2);
    const float alpha = 1, beta = 0;
    const int m = static_cast<int>(n);
    const auto run = [&] {
        recur::cuda_detail::cublas_check(
            cublasGemmEx(recur::cuda_detail::cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, m, m, m, &alpha, a.get(),
                         CUDA_R_16BF, m, b.get(), CUDA_R_16BF, m, &beta, c.get(), CUDA_R_16BF, m, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx (bf16 peak)");
    };
    for (int i = 0; i < 3; ++i) run();
    cudaEvent_t start, stop;
    recur::detail::cuda_check(cudaEventCreate(&start), "cudaEventCreate");
    recur::detail::cuda_check(cudaEventCreate(&stop), "cudaEventCreate");
    double best = 0;
    for (int i = 0; i < 10; ++i) {
        cudaEventRecord(start);
        run();
        cudaEventRecord(stop);
        recur::detail::cuda_check(cudaEventSynchronize(stop), "cudaEventSynchronize");
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        best = std::max(best, 2.0 * static_cast<double>(n) * n * n / (ms * 1e-3) / 1e12);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return best;
}

/// A model of shape s with every matrix and embedding drawn on the device (keyed truncated normal,
/// std 0.02) instead of by the host generator, which would take minutes at 1B parameters; norms stay 1.
recur::Recurrent<gpu> device_random_model(const gc::shape& s) {
    recur::Recurrent<gpu> m(s.config, recur::surgery_spec::contiguous(s.prelude, s.core, s.coda), recur::recurrence_options{},
                            recur::rng::for_loading());
    std::uint64_t index = 0;
    m.visit_parameters("", [&](const std::string& name, recur::Tensor<gpu>& p) {
        ++index;
        if (name.find("norm") != std::string::npos) return;
        recur::kernels::keyed_truncated_normal<gpu>::run(
            {.out = p.data<float>(), .batch = 1, .t = 1, .c = p.numel(), .base = index, .pos0 = 0, .std = 0.02});
    });
    return m;
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc < 3 || argc > 4 || (argc == 4 && std::string(argv[3]) != "--quick")) {
        std::cerr << "usage: gpu_check EXPECTED.json OUT.json [--quick]\n";
        return 2;
    }
    const bool quick = argc == 4;
    recur::check(recur::cuda_available(), "gpu_check: no CUDA device");
    nlohmann::ordered_json out;
    cudaDeviceProp prop{};
    recur::detail::cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    out["device"] = {{"name", prop.name}, {"sm", prop.multiProcessorCount},
                     {"memory_gib", static_cast<double>(prop.totalGlobalMem) / (1 << 30)},
                     {"compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor)}};
    std::cerr << "gpu_check: " << prop.name << "\n";

    auto t0 = std::chrono::steady_clock::now();
    const double peak = bf16_peak_tflops(quick ? 4096 : 8192);
    out["bf16_gemm_peak_tflops"] = peak;
    std::cerr << "bf16 GEMM peak: " << peak << " TFLOP/s (" << seconds_since(t0) << " s)\n";

    // (2) the same 20 steps as the cpu, f32.
    nlohmann::json expected;
    std::ifstream(argv[1]) >> expected;
    const std::int64_t steps = expected.at("steps").get<std::int64_t>();
    bool agree = true;
    for (const auto& s : {gc::model_s(), gc::model_m()}) {
        t0 = std::chrono::steady_clock::now();
        const auto got = gc::train_losses<gpu>(s, steps, expected.at("seed").get<std::uint64_t>());
        const auto want = expected.at("losses").at(s.name).get<std::vector<double>>();
        double worst = 0;
        for (std::size_t i = 0; i < got.size() && i < want.size(); ++i)
            worst = std::max(worst, std::abs(got[i] - want[i]) / std::abs(want[i]));
        const double tolerance = 1e-2;  // f32 on both; 20 Muon steps amplify reduction-order differences
        const bool ok = got.size() == want.size() && worst <= tolerance && std::isfinite(worst);
        agree = agree && ok;
        out["losses"][s.name] = {{"cuda", got}, {"cpu", want}, {"max_relative_difference", worst},
                                 {"tolerance", tolerance}, {"agree", ok}, {"seconds", seconds_since(t0)}};
        std::cerr << "model " << s.name << ": max relative loss difference " << worst << (ok ? " (agree)" : " (DISAGREE)")
                  << "\n";
    }

    // (3) and (4): the 1B shape in bf16.
    recur::set_matmul_precision(recur::matmul_precision::bf16);
    auto big = gc::tinyllama_1b();
    if (quick) big.core = 2, big.batch = 1, big.micro_batches = 1, big.seq = 256;
    t0 = std::chrono::steady_clock::now();
    auto model = device_random_model(big);
    const double params = static_cast<double>(recur::parameter_count<gpu>(model));
    std::cerr << big.name << ": " << params / 1e9 << " B parameters built in " << seconds_since(t0) << " s\n";
    const auto speed = gc::time_training<gpu>(model, big, 1, quick ? 1 : 3);
    const double mfu = speed.model_flops_per_s / (peak * 1e12);
    out["train_1b"] = {{"shape", big.name}, {"parameters", params}, {"batch", big.batch}, {"seq", big.seq},
                       {"micro_batches", big.micro_batches}, {"precision", "bf16 operands, f32 accumulation"},
                       {"tokens_per_s", speed.tokens_per_s}, {"seconds_per_step", speed.seconds_per_step},
                       {"model_tflops_per_s", speed.model_flops_per_s / 1e12}, {"mfu", mfu},
                       {"last_loss", speed.last_loss}};
    std::cerr << "train: " << speed.tokens_per_s << " tokens/s, MFU " << 100 * mfu << " %\n";
    for (const std::int64_t r : {1, 4, 16}) {
        const double tps = gc::decode_tokens_per_s<gpu>(model, r, quick ? 8 : 32);
        out["decode_1b"][std::to_string(r)] = tps;
        std::cerr << "decode r " << r << ": " << tps << " tokens/s\n";
    }
    out["losses_agree"] = agree;
    std::ofstream(argv[2]) << out.dump(1) << "\n";
    std::cout << out.dump() << "\n";
    return agree ? 0 : 1;
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
