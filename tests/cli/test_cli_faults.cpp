// `recur train` as a program under crashes and faults: SIGKILL at random moments (also mid-checkpoint)
// then --resume ends byte-identical to an uninterrupted run; SIGINT / SIGTERM stop with a checkpoint;
// a second process is refused by the run folder's lock; disk full, fsync / rename / open / mkdir
// failures (an LD_PRELOAD shim), a file-size limit and a read-only folder give one clear error and keep
// the previous checkpoint. Not here: the library's own checkpoint and trainer tests (tests/train).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <recur/backends/cpu.hpp>
#include <recur/io/token_file.hpp>
#include <recur/train/run_config.hpp>
#include <recur/train/trainer.hpp>

#include "support/scratch_dir.hpp"
#include "support/skip.hpp"

extern char** environ;

using Catch::Contains;
namespace fs = std::filesystem;

namespace {

const std::string cli = RECUR_CLI;
const std::string shim = RECUR_FAULT_SHIM;

using env_list = std::vector<std::string>;

/// The fault shim's environment (tests/support/fault_inject.cpp), preloaded into the CLI. An ASan
/// build checks that its runtime comes first; the shim needs nothing of it, so that check is off.
env_list fault(const std::string& op, const std::string& err, const std::string& match, long long after = 0) {
    const char* asan = std::getenv("ASAN_OPTIONS");
    return {"LD_PRELOAD=" + shim,
            "ASAN_OPTIONS=" + std::string(asan ? asan : "") + (asan && *asan ? ":" : "") + "verify_asan_link_order=0",
            "RECUR_FAULT_OP=" + op,
            "RECUR_FAULT_ERRNO=" + err,
            "RECUR_FAULT_MATCH=" + match,
            "RECUR_FAULT_AFTER=" + std::to_string(after)};
}

/// Starts `recur args...` with `env` added, stdout and stderr appended to `log`, and (when set)
/// a file-size limit of `fsize` bytes. Everything the child needs is prepared before fork.
pid_t spawn(const std::vector<std::string>& args, const env_list& env, const std::string& log, rlim_t fsize = 0) {
    std::vector<std::string> all_env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string kv = *e;
        bool replaced = false;
        for (const auto& x : env) replaced = replaced || kv.substr(0, kv.find('=') + 1) == x.substr(0, x.find('=') + 1);
        if (!replaced) all_env.push_back(kv);
    }
    all_env.insert(all_env.end(), env.begin(), env.end());
    std::vector<char*> envp, argv{const_cast<char*>(cli.c_str())};
    for (auto& kv : all_env) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::vector<std::string> a = args;
    for (auto& x : a) argv.push_back(x.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        if (fsize > 0) {
            const rlimit limit{fsize, fsize};
            ::setrlimit(RLIMIT_FSIZE, &limit);
        }
        ::signal(SIGXFSZ, SIG_DFL);  // the CLI must ignore it itself
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

/// The exit status of `pid`, or 128 + the signal that ended it.
int wait_for(pid_t pid) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// True (with the status in `code`) once `pid` has ended.
bool ended(pid_t pid, int& code) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) != pid) return false;
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

struct result {
    int code = -1;
    std::string output;
};

/// Runs `recur args...` to the end; the log goes to `log`.
result run(const std::vector<std::string>& args, const std::string& log, const env_list& env = {}, rlim_t fsize = 0) {
    fs::remove(log);
    result r;
    r.code = wait_for(spawn(args, env, log, fsize));
    r.output = slurp(log);
    return r;
}

/// The step `latest` names in a run folder, 0 when it has none yet.
std::int64_t latest_step(const fs::path& run_dir) {
    const auto text = slurp(run_dir / "latest");
    return text.rfind("step-", 0) == 0 ? std::stoll(text.substr(5)) : 0;
}

/// Every ".tmp" entry under `root`, at any depth.
std::vector<std::string> temporaries(const fs::path& root) {
    std::vector<std::string> found;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().find(".tmp") != std::string::npos) found.push_back(it->path().string());
    return found;
}

/// A tiny fresh recurrent model on random tokens: run file `name` in `dir`, `steps` steps, a checkpoint
/// every 5.
std::string write_run(const recur::test::scratch_dir& dir, const std::string& name, std::int64_t steps) {
    const std::string tokens = dir / "tokens.bin";
    if (!fs::exists(tokens)) {
        std::mt19937 gen(7);
        std::vector<std::int32_t> ids(4096);
        for (auto& id : ids) id = static_cast<std::int32_t>(gen() % 64);
        recur::write_token_file(tokens, ids);
    }
    const nlohmann::json run{
        {"model",
         {{"config", {{"vocab_size", 64}, {"d_model", 32}, {"n_heads", 2}, {"n_kv_heads", 1}, {"ffn_dim", 64},
                      {"n_layers", 3}, {"max_seq_len", 32}}},
          {"layers", {1, 1, 1}},
          {"seed", 1}}},
        {"data", {{"seed", 3}, {"sources", {{"random", {{"tokens", "tokens.bin"}}}}}, {"phases", {{{"mix", {{"random", 1}}}}}}}},
        {"optimizer", {{"kind", "muon_adamw"}, {"muon", {{"lr", 0.01}}}, {"adamw", {{"lr", 0.002}}}}},
        {"train",
         {{"steps", steps},
          {"batch", 2},
          {"seq", 16},
          {"curriculum", {{"r_max", 3}}},
          {"backprop", {{"s_max", 2}}},
          {"checkpoint_every", 5},
          {"log_every", 1000}}}};
    return dir.write(name, run.dump(2));
}

/// Loads the latest checkpoint of `run_dir` through the library as `recur train --resume` would
/// (model, optimizer state, trainer state, data cursor) and returns its step (0: no checkpoint yet).
std::int64_t load_latest(const std::string& run_file, const fs::path& run_dir) {
    using B = recur::cpu;
    const auto latest = recur::latest_checkpoint(run_dir);  // throws when `latest` names nothing
    if (!latest) return 0;
    const auto j = recur::load_run_file(run_file);
    const auto base = fs::path(run_file).parent_path();
    auto config = recur::train_config_from_json(j["train"], run_file);
    auto loaded = recur::model_from_json<B>(j["model"], base, run_file);
    auto data = recur::data_plan_from_json(j["data"], config.seq, loaded.config().vocab_size, base, run_file);
    const auto opt_config = recur::optimizer_config_from_json(j["optimizer"], run_file);
    return std::visit(
        [&](auto& model) {
            using M = std::decay_t<decltype(model)>;
            recur::muon_adamw<B> opt(recur::named_parameters<B>(model), opt_config.options);
            std::ostringstream log;
            recur::trainer<B, M, recur::data_phases, recur::muon_adamw<B>> t(model, data, opt, config, log);
            t.resume(*latest);
            return t.step_index();
        },
        loaded.model);
}

/// Waits (polling) until `done()` or the process ends; false when it ended first.
template <class F>
bool wait_until(pid_t pid, int& code, F&& done) {
    while (!done()) {
        if (ended(pid, code)) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
}

bool has_temporary(const fs::path& run_dir) {
    std::error_code ec;
    for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().rfind(".tmp-", 0) == 0) return true;
    return false;
}

/// The metrics of a run folder: loss per step, each step once.
std::vector<double> losses(const fs::path& run_dir) {
    std::vector<double> out;
    std::ifstream f(run_dir / "metrics.jsonl");
    for (std::string line; std::getline(f, line);) {
        const auto j = nlohmann::json::parse(line);
        REQUIRE(j["step"].get<std::size_t>() == out.size() + 1);
        out.push_back(j["loss"].get<double>());
    }
    return out;
}

}  // namespace

TEST_CASE("recur train killed with SIGKILL at 12 random moments, resumed each time, ends byte-identical to a run of 200 steps",
          "[cli][train][crash]") {
    const recur::test::scratch_dir dir("recur_test_cli_kill");
    const auto run_file = write_run(dir, "run.json", 200);
    const std::string log = dir / "log.txt";
    auto r = run({"train", "--config", run_file, "--out", dir / "straight"}, log);
    INFO(r.output);
    REQUIRE(r.code == 0);

    const fs::path killed = dir.path() / "killed";
    const std::vector<std::string> resume{"train", "--config", run_file, "--out", killed.string(), "--resume"};
    std::mt19937 gen(20261204);
    int kills = 0, mid_write = 0, code = 0;
    for (int attempt = 0; kills < 12; ++attempt) {
        REQUIRE(attempt < 30);
        const std::int64_t start = latest_step(killed);
        const pid_t pid = spawn(resume, {}, log);
        bool alive = true;
        switch (kills % 4) {
        case 0:  // as soon as a checkpoint write has begun, after some progress
            alive = wait_until(pid, code, [&] { return latest_step(killed) > start; }) &&
                    wait_until(pid, code, [&] { return has_temporary(killed); });
            break;
        case 1:  // at any moment of the first 20 ms, startup included
            alive = wait_until(pid, code, [&, until = std::chrono::steady_clock::now() +
                                                      std::chrono::microseconds(gen() % 20000)] {
                return std::chrono::steady_clock::now() >= until;
            });
            break;
        default:  // 1 or 2 checkpoints on, then up to 3 ms later: mid-step, mid-checkpoint, anywhere
            alive = wait_until(pid, code, [&, target = start + 5 * static_cast<std::int64_t>(1 + gen() % 2)] {
                return latest_step(killed) >= target;
            });
            if (alive) {
                const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(gen() % 3000);
                alive = wait_until(pid, code, [&] { return std::chrono::steady_clock::now() >= until; });
            }
        }
        INFO("attempt " << attempt << ", kills " << kills << "\n" << slurp(log));
        REQUIRE(alive);  // 200 steps outlast 12 kills
        ::kill(pid, SIGKILL);
        REQUIRE(wait_for(pid) == 128 + SIGKILL);
        ++kills;
        mid_write += has_temporary(killed);
        // The latest checkpoint on disk loads, whatever the moment was.
        CHECK(load_latest(run_file, killed) == latest_step(killed));
    }
    r = run(resume, log);
    INFO(r.output);
    REQUIRE(r.code == 0);
    CHECK(mid_write >= 3);
    const auto last = fs::path("step-00000200");
    const auto model = slurp(dir.path() / "straight" / last / "model.safetensors");
    CHECK(model.size() > 10000);
    CHECK(model == slurp(killed / last / "model.safetensors"));
    CHECK(slurp(dir.path() / "straight" / last / "optimizer.safetensors") == slurp(killed / last / "optimizer.safetensors"));
    CHECK(temporaries(killed).empty());
    CHECK(losses(killed) == losses(dir.path() / "straight"));  // every step once, each loss bit for bit
}

TEST_CASE("SIGINT and SIGTERM finish the step, write a checkpoint and exit 130 / 143, --resume continues exactly",
          "[cli][train][signals]") {
    const recur::test::scratch_dir dir("recur_test_cli_signals");
    const auto run_file = write_run(dir, "run.json", 40);
    const std::string log = dir / "log.txt";
    auto r = run({"train", "--config", run_file, "--out", dir / "straight"}, log);
    INFO(r.output);
    REQUIRE(r.code == 0);
    for (const int sig : {SIGINT, SIGTERM}) {
        const fs::path out = dir.path() / ("stopped" + std::to_string(sig));
        const std::vector<std::string> args{"train", "--config", run_file, "--out", out.string(), "--resume"};
        fs::remove(log);
        const pid_t pid = spawn(args, {}, log);
        int code = 0;
        REQUIRE(wait_until(pid, code, [&] { return latest_step(out) >= 5; }));
        ::kill(pid, sig);
        code = wait_for(pid);
        const auto output = slurp(log);
        INFO(output);
        CHECK(code == 128 + sig);
        CHECK_THAT(output, Contains("interrupted: finishing this step") &&
                               Contains(sig == SIGINT ? "stopped by SIGINT after step " : "stopped by SIGTERM after step "));
        const auto at = output.find("after step ");
        REQUIRE(at != std::string::npos);
        const std::int64_t step = std::stoll(output.substr(at + 11));
        CHECK(step < 40);
        CHECK(latest_step(out) == step);  // the checkpoint is of the step it stopped after
        CHECK(load_latest(run_file, out) == step);
        CHECK(temporaries(out).empty());
        r = run(args, log);
        INFO(r.output);
        REQUIRE(r.code == 0);
        CHECK_THAT(r.output, Contains("resumed at step " + std::to_string(step)));
        CHECK(slurp(out / "step-00000040" / "model.safetensors") == slurp(dir.path() / "straight/step-00000040/model.safetensors"));
    }

    {  // a second SIGINT while the checkpoint is being written exits at once; nothing is corrupted
        const fs::path out = dir.path() / "twice";
        const std::vector<std::string> args{"train", "--config", run_file, "--out", out.string(), "--resume"};
        auto slow = fault("fsync", "EIO", ".tmp-step");
        slow.push_back("RECUR_FAULT_SLEEP_MS=300");  // every fsync of a checkpoint file takes 0.3 s
        fs::remove(log);
        const pid_t pid = spawn(args, slow, log);
        int code = 0;
        REQUIRE(wait_until(pid, code, [&] { return has_temporary(out); }));
        ::kill(pid, SIGINT);
        REQUIRE(wait_until(pid, code, [&] { return slurp(log).find("interrupted: finishing") != std::string::npos; }));
        ::kill(pid, SIGINT);
        code = wait_for(pid);
        const auto output = slurp(log);
        INFO(output);
        CHECK(code == 130);
        CHECK_THAT(output, Contains("second interrupt: exiting at once"));
        CHECK(load_latest(run_file, out) == latest_step(out));
        r = run(args, log);  // sweeps what the hurried exit left, and finishes
        INFO(r.output);
        REQUIRE(r.code == 0);
        CHECK(temporaries(out).empty());
        CHECK(slurp(out / "step-00000040" / "model.safetensors") == slurp(dir.path() / "straight/step-00000040/model.safetensors"));
    }
}

TEST_CASE("a second recur train into the same run folder is refused naming the owner, after kill -9 the next proceeds",
          "[cli][train][lock]") {
    const recur::test::scratch_dir dir("recur_test_cli_lock");
    const auto run_file = write_run(dir, "run.json", 100000);
    const fs::path out = dir.path() / "run";
    const std::vector<std::string> args{"train", "--config", run_file, "--out", out.string(), "--resume"};
    const pid_t owner = spawn(args, {}, dir / "owner.txt");
    int code = 0;
    REQUIRE(wait_until(owner, code, [&] { return latest_step(out) >= 5; }));
    auto r = run(args, dir / "second.txt");
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("in use by another training run") && Contains(out.string()) &&
                             Contains("pid " + std::to_string(owner)));
    ::kill(owner, SIGKILL);
    REQUIRE(wait_for(owner) == 128 + SIGKILL);
    const auto step = latest_step(out);
    auto next = args;
    next.insert(next.end(), {"--stop-after", std::to_string(step + 2)});
    r = run(next, dir / "third.txt");
    INFO(r.output);
    CHECK(r.code == 0);
    CHECK(latest_step(out) == step + 2);
    CHECK(temporaries(out).empty());
}

TEST_CASE("write failures (disk full, fsync, rename, open, mkdir, file-size limit, read-only or missing folder) "
          "name the path and keep the previous checkpoint",
          "[cli][train][faults]") {
    const recur::test::scratch_dir dir("recur_test_cli_faults");
    const auto run_file = write_run(dir, "run.json", 20);
    const std::string log = dir / "log.txt";
    const fs::path out = dir.path() / "run";
    auto r = run({"train", "--config", run_file, "--out", out.string(), "--stop-after", "5"}, log);
    INFO(r.output);
    REQUIRE(r.code == 0);
    const auto good = slurp(out / "step-00000005" / "model.safetensors");
    const std::vector<std::string> resume{"train", "--config", run_file, "--out", out.string(), "--resume"};

    struct fault_case {
        std::string name;
        env_list env;
        std::vector<std::string> says;
        rlim_t fsize = 0;
    };
    const std::vector<fault_case> cases{
        {"disk full part-way through the weights", fault("write", "ENOSPC", ".tmp-step", 3000),
         {"No space left on device", "model.safetensors"}},
        {"a failed fsync of a file", fault("fsync", "EIO", ".tmp-step"), {"fsync of", "Input/output error"}},
        {"a failed fsync of the checkpoint folder", fault("fsync", "EIO", ".tmp-step", 1), {"fsync of the folder", ".tmp-step-00000010"}},
        {"a failed rename of a file", fault("rename", "EIO", ".tmp-step"), {"renaming", "Input/output error"}},
        {"a failed rename of the checkpoint folder", fault("rename", "EIO", ".tmp-step", 4), {"renaming", "step-00000010'"}},
        {"a failed rename of latest", fault("rename", "EIO", ".tmp-latest"), {"latest", "Input/output error"}},
        {"a read-only file system under the checkpoint", fault("open", "EROFS", ".tmp-step"), {"Read-only file system", ".tmp-step-00000010"}},
        {"a checkpoint folder that cannot be made", fault("mkdir", "EROFS", ".tmp-step"), {"cannot create the folder", ".tmp-step-00000010"}},
        {"a read-only run folder", fault("open", "EROFS", out.string() + "/lock"), {"lock", "Read-only file system"}},
        {"a file-size limit (ulimit -f)", {}, {"File too large", "model.safetensors"}, 20000},
    };
    for (const auto& c : cases) {
        r = run(resume, log, c.env, c.fsize);
        INFO(c.name << "\n" << r.output);
        CHECK(r.code == 1);
        for (const auto& s : c.says) CHECK_THAT(r.output, Contains(s));
        CHECK_THAT(r.output, Contains(out.string()) && !Contains("terminate") && !Contains("core dumped"));
        CHECK(latest_step(out) == 5);
        CHECK(slurp(out / "step-00000005" / "model.safetensors") == good);
        CHECK(load_latest(run_file, out) == 5);
        CHECK(temporaries(out).empty());
    }

    if (::geteuid() != 0) {  // a real read-only folder (root writes anyway; the shim's EROFS cases cover it)
        fs::permissions(out, fs::perms::owner_write, fs::perm_options::remove);
        r = run(resume, log);
        fs::permissions(out, fs::perms::owner_write, fs::perm_options::add);
        INFO(r.output);
        CHECK(r.code == 1);
        CHECK_THAT(r.output, Contains("Permission denied") && Contains(out.string()));
        CHECK(latest_step(out) == 5);
        CHECK(load_latest(run_file, out) == 5);
    }
    {  // a run folder that cannot exist: its parent is a file
        const std::string file = dir.write("plain.txt", "x");
        r = run({"train", "--config", run_file, "--out", file + "/run"}, log);
        INFO(r.output);
        CHECK(r.code == 1);
        CHECK_THAT(r.output, Contains("cannot create the run folder") && Contains(file + "/run"));
    }
    {  // without --resume a run folder that holds a checkpoint is refused
        r = run({"train", "--config", run_file, "--out", out.string()}, log);
        INFO(r.output);
        CHECK(r.code == 1);
        CHECK_THAT(r.output, Contains("already holds a run") && Contains("--resume"));
        CHECK(latest_step(out) == 5);
    }
    {  // after every failure, --resume still ends where an uninterrupted run does
        r = run({"train", "--config", run_file, "--out", dir / "straight"}, log);
        REQUIRE(r.code == 0);
        r = run(resume, log);
        INFO(r.output);
        REQUIRE(r.code == 0);
        CHECK(slurp(out / "step-00000020" / "model.safetensors") == slurp(dir.path() / "straight/step-00000020/model.safetensors"));
        CHECK(temporaries(out).empty());
    }
}

TEST_CASE("every command, not only train, turns a file-size limit (ulimit -f) into an error naming the file",
          "[cli][faults][data]") {
    const recur::test::scratch_dir dir("recur_test_cli_faults_convert");
    const std::string model = std::string(RECUR_SHARED_DATA) + "/stories260K.bin";
    if (!recur::test::require_file(model)) return;
    const std::string log = dir / "log.txt";
    const fs::path out = dir.path() / "rec";
    auto r = run({"convert", "--from", model, "--out", out.string(), "--prelude", "0", "--core", "1-3", "--coda", "4"}, log, {},
                 20000);
    INFO(r.output);
    CHECK(r.code == 1);
    CHECK_THAT(r.output, Contains("File too large") && Contains(out.string()) && !Contains("terminate"));
    r = run({"convert", "--from", model, "--out", out.string(), "--prelude", "0", "--core", "1-3", "--coda", "4"}, log);
    INFO(r.output);
    CHECK(r.code == 0);
}
