// The reproducibility contract (docs/architecture.md, "Training semantics"):
// same binary, same CPU kernel selection, same spec, seed, data and options
// give bitwise identical weights for any compute-thread count and any
// scheduling of the blocks, and the caller's environment (OpenBLAS's kernel
// choice and thread variables) cannot change that.
//
// Each case runs tests/engine/determinism_probe.cc in a child process with an
// environment of its own: OPENBLAS_CORETYPE as inherited, unset, and forced to
// each kernel set this CPU can execute; OPENBLAS_NUM_THREADS and
// OMP_NUM_THREADS set to values unlike any thread count the probe uses. The
// probe trains three workloads with 1, 2, 3, 4 and 8 threads, once more
// (replay) and twice at once on one pool; every fingerprint of a workload must
// be the same within a case, and the same across cases that ran on the same
// kernel set.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

extern char** environ;

namespace {

struct Case {
  std::string name;
  // Variables to set (name -> value) or, with an empty value, to unset.
  std::map<std::string, std::string> env;
  std::string expect_core;  // the kernel set the probe must report, or ""
};

struct ProbeOutput {
  std::string core;
  // workload -> how -> fingerprint
  std::map<std::string, std::map<std::string, std::string>> results;
};

std::vector<std::string> ChildEnvironment(const Case& c) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (c.env.count(name) == 0) env.push_back(entry);
  }
  for (const auto& [name, value] : c.env) {
    if (!value.empty()) env.push_back(name + "=" + value);
  }
  return env;
}

// Runs the probe under the case's environment; its stdout is returned.
std::string RunProbe(const Case& c, const std::string& dir) {
  const std::string out_path = dir + "/" + c.name + ".out";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> env = ChildEnvironment(c);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string program = MLP_DETERMINISM_PROBE;
  char* argv[] = {program.data(), nullptr};
  pid_t pid = 0;
  const int rc =
      posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "posix_spawn " << program;
  if (rc != 0) return "";
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << c.name << ": probe ended with wait status " << status;
  std::ifstream in(out_path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ProbeOutput Parse(const std::string& text) {
  ProbeOutput out;
  std::istringstream lines(text);
  std::string kind;
  while (lines >> kind) {
    if (kind == "core") {
      lines >> out.core;
    } else if (kind == "result") {
      std::string workload, how, fingerprint;
      lines >> workload >> how >> fingerprint;
      out.results[workload][how] = fingerprint;
    } else {
      ADD_FAILURE() << "unexpected probe output: " << kind;
      std::getline(lines, kind);
    }
  }
  return out;
}

// The forced kernel sets this CPU can execute (OpenBLAS would crash on an
// instruction the CPU lacks), with the instruction sets each needs.
std::vector<Case> ForcedKernelCases(std::vector<std::string>* not_runnable) {
  struct Kernel {
    const char* name;
    bool runnable;
    const char* needs;
  };
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx = __builtin_cpu_supports("avx");
  const bool avx2 =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  const std::vector<Kernel> kernels = {
      {"Haswell", avx2, "AVX2+FMA"},
      {"SkylakeX", avx512, "AVX-512 F/BW/VL/DQ"},
      {"Zen", avx2, "AVX2+FMA"},
      {"Sandybridge", avx, "AVX"},
  };
#else
  const std::vector<Kernel> kernels;
#endif
  std::vector<Case> cases;
  for (const Kernel& k : kernels) {
    if (!k.runnable) {
      not_runnable->push_back(absl::StrCat(k.name, " (needs ", k.needs, ")"));
      continue;
    }
    cases.push_back({absl::StrCat("coretype-", k.name),
                     {{"OPENBLAS_CORETYPE", k.name}},
                     k.name});
  }
  return cases;
}

// A fresh directory for the probes' output; removed with its files.
class OutputDir {
 public:
  OutputDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
        "/mlp-determinism-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~OutputDir() {
    if (path_.empty()) return;
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  void Track(const std::string& file) { files_.push_back(file); }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

TEST(DeterminismTest, WeightsDoNotDependOnThreadsOrEnvironment) {
  std::vector<std::string> not_runnable;
  std::vector<Case> cases = {
      {"inherited", {}, ""},
      {"coretype-unset", {{"OPENBLAS_CORETYPE", ""}}, ""},
      {"env-threads",
       {{"OPENBLAS_NUM_THREADS", "3"}, {"OMP_NUM_THREADS", "5"}},
       ""},
      {"env-one-thread",
       {{"OPENBLAS_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}},
       ""},
  };
  OutputDir dir;
  ASSERT_FALSE(dir.path().empty()) << "mkdtemp failed";
  for (const Case& c : cases) dir.Track(dir.path() + "/" + c.name + ".out");
  // The first case tells whether the engine was built with OpenBLAS; if so,
  // every kernel set this CPU can run is forced in turn.
  bool blas = false;
  bool forced_added = false;
  // kernel set -> workload -> fingerprint, and which case set it first
  std::map<std::string, std::map<std::string, std::string>> by_core;
  std::map<std::string, std::string> first_case_of_core;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case c = cases[i];
    SCOPED_TRACE(c.name);
    const ProbeOutput out = Parse(RunProbe(c, dir.path()));
    ASSERT_EQ(out.results.size(), 3u) << "workloads reported";
    if (!forced_added) {
      forced_added = true;
      blas = out.core != "none";
      if (blas) {
        for (const Case& f : ForcedKernelCases(&not_runnable)) {
          cases.push_back(f);
          dir.Track(dir.path() + "/" + f.name + ".out");
        }
      }
    }
    if (!blas) {
      EXPECT_EQ(out.core, "none");
    } else if (!c.expect_core.empty()) {
      EXPECT_EQ(absl::AsciiStrToLower(out.core),
                absl::AsciiStrToLower(c.expect_core))
          << "OPENBLAS_CORETYPE=" << c.expect_core << " did not take effect";
    }
    for (const auto& [workload, hows] : out.results) {
      SCOPED_TRACE(workload);
      // 5 thread counts, a replay and two concurrent trainings.
      ASSERT_EQ(hows.size(), 8u);
      const std::string& reference = hows.at("threads=1");
      for (const auto& [how, fingerprint] : hows) {
        EXPECT_EQ(fingerprint, reference) << how << " differs from threads=1";
      }
      auto [it, inserted] = by_core[out.core].emplace(workload, reference);
      if (inserted) {
        first_case_of_core.emplace(out.core, c.name);
      } else {
        EXPECT_EQ(reference, it->second)
            << "same kernel set " << out.core << " as case "
            << first_case_of_core[out.core] << ", different weights";
      }
    }
  }
  std::vector<std::string> cores;
  for (const auto& [core, unused] : by_core) cores.push_back(core);
  std::printf("kernel sets checked: %s\n", absl::StrJoin(cores, ", ").c_str());
  if (!not_runnable.empty()) {
    std::printf("not runnable on this CPU: %s\n",
                absl::StrJoin(not_runnable, ", ").c_str());
  }
  RecordProperty("kernel_sets", absl::StrJoin(cores, ","));
  if (blas) {
    // A forced kernel set must have been exercised beside the CPU's own.
    EXPECT_GE(cores.size(), 2u) << "only one kernel set could be checked";
  }
}

}  // namespace
