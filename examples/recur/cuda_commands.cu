// The `recur` commands' work on the cuda backend, compiled by nvcc when CMake finds it: the same
// templates the cpu commands run (generate_on.hpp, train_on.hpp), instantiated for recur::cuda.
// Not here: the command line (cmd_<name>.cpp), the cpu instantiations.
#include <recur/backends/cuda.hpp>

#include "generate_on.hpp"
#include "train_on.hpp"

namespace recur_cli {

bool built_with_cuda() { return true; }

int generate_on_cuda(const generate_options& o) { return generate_on<recur::cuda>(o); }

train_outcome train_on_cuda(const train_options& o, const train_control& control) {
    return train_on<recur::cuda>(o, control);
}

}  // namespace recur_cli
