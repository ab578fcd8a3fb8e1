// Must NOT compile: a backend with allocation but no kernels. The build is run by ctest, which
// expects the static_assert message naming the missing kernel.
#include <cstdlib>
#include <cstring>

#include <recur/recur.hpp>

struct bare_backend {
    using scalar = float;
    static constexpr std::string_view name = "bare";
    static constexpr bool is_host = true;
    static void* allocate(std::size_t n) { return std::malloc(n); }
    static void deallocate(void* p, std::size_t) noexcept { std::free(p); }
    static void copy_from_host(void* d, const void* s, std::size_t n) { std::memcpy(d, s, n); }
    static void copy_to_host(void* d, const void* s, std::size_t n) { std::memcpy(d, s, n); }
    static void copy(void* d, const void* s, std::size_t n) { std::memcpy(d, s, n); }
};
static_assert(recur::Backend<bare_backend>);

int main() {
    recur::Tensor<bare_backend> x = recur::Tensor<bare_backend>::empty({2, 3});
    auto w = recur::Tensor<bare_backend>::empty({3});
    return static_cast<int>(recur::rms_norm(x, w, 1e-5).numel());
}
