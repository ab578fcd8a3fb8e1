// Uses installed recur headers: a tiny forward/backward on the reference backend, and the same on
// the cpu backend when it was installed, and checks that both agree.
#include <cmath>
#include <cstdio>

#include <recur/backends/reference.hpp>
#if CONSUMER_HAS_CPU
#include <recur/backends/cpu.hpp>
#endif

template <class B>
double loss_and_grad(double* grad0) {
    recur::rng gen(3);
    auto w = recur::randn<B>({4, 3}, gen).set_requires_grad();
    const auto x = recur::randn<B>({2, 3}, gen);
    auto loss = recur::mean(recur::silu(recur::linear(x, w)));
    recur::backward(loss);
    *grad0 = w.grad().template to_host<double>()[0];
    return loss.item();
}

int main() {
    double g_ref = 0;
    const double l_ref = loss_and_grad<recur::reference>(&g_ref);
    std::printf("reference: loss %.6f grad[0] %.6f\n", l_ref, g_ref);
#if CONSUMER_HAS_CPU
    double g_cpu = 0;
    const double l_cpu = loss_and_grad<recur::cpu>(&g_cpu);
    std::printf("cpu:       loss %.6f grad[0] %.6f\n", l_cpu, g_cpu);
    if (std::abs(l_cpu - l_ref) > 1e-5 || std::abs(g_cpu - g_ref) > 1e-5) return 1;
#endif
    return std::isfinite(l_ref) ? 0 : 1;
}
