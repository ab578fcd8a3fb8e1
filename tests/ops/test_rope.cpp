// RoPE semantics beyond gradients: the tables equal llama2.c's stored freq_cis for stories260K,
// the two layouts are the same rotation up to a permutation, and Llama-3 scaling's three regimes.
// Not here: gradient checks and backend comparisons (the shared op table covers rope).
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <numbers>
#include <vector>

#include <recur/backends/reference.hpp>

using namespace recur;
using B = reference64;

TEST_CASE("rope tables equal the freq_cis stored in the stories260K llama2.c checkpoint", "[rope][data]") {
    const std::string path = RECUR_SHARED_DATA "/stories260K.bin";
    std::ifstream f(path, std::ios::binary);
    INFO("reading '" << path << "' (the shared data are described in ../shared/data/README.md)");
    REQUIRE(f.good());
    // Header: dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, seq_len 512 -> head_dim 8.
    const std::int64_t dim = 64, hidden = 172, layers = 5, kv_dim = 32, vocab = 512, seq = 512, half = 4;
    const std::int64_t floats_before = vocab * dim + layers * dim + layers * dim * dim + 2 * layers * kv_dim * dim +
                                       layers * dim * dim + layers * dim + 3 * layers * hidden * dim + dim;
    f.seekg(28 + 4 * floats_before);
    std::vector<float> re(static_cast<std::size_t>(seq * half)), im(re.size());
    f.read(reinterpret_cast<char*>(re.data()), static_cast<std::streamsize>(4 * re.size()));
    f.read(reinterpret_cast<char*>(im.data()), static_cast<std::streamsize>(4 * im.size()));
    REQUIRE(f.good());

    const rope_table<B> table({10000.0, rope_layout::interleaved, {}}, 8, seq);
    const auto c = table.cos.to_host<double>(), s = table.sin.to_host<double>();
    double worst = 0;
    for (std::size_t i = 0; i < re.size(); ++i)
        worst = std::max({worst, std::abs(c[i] - re[i]), std::abs(s[i] - im[i])});
    CHECK(worst < 1e-5);
}

TEST_CASE("interleaved and rotate-half layouts are one rotation up to a permutation", "[rope]") {
    rng gen(5);
    const std::int64_t T = 6, H = 2, D = 8;
    const auto x = randn<B>({1, T, H, D}, gen);
    const auto xv = x.to_host<double>();
    // Permute each head's (2i, 2i+1) pairs to positions (i, i + D/2).
    std::vector<double> permuted(xv.size());
    for (std::int64_t r = 0; r < T * H; ++r)
        for (std::int64_t i = 0; i < D / 2; ++i) {
            permuted[static_cast<std::size_t>(r * D + i)] = xv[static_cast<std::size_t>(r * D + 2 * i)];
            permuted[static_cast<std::size_t>(r * D + i + D / 2)] = xv[static_cast<std::size_t>(r * D + 2 * i + 1)];
        }
    const auto inter = rope(x, rope_table<B>({100.0, rope_layout::interleaved, {}}, D, T)).to_host<double>();
    const auto half = rope(Tensor<B>::from_host(permuted, x.shape()), rope_table<B>({100.0, rope_layout::half, {}}, D, T))
                          .to_host<double>();
    for (std::int64_t r = 0; r < T * H; ++r)
        for (std::int64_t i = 0; i < D / 2; ++i) {
            CHECK(inter[static_cast<std::size_t>(r * D + 2 * i)] == Approx(half[static_cast<std::size_t>(r * D + i)]));
            CHECK(inter[static_cast<std::size_t>(r * D + 2 * i + 1)] == Approx(half[static_cast<std::size_t>(r * D + i + D / 2)]));
        }
}

TEST_CASE("rotate-half rope at position p rotates (x_i, x_{i+D/2}) by p * theta^(-2i/D)", "[rope]") {
    const std::int64_t D = 4;
    const auto x = Tensor<B>::from_host(std::vector<double>{1, 2, 3, 4, 1, 2, 3, 4}, {1, 2, 1, D});
    const auto y = rope(x, rope_table<B>({10000.0, rope_layout::half, {}}, D, 2)).to_host<double>();
    CHECK(y[0] == 1);  // position 0 is the identity
    CHECK(y[3] == 4);
    const double a0 = 1.0, a1 = std::pow(10000.0, -0.5);  // position 1, frequencies i = 0, 1
    CHECK(y[4] == Approx(1 * std::cos(a0) - 3 * std::sin(a0)));
    CHECK(y[6] == Approx(3 * std::cos(a0) + 1 * std::sin(a0)));
    CHECK(y[5] == Approx(2 * std::cos(a1) - 4 * std::sin(a1)));
    CHECK(y[7] == Approx(4 * std::cos(a1) + 2 * std::sin(a1)));
}

TEST_CASE("llama3 rope scaling keeps high frequencies, divides low ones, blends the middle", "[rope]") {
    // Llama-3.2-1B: theta 500000, head_dim 64, factor 32, low 1, high 4, original context 8192.
    const rope_config plain{500000.0, rope_layout::half, {}};
    const rope_config scaled{500000.0, rope_layout::half, llama3_rope_scaling{32, 1, 4, 8192}};
    const auto f0 = rope_inv_freq(plain, 64), f1 = rope_inv_freq(scaled, 64);
    int kept = 0, divided = 0, blended = 0;
    for (std::size_t i = 0; i < f0.size(); ++i) {
        const double wavelen = 2 * std::numbers::pi / f0[i];
        if (wavelen < 8192.0 / 4) {
            CHECK(f1[i] == f0[i]);
            ++kept;
        } else if (wavelen > 8192.0 / 1) {
            CHECK(f1[i] == Approx(f0[i] / 32));
            ++divided;
        } else {
            CHECK(f1[i] < f0[i]);
            CHECK(f1[i] > f0[i] / 32);
            ++blended;
        }
    }
    CHECK(kept > 0);
    CHECK(divided > 0);
    CHECK(blended > 0);
    CHECK(f1[0] == 1.0);
}
