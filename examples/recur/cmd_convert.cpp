// `recur convert`: placeholder until it lands (issue 4).
#include "commands.hpp"

namespace recur_cli {

command add_convert(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("convert", "not implemented yet");
    return {cmd, [] { return 1; }};
}

}  // namespace recur_cli
