// The cpu side of the GPU check: trains models S and M for 20 steps from seed 1 on the cpu backend
// (f32) and writes each step's loss as JSON; benchmarks/gpu/expected.json holds its output, which
// check.cu compares cuda's losses against on a GPU machine that has no oneDNN.
// Usage: gpu_expected OUT.json [STEPS]. Not here: the workloads (workload.hpp).
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <recur/backends/cpu.hpp>

#include "gpu/workload.hpp"

int main(int argc, char** argv) try {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: gpu_expected OUT.json [STEPS]\n";
        return 2;
    }
    const std::int64_t steps = argc == 3 ? std::stoll(argv[2]) : 20;
    nlohmann::ordered_json out{{"backend", "cpu"}, {"precision", "f32"}, {"seed", 1}, {"steps", steps}};
    for (const auto& s : {recur::gpu_check::model_s(), recur::gpu_check::model_m()}) {
        out["losses"][s.name] = recur::gpu_check::train_losses<recur::cpu>(s, steps, 1);
        std::cerr << "model " << s.name << ": " << out["losses"][s.name].dump() << "\n";
    }
    std::ofstream(argv[1]) << out.dump(1) << "\n";
    return 0;
} catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
