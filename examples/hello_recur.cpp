// Placeholder main job until the retrofit demos land: fits a small SwiGLU regression with plain SGD
// on the cpu backend and checks one step against the reference backend.
// Not here: transformer modules, recurrence, real data (later issues).
#include <cmath>
#include <cstdio>
#include <vector>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>

namespace {

template <class B>
struct mlp {
    recur::Tensor<B> gate, up, down;  // (F, C), (F, C), (C, F)

    explicit mlp(std::uint64_t seed, std::int64_t c = 32, std::int64_t f = 64) {
        recur::rng gen(seed);
        gate = recur::randn<B>({f, c}, gen, 0, 1 / std::sqrt(double(c))).set_requires_grad();
        up = recur::randn<B>({f, c}, gen, 0, 1 / std::sqrt(double(c))).set_requires_grad();
        down = recur::randn<B>({c, f}, gen, 0, 1 / std::sqrt(double(f))).set_requires_grad();
    }
    recur::Tensor<B> forward(const recur::Tensor<B>& x) const {  // x (N, C)
        return recur::linear(recur::swiglu(recur::linear(x, gate), recur::linear(x, up)), down);
    }
    void sgd(double lr) {
        recur::no_grad guard;
        for (auto* p : {&gate, &up, &down}) {
            auto d = p->grad().template to_host<float>();
            auto w = p->template to_host<float>();
            for (std::size_t i = 0; i < w.size(); ++i) w[i] -= static_cast<float>(lr) * d[i];
            *p = recur::Tensor<B>::from_host(w, p->shape()).set_requires_grad();
        }
    }
};

template <class B>
double step(mlp<B>& m, const recur::Tensor<B>& x, const recur::Tensor<B>& y, double lr) {
    auto diff = recur::add(m.forward(x), recur::scale(y, -1.0));
    auto loss = recur::mean(recur::mul(diff, diff));
    recur::backward(loss);
    m.sgd(lr);
    return loss.item();
}

}  // namespace

int main() {
    recur::rng gen(0);
    const auto x = recur::randn<recur::cpu>({256, 32}, gen);
    const auto y = recur::silu(recur::scale(x, 2.0));  // target: a smooth function of x

    mlp<recur::cpu> model(1);
    mlp<recur::reference> oracle(1);
    const auto xr = recur::Tensor<recur::reference>::from_host(x.to_host<float>(), x.shape());
    const auto yr = recur::Tensor<recur::reference>::from_host(y.to_host<float>(), y.shape());
    const double first_cpu = step(model, x, y, 0.5), first_ref = step(oracle, xr, yr, 0.5);
    std::printf("step   0: loss %.5f (reference backend %.5f)\n", first_cpu, first_ref);
    double loss = first_cpu;
    for (int s = 1; s <= 200; ++s) {
        loss = step(model, x, y, 0.5);
        if (s % 50 == 0) std::printf("step %3d: loss %.5f\n", s, loss);
    }
    const bool agree = std::abs(first_cpu - first_ref) < 1e-4 * std::max(1.0, first_ref);
    std::printf("cpu and reference agree on step 0: %s; loss fell %.1fx\n", agree ? "yes" : "NO", first_cpu / loss);
    return agree && loss < first_cpu ? 0 : 1;
}
