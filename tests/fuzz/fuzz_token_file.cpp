// Fuzzes llm.c token files (256 x int32 header, then uint16 or uint32 ids) as training data reads
// them: the header alone, all ids, and packed into windows. Not here: writing them (write_token_file).
#include <recur/data/packed_tokens.hpp>
#include <recur/io/token_file.hpp>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = recur::fuzz::write_file(recur::fuzz::scratch() / "tokens.bin", {data, size});
    return recur::fuzz::expect_recur_errors([&] {
        (void)recur::read_token_file_info(path);
        (void)recur::read_token_file(path);
        auto packed = recur::packed_tokens::from_file(path, 4, 512, 0);
        (void)packed.next(2);
    });
}
