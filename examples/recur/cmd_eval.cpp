// `recur eval`: mean next-token loss of a model over an llm.c token file at several recurrence depths;
// a table, or one JSON line {"r":[...],"loss":[...],"tokens":N}. Not here: task accuracy (issue 6).
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/infer/loss_eval.hpp>
#include <recur/io/load_model.hpp>
#include <recur/io/token_file.hpp>

#include "commands.hpp"

namespace {

using B = recur::cpu;

struct options {
    std::string model, data;
    std::vector<std::int64_t> r;
    std::int64_t seq = 256, batch = 8, max_tokens = 0;
    bool json = false;
};

int eval(const options& o) {
    const auto m = recur::load_model<B>(o.model);
    auto ids = recur::read_token_file(o.data, m.config().vocab_size);
    if (o.max_tokens > 0 && static_cast<std::int64_t>(ids.size()) > o.max_tokens) ids.resize(static_cast<std::size_t>(o.max_tokens));
    const std::int64_t seq = std::min(o.seq, m.config().max_seq_len);
    std::vector<std::int64_t> rs = o.r;
    if (rs.empty()) rs = {m.is_recurrent() ? std::get<recur::Recurrent<B>>(m.model).options.mean_r : 1};
    if (!m.is_recurrent() && rs != std::vector<std::int64_t>{1}) {
        std::cerr << "recur eval: '" << o.model << "' is not recurrent; --r is ignored\n";
        rs = {1};
    }
    nlohmann::ordered_json out{{"r", nlohmann::ordered_json::array()}, {"loss", nlohmann::ordered_json::array()}, {"tokens", 0}};
    if (!o.json)
        std::cout << "model " << o.model << " (" << recur::model_format_name(m.format) << "), data " << o.data << ", seq "
                  << seq << "\n    r   loss (nats)\n";
    for (const auto r : rs) {
        const auto res = recur::mean_next_token_loss<B>(ids, seq, o.batch, [&](const auto& x) { return m.forward(x, r); });
        out["r"].push_back(r);
        out["loss"].push_back(res.mean);
        out["tokens"] = res.tokens;
        if (!o.json) std::cout << std::setw(5) << r << "   " << std::fixed << std::setprecision(4) << res.mean << std::endl;
    }
    if (o.json)
        std::cout << out.dump() << std::endl;
    else
        std::cout << out["tokens"] << " predictions per r" << std::endl;
    return 0;
}

}  // namespace

namespace recur_cli {

command add_eval(CLI::App& parent) {
    auto* cmd = parent.add_subcommand("eval", "mean next-token loss over a token file, per recurrence depth r");
    auto o = std::make_shared<options>();
    cmd->add_option("--model", o->model, "llama2.c .bin file, Hugging Face directory or recur model directory")
        ->required();
    cmd->add_option("--data", o->data, "llm.c token file (see `recur tokenize`)")->required();
    cmd->add_option("--r", o->r, "recurrence depths, e.g. 1,2,4 (default: the model's mean_r; ignored for "
                                 "non-recurrent models)")
        ->delimiter(',')
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    cmd->add_option("--seq", o->seq, "window length (capped at the model's max_seq_len)")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20));
    cmd->add_option("--batch", o->batch, "windows per forward")->capture_default_str()->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
    cmd->add_option("--max-tokens", o->max_tokens, "use only the first N tokens (0: all)")->check(CLI::NonNegativeNumber);
    cmd->add_flag("--json", o->json, "print one JSON line {\"r\":[...],\"loss\":[...],\"tokens\":N}");
    return {cmd, [o] { return eval(*o); }};
}

}  // namespace recur_cli
