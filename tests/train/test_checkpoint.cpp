// Checkpoint folders: a write that fails part-way leaves the previous checkpoint named by `latest`
// and intact; re-writing the latest step swaps folders; old checkpoints are pruned; a `latest` naming
// a missing folder is an io_error. Not here: what a trainer puts in a checkpoint (test_trainer.cpp),
// failures of the system calls themselves (tests/cli/test_cli_faults.cpp injects them).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>

#include <recur/train/checkpoint.hpp>

#include "support/scratch_dir.hpp"

using namespace recur;
using Catch::Contains;

namespace {
checkpoint_file text_file(const std::string& name, const std::string& text) {
    return {name, [text](const std::filesystem::path& p) { write_file_atomically(p, text); }};
}
std::string read(const std::filesystem::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("an interrupted checkpoint write leaves the previous checkpoint current and intact", "[train][checkpoint]") {
    const test::scratch_dir root("recur_test_checkpoint");
    CHECK_FALSE(latest_checkpoint(root.path()).has_value());
    const auto first = write_checkpoint(root.path(), 10, {text_file("a.txt", "ten"), text_file("b.txt", "TEN")});
    CHECK(first.filename() == "step-00000010");
    CHECK(*latest_checkpoint(root.path()) == first);

    // The second write dies after its first file, as a crash or a full disk would.
    const std::vector<checkpoint_file> dying{
        text_file("a.txt", "twenty"),
        {"b.txt", [](const std::filesystem::path& p) {
             std::ofstream(p) << "TWE";  // a torn file
             throw io_error("simulated crash while writing '" + p.string() + "'");
         }}};
    CHECK_THROWS_AS(write_checkpoint(root.path(), 20, dying), io_error);
    CHECK(*latest_checkpoint(root.path()) == first);
    CHECK(read(first / "a.txt") == "ten");
    CHECK(read(first / "b.txt") == "TEN");
    CHECK_FALSE(std::filesystem::exists(root.path() / "step-00000020"));

    // A crash that left a temporary folder behind (no exception to clean up) is ignored, then swept.
    std::filesystem::create_directories(root.path() / ".tmp-step-00000020");
    std::ofstream(root.path() / ".tmp-step-00000020" / "a.txt") << "junk";
    CHECK(*latest_checkpoint(root.path()) == first);
    const auto second = write_checkpoint(root.path(), 20, {text_file("a.txt", "twenty"), text_file("b.txt", "TWENTY")});
    CHECK(*latest_checkpoint(root.path()) == second);
    CHECK(read(second / "b.txt") == "TWENTY");
    CHECK_FALSE(std::filesystem::exists(root.path() / ".tmp-step-00000020"));
}

TEST_CASE("old checkpoints are pruned to the newest `keep`", "[train][checkpoint]") {
    const test::scratch_dir root("recur_test_checkpoint_keep");
    for (std::int64_t s : {1, 2, 3, 4}) write_checkpoint(root.path(), s, {text_file("x", std::to_string(s))}, 2);
    CHECK_FALSE(std::filesystem::exists(root.path() / "step-00000001"));
    CHECK_FALSE(std::filesystem::exists(root.path() / "step-00000002"));
    CHECK(read(root.path() / "step-00000003" / "x") == "3");
    CHECK(read(*latest_checkpoint(root.path()) / "x") == "4");
}

TEST_CASE("a latest pointer to nothing is an io_error naming it", "[train][checkpoint][errors]") {
    const test::scratch_dir root("recur_test_checkpoint_bad");
    root.write("latest", "step-00000007\n");
    CHECK_THROWS_AS(latest_checkpoint(root.path()), io_error);
    CHECK_THROWS_WITH(latest_checkpoint(root.path()), Contains("latest") && Contains("step-00000007"));
    root.write("latest", "../../etc\n");
    CHECK_THROWS_WITH(latest_checkpoint(root.path()), Contains("does not name a checkpoint"));
    // A NUL would cut the path short at the operating system: step-00000003 exists, the name is not it
    // (a fuzz finding: the checkpoint folder itself was then read as trainer_state.json).
    std::filesystem::create_directories(root.path() / "step-00000003");
    root.write("latest", std::string("step-00000003\0{x\n", 17));
    CHECK_THROWS_WITH(latest_checkpoint(root.path()), Contains("does not name a checkpoint") && Contains("\\u0000"));
    root.write("latest", "step-\n");
    CHECK_THROWS_WITH(latest_checkpoint(root.path()), Contains("does not name a checkpoint"));
    root.write("latest", "step-00000003\n");
    CHECK(*latest_checkpoint(root.path()) == root.path() / "step-00000003");
}

TEST_CASE("writing the latest step again replaces it in one exchange, stale temporaries are swept", "[train][checkpoint]") {
    const test::scratch_dir root("recur_test_checkpoint_again");
    write_checkpoint(root.path(), 10, {text_file("a.txt", "old"), text_file("only-old.txt", "x")});
    root.write(".tmp-latest.12345", "junk");  // what a writer killed mid-way leaves
    const auto again = write_checkpoint(root.path(), 10, {text_file("a.txt", "new")});
    CHECK(*latest_checkpoint(root.path()) == again);
    CHECK(read(again / "a.txt") == "new");
    CHECK_FALSE(std::filesystem::exists(again / "only-old.txt"));  // the old folder, not a merge
    for (const auto& e : std::filesystem::directory_iterator(root.path()))
        CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("a run folder removed under a run is an io_error naming it", "[train][checkpoint][errors]") {
    const auto gone = std::filesystem::temp_directory_path() / ("recur_test_checkpoint_gone_" + std::to_string(::getpid()));
    CHECK_THROWS_AS(write_checkpoint(gone, 1, {text_file("a.txt", "x")}), io_error);
    CHECK_THROWS_WITH(write_checkpoint(gone, 1, {text_file("a.txt", "x")}), Contains(gone.string()) && Contains("does not exist"));
    CHECK_FALSE(std::filesystem::exists(gone));
}

TEST_CASE("write_file_atomically names the path and the reason, and leaves no temporary", "[io][atomic][errors]") {
    const test::scratch_dir root("recur_test_atomic_file");
    CHECK_THROWS_WITH(write_file_atomically(root.path() / "missing" / "x.txt", "x"),
                      Contains("x.txt") && Contains("No such file or directory"));
    CHECK_THROWS_WITH(write_file_atomically(root.path() / "x.txt",
                                            [](std::ostream& os) {
                                                os << "part";
                                                throw io_error("the producer failed");
                                            }),
                      Contains("the producer failed"));
    write_file_atomically(root.path() / "x.txt", "done");
    CHECK(read(root.path() / "x.txt") == "done");
    std::int64_t entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root.path())) ++entries;
    CHECK(entries == 1);
}
