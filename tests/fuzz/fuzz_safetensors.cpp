// Fuzzes the safetensors reader: the input is a .safetensors file (first byte even) or a sharded
// model.safetensors.index.json beside one valid shard (odd). Not here: the writer (save_safetensors).
#include <recur/backends/reference.hpp>
#include <recur/io/safetensors.hpp>

#include "fuzz_support.hpp"

namespace {

using B = recur::reference;

/// A shard holding "a" (2 x 3, F32) and "b" (4, BF16), as the index's seed points at it.
void write_valid_shard(const std::filesystem::path& path) {
    std::filesystem::create_directories(path.parent_path());
    recur::named_tensors<B> t{{"a", recur::Tensor<B>::from_host(std::vector<float>(6, 1.5f), {2, 3})},
                              {"b", recur::Tensor<B>::from_host(std::vector<float>(4, -2.0f), {4})}};
    recur::save_safetensors<B>(path, t, recur::dtype::bf16);
}

/// Reads every tensor the set says it has, in every way the library offers.
void read_all(const recur::safetensors_set& set) {
    for (const auto& name : set.names()) {
        (void)set.read_f32(name);
        (void)set.tensor<B>(name);
        (void)set.info(name).bytes();
    }
    (void)set.metadata();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    recur::fuzz::input in{{data, size}};
    const auto dir = recur::fuzz::scratch() / "safetensors";
    const bool index = in.select(2) == 1;
    return recur::fuzz::expect_recur_errors([&] {
        if (!index) {
            read_all(recur::safetensors_set(recur::fuzz::write_file(dir / "model.safetensors", in.bytes)));
            return;
        }
        static const bool shard_written = (write_valid_shard(dir / "shard-1.safetensors"), true);
        (void)shard_written;
        read_all(recur::safetensors_set(recur::fuzz::write_file(dir / "model.safetensors.index.json", in.bytes)));
    });
}
