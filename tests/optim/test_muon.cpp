// newton_schulz: singular values are the quintic's image of the input's, in [0.6, 1.3] but for tiny
// ones (Eigen's SVD in double); two Muon steps equal the update by hand in double, both scale rules.
// Not here: grouping (test_muon_adamw.cpp), state files (test_state.cpp), cpu kernels (test_kernels.cpp).
#include <catch2/catch.hpp>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <optional>

#include <recur/backends/cpu.hpp>
#include <recur/backends/reference.hpp>
#include <recur/optim/muon.hpp>

#include "optim/helpers.hpp"
#include "support/bf16.hpp"
#include "support/compare.hpp"

using namespace recur;
using Catch::Contains;

namespace {

using matrix = std::vector<std::vector<double>>;

matrix product(const matrix& a, const matrix& b) {
    matrix c(a.size(), std::vector<double>(b[0].size(), 0.0));
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t j = 0; j < b[0].size(); ++j)
            for (std::size_t k = 0; k < b.size(); ++k) c[i][j] += a[i][k] * b[k][j];
    return c;
}

matrix transposed(const matrix& a) {
    matrix t(a[0].size(), std::vector<double>(a.size()));
    for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t j = 0; j < a[0].size(); ++j) t[j][i] = a[i][j];
    return t;
}

/// The quintic Newton-Schulz iteration of docs/method.md section 7, step by step in double.
matrix newton_schulz_by_hand(matrix x) {
    double norm = 0;
    for (const auto& row : x)
        for (double v : row) norm += v * v;
    norm = std::sqrt(norm);
    for (auto& row : x)
        for (double& v : row) v /= norm + 1e-7;
    const bool tall = x.size() > x[0].size();
    if (tall) x = transposed(x);
    for (int it = 0; it < 5; ++it) {
        const matrix a = product(x, transposed(x));
        const matrix a2 = product(a, a);
        matrix b = a;
        for (std::size_t i = 0; i < a.size(); ++i)
            for (std::size_t j = 0; j < a.size(); ++j) b[i][j] = -4.7750 * a[i][j] + 2.0315 * a2[i][j];
        const matrix bx = product(b, x);
        for (std::size_t i = 0; i < x.size(); ++i)
            for (std::size_t j = 0; j < x[0].size(); ++j) x[i][j] = 3.4445 * x[i][j] + bx[i][j];
    }
    return tall ? transposed(x) : x;
}

matrix as_matrix(const std::vector<double>& v, std::size_t rows, std::size_t cols) {
    matrix m(rows, std::vector<double>(cols));
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) m[i][j] = v[i * cols + j];
    return m;
}

std::vector<double> flat(const matrix& m) {
    std::vector<double> v;
    for (const auto& row : m) v.insert(v.end(), row.begin(), row.end());
    return v;
}

/// The quintic iterated five times on one value: what newton_schulz does to each singular value of
/// g / ||g||_F.
double quintic5(double x) {
    for (int i = 0; i < 5; ++i) x = 3.4445 * x - 4.7750 * x * x * x + 2.0315 * x * x * x * x * x;
    return x;
}

/// Singular values of newton_schulz(g) for a random g, in double by Eigen, against [0.6, 1.3] and
/// against the quintic applied to g's own singular values. The interval holds for every singular
/// value of g / ||g||_F above 0.0013 (quintic5 is then in [0.600, 1.203]); smaller ones are only
/// multiplied by about 3.4445^5 = 487. Random square matrices often have such a singular value (about
/// half of Gaussian 64 x 64 ones do), so only the singular values from above 0.0013 must be in it.
template <class B>
void check_singular_values(std::int64_t rows, std::int64_t cols, double margin = 2e-3) {
    using row_major = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    rng gen(static_cast<std::uint64_t>(rows * 1000 + cols));
    const Tensor<B> g = randn<B>({rows, cols}, gen);
    const Tensor<B> x = newton_schulz(g);
    REQUIRE(x.shape() == g.shape());
    const auto gv = g.template to_host<double>(), xv = x.template to_host<double>();
    const Eigen::MatrixXd gm = Eigen::Map<const row_major>(gv.data(), rows, cols);
    const Eigen::VectorXd in = Eigen::BDCSVD<Eigen::MatrixXd>(gm).singularValues() / (gm.norm() + 1e-7);
    const Eigen::VectorXd out = Eigen::BDCSVD<Eigen::MatrixXd>(Eigen::Map<const row_major>(xv.data(), rows, cols)).singularValues();
    REQUIRE(out.size() == std::min(rows, cols));
    std::vector<double> want(static_cast<std::size_t>(in.size())), got(out.begin(), out.end());
    for (Eigen::Index i = 0; i < in.size(); ++i) want[static_cast<std::size_t>(i)] = quintic5(in[i]);
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    INFO(B::name << " (" << rows << ", " << cols << "): singular values in [" << got.front() << ", " << got.back()
                 << "], smallest of g / ||g||_F " << in.minCoeff());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(margin));
    CHECK(got.back() <= 1.3);
    const auto tiny = std::count_if(in.begin(), in.end(), [](double s) { return s < 0.0013; });
    CHECK(std::count_if(got.begin(), got.end(), [](double s) { return s < 0.6; }) == tiny);
    if (rows != cols) CHECK(tiny == 0);
}

/// Two Muon steps on a (rows, cols) matrix against the same two steps by hand.
template <class B>
void check_muon_by_hand(std::size_t rows, std::size_t cols, muon_scale rule, double tolerance) {
    const std::size_t n = rows * cols;
    std::vector<double> w0(n), g1(n), g2(n);
    for (std::size_t i = 0; i < n; ++i) {
        w0[i] = 0.3 * std::sin(1.0 + static_cast<double>(i));
        g1[i] = std::cos(0.7 * static_cast<double>(i * i) + 0.2);
        g2[i] = 0.5 - 0.25 * static_cast<double>(i % 3) + 0.1 * static_cast<double>(i);
    }
    muon_options o;
    o.lr = 0.02;
    o.weight_decay = 0.5;
    o.scale = rule;
    const double beta = o.momentum, multipliers[2] = {1.0, 0.5};
    const double s = rule == muon_scale::spectral ? std::sqrt(std::max(1.0, double(rows) / double(cols)))
                                                  : 0.2 * std::sqrt(double(std::max(rows, cols)));

    std::vector<double> w = w0, m(n, 0.0);
    for (int t = 0; t < 2; ++t) {
        const auto& g = t == 0 ? g1 : g2;
        std::vector<double> u(n);
        for (std::size_t i = 0; i < n; ++i) {
            m[i] = beta * m[i] + (1 - beta) * g[i];
            u[i] = (1 - beta) * g[i] + beta * m[i];
        }
        const auto x = flat(newton_schulz_by_hand(as_matrix(u, rows, cols)));
        const double lr = o.lr * multipliers[t];
        for (std::size_t i = 0; i < n; ++i) w[i] = w[i] * (1 - lr * o.weight_decay) - lr * s * x[i];
    }

    const auto shape = Shape{static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)};
    Tensor<B> p = test::parameter<B>(w0, shape);
    muon<B> opt({{"w", &p}}, o);
    for (int t = 0; t < 2; ++t) {
        test::set_grad(p, t == 0 ? g1 : g2);
        opt.step(multipliers[t]);
    }
    CHECK(opt.steps() == 2);
    const auto got = p.template to_host<double>();
    INFO(B::name << " (" << rows << ", " << cols << ") scale rule " << static_cast<int>(rule));
    CHECK(test::relative_error(got, w) < tolerance);
    // The update is visible: the result is far from the start relative to the tolerance.
    CHECK(test::relative_error(w0, w) > 100 * tolerance);
}

}  // namespace

TEST_CASE("newton_schulz leaves the singular values of random matrices in [0.6, 1.3] above 0.0013 ||g||_F", "[optim][muon]") {
    for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{64, 64}, {64, 256}, {256, 64}}) {
        check_singular_values<reference>(rows, cols);
        check_singular_values<cpu>(rows, cols);
    }
}

TEST_CASE("newton_schulz in bf16 GEMMs still maps the singular values by the quintic, within bf16's error", "[optim][muon][bf16]") {
    const matmul_precision_scope bf16(matmul_precision::bf16);
    for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{64, 256}, {256, 64}, {256, 704}}) {
        check_singular_values<reference>(rows, cols, 3e-2);
        if (test::cpu_runs_bf16("newton_schulz on the cpu in bf16")) check_singular_values<cpu>(rows, cols, 3e-2);
    }
}

TEST_CASE("newton_schulz equals the iteration by hand, tall and wide, contiguous or a transposed view", "[optim][muon]") {
    const std::vector<double> v{0.5, -1.0, 2.0, 0.25, 1.5, -0.75};
    for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{3, 2}, {2, 3}}) {
        const matrix m = as_matrix(v, std::size_t(rows), std::size_t(cols));
        const auto g = Tensor<reference64>::from_host(v, {rows, cols});
        CHECK(test::relative_error(newton_schulz(g).to_host<double>(), flat(newton_schulz_by_hand(m))) < 1e-13);
        const Tensor<reference64> view = g.transpose();  // (cols, rows), not contiguous
        REQUIRE_FALSE(view.is_contiguous());
        CHECK(test::relative_error(newton_schulz(view).to_host<double>(), flat(newton_schulz_by_hand(transposed(m)))) < 1e-13);
    }
}

TEST_CASE("newton_schulz on a stack equals each matrix on its own, tall and wide, both backends", "[optim][muon]") {
    const auto check_stack = [&]<class B>(B, double tolerance) {
        for (const auto& [rows, cols] : {std::pair<std::int64_t, std::int64_t>{24, 40}, {40, 24}}) {
            rng gen(static_cast<std::uint64_t>(rows));
            const Tensor<B> stack = randn<B>({3, rows, cols}, gen, 0.0, 1.0);
            const Tensor<B> got = newton_schulz(stack);
            REQUIRE(got.shape() == stack.shape());
            for (std::int64_t i = 0; i < 3; ++i) {
                INFO(B::name << " (" << rows << ", " << cols << ") item " << i);
                const auto want = newton_schulz(reshape(slice(stack, 0, i, 1), {rows, cols})).template to_host<double>();
                CHECK(test::relative_error(slice(got, 0, i, 1).template to_host<double>(), want) < tolerance);
            }
        }
    };
    check_stack(reference64{}, 1e-13);
    check_stack(cpu{}, 1e-5);
}

TEST_CASE("newton_schulz records nothing and rejects what is not a matrix", "[optim][muon]") {
    rng gen(3);
    Tensor<reference> g = randn<reference>({4, 6}, gen).set_requires_grad();
    CHECK_FALSE(newton_schulz(g).requires_grad());
    CHECK_THROWS_WITH(newton_schulz(randn<reference>({2, 3, 4, 5}, gen)), Contains("needs a matrix") && Contains("(2, 3, 4, 5)"));
    CHECK_THROWS_AS(newton_schulz(g, -1), recur::error);
}

TEST_CASE("two Muon steps equal the update by hand in double, both scale rules, with weight decay", "[optim][muon]") {
    for (const auto rule : {muon_scale::spectral, muon_scale::match_adamw}) {
        for (const auto& [rows, cols] : {std::pair<std::size_t, std::size_t>{3, 2}, {2, 3}}) {
            check_muon_by_hand<reference64>(rows, cols, rule, 1e-12);
            check_muon_by_hand<reference>(rows, cols, rule, 1e-5);
            check_muon_by_hand<cpu>(rows, cols, rule, 1e-5);
        }
    }
}

TEST_CASE("Muon's ns_precision sets Newton-Schulz's GEMMs alone, whatever the process-wide precision", "[optim][muon][bf16]") {
    const auto check_backend = [&]<class B>(B) {
        const Shape shape{24, 40};
        rng gen(5);
        const auto w0 = randn<B>(shape, gen).template to_host<double>(), g = randn<B>(shape, gen).template to_host<double>();
        // The weights after one step with `ns` under the process-wide `global`.
        const auto step = [&](std::optional<matmul_precision> ns, matmul_precision global) {
            const matmul_precision_scope scope(global);
            Tensor<B> p = test::parameter<B>(w0, shape);
            muon_options o;
            o.lr = 0.05;
            o.ns_precision = ns;
            muon<B> opt({{"w", &p}}, o);
            test::set_grad(p, g);
            opt.step();
            return p.template to_host<double>();
        };
        const auto f32 = step(std::nullopt, matmul_precision::f32);
        const auto bf16 = step(std::nullopt, matmul_precision::bf16);
        INFO(B::name);
        CHECK(step(matmul_precision::bf16, matmul_precision::f32) == bf16);
        CHECK(step(matmul_precision::f32, matmul_precision::bf16) == f32);
        // bf16 really rounds, by about its precision relative to the update (lr * ||x|| ~ 0.05 ||x||).
        const double moved = test::relative_error(f32, w0), diff = test::relative_error(bf16, f32);
        CHECK(diff > 1e-3 * moved);
        CHECK(diff < 3e-2 * moved);
    };
    check_backend(reference{});
    if (test::cpu_runs_bf16("Muon's bf16 Newton-Schulz on the cpu")) check_backend(cpu{});
}

TEST_CASE("muon_scale_factor: spectral sqrt(max(1, rows/cols)), match_adamw 0.2 sqrt(max(rows, cols))", "[optim][muon]") {
    CHECK(muon_scale_factor(muon_scale::spectral, 256, 64) == Approx(2.0));
    CHECK(muon_scale_factor(muon_scale::spectral, 64, 256) == Approx(1.0));
    CHECK(muon_scale_factor(muon_scale::match_adamw, 64, 256) == Approx(3.2));
    CHECK(muon_scale_factor(muon_scale::match_adamw, 256, 64) == Approx(3.2));
}

TEST_CASE("Muon takes 2-D parameters only and skips parameters without a gradient", "[optim][muon]") {
    Tensor<reference> bias = test::parameter<reference>({1, 2, 3}, {3});
    CHECK_THROWS_WITH(muon<reference>({{"layers.0.mlp.bias", &bias}}),
                      Contains("'layers.0.mlp.bias'") && Contains("2-D") && Contains("(3)"));
    Tensor<reference> w = test::parameter<reference>({1, 2, 3, 4}, {2, 2});
    muon<reference> opt({{"w", &w}});
    opt.step();
    CHECK(w.to_host<double>() == std::vector<double>{1, 2, 3, 4});
    CHECK(opt.steps() == 1);
    CHECK_THROWS_WITH(opt.step(-1.0), Contains("lr_multiplier"));
}
