// The cuda entry points of a `recur` built without nvcc: each says so. main.cpp refuses --device cuda
// first, so these are reached only if a command forgets to ask built_with_cuda().
// Not here: the real ones (cuda_commands.cu).
#include "commands.hpp"
#include "generate_on.hpp"
#include "train_on.hpp"

namespace recur_cli {

namespace {
[[noreturn]] void no_cuda() {
    throw usage_error("--device cuda: this recur was built without the cuda backend (CMake found no nvcc); "
                      "rebuild where /usr/local/cuda/bin/nvcc exists, or use --device cpu");
}
}  // namespace

bool built_with_cuda() { return false; }
int generate_on_cuda(const generate_options&) { no_cuda(); }
train_outcome train_on_cuda(const train_options&, const train_control&) { no_cuda(); }

}  // namespace recur_cli
