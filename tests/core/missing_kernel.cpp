// Must NOT compile: a backend with allocation but no kernels. The build is run by ctest, which
// expects the static_assert message naming the missing kernel.
#include <recur/recur.hpp>

struct bare_backend : recur::host_memory {  // memory and copies, but not a single kernel
    using scalar = float;
    static constexpr std::string_view name = "bare";
};
static_assert(recur::Backend<bare_backend>);

int main() {
    recur::Tensor<bare_backend> x = recur::Tensor<bare_backend>::empty({2, 3});
    auto w = recur::Tensor<bare_backend>::empty({3});
    return static_cast<int>(recur::rms_norm(x, w, 1e-5).numel());
}
