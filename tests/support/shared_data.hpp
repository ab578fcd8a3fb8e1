// Reading a JSON file of ../shared/data (or one a test wrote): a missing or unreadable file fails the
// test naming its path and where the shared data come from. Not here: the model files (their loaders
// throw recur::io_error naming the path).
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace recur::test {

/// The parsed JSON of `path`; REQUIREs that it opens (failing with the path and ../shared/data/README.md).
inline nlohmann::json read_json_file(const std::string& path) {
    std::ifstream f(path);
    INFO("cannot open '" << path << "' (the shared data are described in ../shared/data/README.md)");
    REQUIRE(f.good());
    return nlohmann::json::parse(f);
}

}  // namespace recur::test
