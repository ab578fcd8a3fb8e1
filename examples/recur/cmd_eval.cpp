// `recur eval`: placeholder until it lands (issue 4).
#include "commands.hpp"

namespace recur_cli {

command add_eval(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("eval", "not implemented yet");
    return {cmd, [] { return 1; }};
}

}  // namespace recur_cli
