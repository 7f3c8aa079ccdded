// End to end: the real `mlp` binary against a real mlp-server on loopback.
// Every run's stdout is a file, so the CLI sees a pipe, not a terminal.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlp/v1/mlp.pb.h"
#include "tests/testing/certs.h"
#include "tests/testing/files.h"
#include "tests/testing/server_process.h"

namespace mlp::cli {
namespace {

using ::mlp::testing::ReadWholeFile;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

struct Result {
  int exit_code = -1;  // -1: killed after its time limit
  std::string out;
  std::string err;
};

// One run of the mlp binary, stdout and stderr captured in files.
class CliProcess {
 public:
  // `environment`: NAME=VALUE settings for the CLI; COLUMNS is unset unless
  // given, so that output widths do not depend on the caller's terminal.
  CliProcess(const std::string& dir, std::vector<std::string> args,
             const std::vector<std::string>& environment = {}) {
    static int runs = 0;
    const std::string stem = absl::StrCat(dir, "/run", ++runs);
    out_path_ = stem + ".out";
    err_path_ = stem + ".err";
    args.insert(args.begin(), MLP_CLI_BINARY);
    pid_ = fork();
    if (pid_ == 0) {
      // The caller's environment must not redirect the CLI elsewhere.
      unsetenv("MLP_SERVER");
      unsetenv("MLP_TOKEN");
      unsetenv("MLP_TLS_CA");
      unsetenv("MLP_TLS_CERT");
      unsetenv("MLP_TLS_KEY");
      unsetenv("COLUMNS");
      for (const std::string& setting : environment) {
        putenv(const_cast<char*>(setting.c_str()));
      }
      const int out =
          open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err =
          open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int in = open("/dev/null", O_RDONLY);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      dup2(in, STDIN_FILENO);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~CliProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void Signal(int signal_number) { kill(pid_, signal_number); }
  std::string out() const { return ReadWholeFile(out_path_); }

  // Polls stdout (every 20 ms, for up to `timeout_seconds`) until it holds a
  // training's epoch line ("epoch     1  loss 0.25..."); whether it did.
  bool WaitForEpochLine(double timeout_seconds) const {
    static const std::regex kEpochLine(R"(^epoch +[0-9]+ +loss [0-9])");
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(timeout_seconds);
    while (true) {
      for (const std::string& line : Lines(out())) {
        if (std::regex_search(line, kEpochLine)) return true;
      }
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  Result Wait(double timeout_seconds) {
    Result result;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration<double>(timeout_seconds);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        status = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    reaped_ = true;
    if (status != -1 && WIFEXITED(status))
      result.exit_code = WEXITSTATUS(status);
    result.out = ReadWholeFile(out_path_);
    result.err = ReadWholeFile(err_path_);
    return result;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_path_;
  std::string err_path_;
};

// A port nothing listens on: bound by the kernel's choice, then released.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// A port that accepts TCP connections (the kernel completes them into the
// backlog) but never answers: not a gRPC server.
class SilentPort {
 public:
  SilentPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    listen(fd_, 64);
    socklen_t length = sizeof(address);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~SilentPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

template <typename Message>
::testing::AssertionResult ParsesAs(const std::string& json) {
  Message message;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &message);
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "not a " << Message::descriptor()->full_name() << ": " << json
         << " (" << status.ToString() << ")";
}

template <typename Message>
Message ParseJson(const std::string& json) {
  Message message;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &message).ok())
      << json;
  return message;
}

// The tutorial's XNOR data as CSV, target last.
constexpr char kXnorCsv[] = "1,1,1,1\n1,1,0,0\n0,1,0,1\n0,1,1,0\n";

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new mlp::testing::TempDir();
    auto server = mlp::testing::ServerProcess::Start(dir_->path() + "/data");
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  // Runs `mlp --server=<the test server> args...`.
  static Result Mlp(std::vector<std::string> args, double timeout = 60) {
    return CliProcess(dir_->path(), WithServer(std::move(args))).Wait(timeout);
  }
  // The same with $COLUMNS set, as a shell with a wide terminal exports it.
  static Result MlpInColumns(int columns, std::vector<std::string> args) {
    return CliProcess(dir_->path(), WithServer(std::move(args)),
                      {absl::StrCat("COLUMNS=", columns)})
        .Wait(60);
  }
  static std::vector<std::string> WithServer(std::vector<std::string> args) {
    args.insert(args.begin(), "--server=" + server_->address());
    return args;
  }

  static std::string WriteFile(const std::string& name,
                               const std::string& content) {
    const std::string path = dir_->path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

  static void CreateXnorModel(const std::string& name) {
    const Result created =
        Mlp({"create", name, "--input", "3", "--layer", "4:relu", "--layer",
             "1:linear", "--loss", "mse", "--seed", "7"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }

  static mlp::testing::TempDir* dir_;
  static mlp::testing::ServerProcess* server_;
};

mlp::testing::TempDir* CliTest::dir_ = nullptr;
mlp::testing::ServerProcess* CliTest::server_ = nullptr;

TEST_F(CliTest, DemoConvergesAndGetsAllFourRight) {
  const Result demo = Mlp({"demo"}, 120);
  ASSERT_EQ(demo.exit_code, 0) << demo.out << demo.err;
  // The per-epoch error falls to the target.
  const std::regex epoch_line(R"(^epoch\s+(\d+)\s+loss\s+(\S+))");
  std::vector<double> losses;
  for (const std::string& line : Lines(demo.out)) {
    std::smatch match;
    if (std::regex_search(line, match, epoch_line)) {
      losses.push_back(std::stod(match[2]));
    }
  }
  ASSERT_GE(losses.size(), 2u) << demo.out;
  EXPECT_GT(losses.front(), 10 * losses.back());
  EXPECT_LE(losses.back(), 0.001);
  EXPECT_THAT(demo.out, HasSubstr("(target-loss)"));
  // The four predictions, each right (an epoch MSE <= 0.001 over the 4
  // samples allows each at most sqrt(4 * 0.001) = 0.063 off), then the
  // weights.
  const std::regex prediction(R"(^(\d \d \d)\s+([01])\s+(-?[0-9.]+)\s+right$)");
  int right = 0;
  for (const std::string& line : Lines(demo.out)) {
    std::smatch match;
    if (std::regex_search(line, match, prediction)) {
      ++right;
      EXPECT_NEAR(std::stod(match[3]), std::stod(match[2]), 0.07) << line;
    }
  }
  EXPECT_EQ(right, 4) << demo.out;
  EXPECT_THAT(demo.out, Not(HasSubstr("WRONG")));
  EXPECT_THAT(demo.out, HasSubstr("layer 1: weights [3 x 4], relu"));
  EXPECT_THAT(demo.out, HasSubstr("all 4 right"));

  // Run again: the demo replaces its model and replays the same result.
  const Result again = Mlp({"demo"}, 120);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Lines(again.out).size(), Lines(demo.out).size());
}

// Runs the mlp binary on a pseudo-terminal of `columns` x 24 and returns all
// it wrote, as a terminal receives it.
std::string RunOnTerminal(std::vector<std::string> args, int columns) {
  args.insert(args.begin(), MLP_CLI_BINARY);
  winsize size{};
  size.ws_col = static_cast<unsigned short>(columns);
  size.ws_row = 24;
  int terminal = -1;
  const pid_t pid = forkpty(&terminal, nullptr, nullptr, &size);
  if (pid == 0) {
    unsetenv("COLUMNS");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::string output;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd ready{terminal, POLLIN, 0};
    if (poll(&ready, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t got = read(terminal, buffer, sizeof(buffer));
    if (got <= 0) break;  // EIO once the child has exited
    output.append(buffer, static_cast<size_t>(got));
  }
  close(terminal);
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return output;
}

// What a terminal shows of `text`: each line as left by its last carriage
// return and erase-line.
std::vector<std::string> ScreenLines(const std::string& text) {
  std::vector<std::string> lines;
  for (const std::string& raw : Lines(text)) {
    std::string line = raw;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t start = line.rfind('\r');
    if (start != std::string::npos) line = line.substr(start + 1);
    if (absl::StartsWith(line, "\033[K")) line = line.substr(3);
    lines.push_back(line);
  }
  return lines;
}

// On a terminal the demo keeps one live epoch line, so its header and the
// curve stay on an 80 x 24 screen; a pipe still gets a line per epoch
// (DemoConvergesAndGetsAllFourRight).
TEST_F(CliTest, DemoOnATerminalShowsOneLiveLineAndTheCurve) {
  const std::string output = RunOnTerminal(WithServer({"demo"}), 80);
  const std::vector<std::string> lines = ScreenLines(output);
  int epoch_lines = 0;
  for (const std::string& line : lines) {
    epoch_lines += absl::StartsWith(line, "epoch") ? 1 : 0;
    EXPECT_LE(line.size(), 80u) << line;
  }
  EXPECT_EQ(epoch_lines, 1) << output;
  EXPECT_THAT(lines.front(), StartsWith("model 'demo-xnor'"));
  EXPECT_THAT(output, HasSubstr("loss per epoch"));
  EXPECT_THAT(output, HasSubstr("all 4 right"));
  // The header, the epoch, the summary and the curve fit one screen.
  size_t curve_end = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find_first_not_of(" 0123456789") == std::string::npos &&
        absl::StrContains(lines[i], "1 ")) {
      curve_end = i;
      break;
    }
  }
  EXPECT_GT(curve_end, 0u) << output;
  EXPECT_LT(curve_end, 24u) << output;
}

TEST_F(CliTest, DemoNeverReplacesAnotherModel) {
  CreateXnorModel("my-xnor");  // 3 -> 4 relu -> 1 linear, with bias
  const Result demo = Mlp({"demo", "--name", "my-xnor"});
  EXPECT_EQ(demo.exit_code, 1);
  EXPECT_THAT(demo.err, HasSubstr("model 'my-xnor' exists and is not this "
                                  "demo's (3 -> 4 relu -> 1 linear); a demo "
                                  "never replaces another model"));
  EXPECT_EQ(
      ParseJson<mlp::v1::ModelInfo>(Mlp({"show", "my-xnor", "--json"}).out)
          .version(),
      1u);
}

TEST_F(CliTest, ShowPrintsWhereTheStandardProtocolServesTheModel) {
  CreateXnorModel("served");
  const Result show = Mlp({"show", "served", "--http-port", "8123"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out,
              ::testing::ContainsRegex(
                  "v2 gRPC: +" + server_->address() +
                  "  inference.GRPCInferenceService  model_name \"served\""));
  EXPECT_THAT(show.out, HasSubstr("v2 HTTP:  http://127.0.0.1:8123/v2/models/"
                                  "served/infer"));
  EXPECT_EQ(Mlp({"show", "served", "--http-port", "0"}).exit_code, 2);
}

TEST_F(CliTest, DemoWithoutHiddenLayerNeverGetsAllFourRight) {
  const Result demo = Mlp({"demo", "--no-hidden"}, 120);
  ASSERT_EQ(demo.exit_code, 0) << demo.out << demo.err;
  EXPECT_THAT(demo.out, HasSubstr("(max-epochs)"));
  EXPECT_THAT(demo.out, HasSubstr("WRONG"));
  EXPECT_THAT(demo.out, HasSubstr("of 4 right: without a hidden layer"));
}

TEST_F(CliTest, JsonOutputParses) {
  const Result created = Mlp({"--json", "create", "json-model", "--input", "3",
                              "--layer", "4:relu", "--layer", "1:linear"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const auto model = ParseJson<mlp::v1::ModelInfo>(created.out);
  EXPECT_EQ(model.name(), "json-model");
  EXPECT_EQ(model.version(), 1u);

  const std::string csv = WriteFile("json.csv", kXnorCsv);
  const Result trained = Mlp({"train", "json-model", "--data", csv, "--targets",
                              "-1", "--epochs", "5", "--json"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const std::vector<std::string> lines = Lines(trained.out);
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    EXPECT_TRUE(ParsesAs<mlp::v1::TrainProgress>(line));
  }
  const auto last = ParseJson<mlp::v1::TrainProgress>(lines.back());
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.version(), 2u);

  const Result predicted = Mlp({"predict", "json-model", "--input", "1,1,1",
                                "--input", "0,1,0", "--json"});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const auto predictions = ParseJson<mlp::v1::PredictResponse>(predicted.out);
  EXPECT_EQ(predictions.outputs().values_size(), 2);

  struct Case {
    std::vector<std::string> args;
    bool (*parses)(const std::string&);
  };
  const Case cases[] = {
      {{"show", "json-model"},
       [](const std::string& s) {
         return bool(ParsesAs<mlp::v1::ModelInfo>(s));
       }},
      {{"list"},
       [](const std::string& s) {
         return bool(ParsesAs<mlp::v1::ListModelsResponse>(s));
       }},
      {{"weights", "json-model"},
       [](const std::string& s) {
         return bool(ParsesAs<mlp::v1::GetWeightsResponse>(s));
       }},
      {{"dataset", "list"},
       [](const std::string& s) {
         return bool(ParsesAs<mlp::v1::ListDatasetsResponse>(s));
       }},
      {{"health"},
       [](const std::string& s) {
         return bool(ParsesAs<grpc::health::v1::HealthCheckResponse>(s));
       }},
      {{"evaluate", "json-model", "--data", csv, "--targets", "-1"},
       [](const std::string& s) {
         return bool(ParsesAs<google::protobuf::Struct>(s));
       }},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--json");
    const Result result = Mlp(args);
    EXPECT_EQ(result.exit_code, 0) << args[0] << ": " << result.err;
    EXPECT_EQ(Lines(result.out).size(), 1u) << result.out;
    EXPECT_TRUE(c.parses(result.out)) << args[0] << ": " << result.out;
  }
}

// The value at `path` ("models.0.version") of a JSON line, or a null value.
google::protobuf::Value JsonAt(const std::string& json,
                               const std::vector<std::string>& path) {
  google::protobuf::Value value;
  *value.mutable_struct_value() = ParseJson<google::protobuf::Struct>(json);
  for (const std::string& key : path) {
    if (value.has_list_value()) {
      const int index = std::stoi(key);
      if (index >= value.list_value().values_size()) return {};
      const google::protobuf::Value next = value.list_value().values(index);
      value = next;
    } else if (value.has_struct_value() &&
               value.struct_value().fields().contains(key)) {
      const google::protobuf::Value next =
          value.struct_value().fields().at(key);
      value = next;
    } else {
      return {};
    }
  }
  return value;
}

bool IsNumber(const google::protobuf::Value& value) {
  return value.kind_case() == google::protobuf::Value::kNumberValue;
}

// Versions (uint64 in the API) are JSON numbers in every command's output,
// and a training's lines carry only the fields that apply.
TEST_F(CliTest, JsonVersionsAreNumbersAndEpochLinesOnlyWhatApplies) {
  CreateXnorModel("numbers");
  const std::string csv = WriteFile("numbers.csv", kXnorCsv);
  const std::string metrics = dir_->path() + "/numbers-metrics.csv";
  const Result trained =
      Mlp({"train", "numbers", "--data", csv, "--targets", "-1", "--epochs",
           "3", "--json", "--metrics-out", metrics});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const std::vector<std::string> lines = Lines(trained.out);
  ASSERT_EQ(lines.size(), 3u) << trained.out;  // 2 epochs, then done
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    const auto fields = ParseJson<google::protobuf::Struct>(lines[i]).fields();
    EXPECT_TRUE(fields.contains("loss")) << lines[i];
    // Not done yet; a regression (mse) without validation.
    for (const char* absent :
         {"stop_reason", "version", "epochs_run", "accuracy", "validation_loss",
          "validation_accuracy"}) {
      EXPECT_FALSE(fields.contains(absent)) << absent << " in " << lines[i];
    }
  }
  EXPECT_EQ(JsonAt(lines.back(), {"stop_reason"}).string_value(), "MAX_EPOCHS");
  EXPECT_TRUE(IsNumber(JsonAt(lines.back(), {"version"}))) << lines.back();
  EXPECT_EQ(JsonAt(lines.back(), {"version"}).number_value(), 2);
  // The metrics file leaves what does not apply empty.
  const std::vector<std::string> rows = Lines(ReadWholeFile(metrics));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_THAT(rows[1], ::testing::MatchesRegex("1,[0-9.e-]+,,,,[0-9.e+]+,"
                                               "[0-9.e-]+"));

  const std::vector<
      std::pair<std::vector<std::string>, std::vector<std::string>>>
      commands = {
          {{"show", "numbers"}, {"version"}},
          {{"list"}, {"models", "0", "version"}},
          {{"weights", "numbers"}, {"version"}},
          {{"predict", "numbers", "--input", "1,1,1"}, {"version"}},
          {{"evaluate", "numbers", "--data", csv, "--targets", "-1"},
           {"version"}},
      };
  for (const auto& [command, path] : commands) {
    std::vector<std::string> args = command;
    args.push_back("--json");
    const Result result = Mlp(args);
    ASSERT_EQ(result.exit_code, 0) << command[0] << ": " << result.err;
    const google::protobuf::Value version = JsonAt(result.out, path);
    EXPECT_TRUE(IsNumber(version)) << command[0] << ": " << result.out;
    EXPECT_EQ(version.number_value(), 2) << command[0];
  }

  // A classifier with a validation split: those figures are there.
  const Result classifier =
      Mlp({"create", "numbers-clf", "--input", "3", "--layer", "4:tanh",
           "--layer", "1:sigmoid", "--loss", "bce", "--seed", "1"});
  ASSERT_EQ(classifier.exit_code, 0) << classifier.err;
  std::string rows_csv;
  for (int i = 0; i < 5; ++i) rows_csv += kXnorCsv;
  const Result validated = Mlp(
      {"train", "numbers-clf", "--data", WriteFile("numbers20.csv", rows_csv),
       "--targets", "-1", "--epochs", "2", "--validation", "0.25", "--json"});
  ASSERT_EQ(validated.exit_code, 0) << validated.err;
  const auto first =
      ParseJson<google::protobuf::Struct>(Lines(validated.out).front());
  for (const char* present :
       {"accuracy", "validation_loss", "validation_accuracy"}) {
    EXPECT_TRUE(first.fields().contains(present)) << present;
  }
}

TEST_F(CliTest, RaggedCsvRowIsReportedWithFileLineColumn) {
  CreateXnorModel("ragged-model");
  const std::string csv =
      WriteFile("ragged.csv", "a,b,c,t\n1,1,1,1\n1,1,0\n0,1,0,1\n");
  const Result result =
      Mlp({"train", "ragged-model", "--data", csv, "--targets", "t"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              StartsWith("error: " + csv + ":3:6: expected 4 fields"));
}

TEST_F(CliTest, NonNumberInCsvIsReportedWithFileLineColumn) {
  CreateXnorModel("nan-model");
  const std::string csv =
      WriteFile("nan.csv", "1,1,1,1\n1,1,0,0\n0,1,oops,1\n");
  for (const auto& command :
       {std::vector<std::string>{"train", "nan-model", "--data", csv,
                                 "--targets", "-1"},
        std::vector<std::string>{"predict", "nan-model", "--data", csv,
                                 "--targets", "-1"},
        std::vector<std::string>{"dataset", "upload", "nan-data", csv,
                                 "--targets", "-1"}}) {
    const Result result = Mlp(command);
    EXPECT_EQ(result.exit_code, 1) << command[0];
    EXPECT_EQ(result.err,
              "error: " + csv + ":3:5: expected a finite number, got 'oops'\n")
        << command[0];
  }
  // The failed upload left no dataset behind.
  EXPECT_THAT(Mlp({"dataset", "list"}).out, Not(HasSubstr("nan-data")));
}

// With --json, a script reads the error as JSON too, on stderr, and stdout
// stays empty.
TEST_F(CliTest, JsonErrorsAreJsonOnStderr) {
  const Result missing = Mlp({"--json", "show", "no-such"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  const auto error = ParseJson<google::protobuf::Struct>(missing.err);
  const auto& fields = error.fields().at("error").struct_value().fields();
  EXPECT_EQ(fields.at("code").string_value(), "NOT_FOUND");
  EXPECT_EQ(fields.at("source").string_value(), "server");
  EXPECT_THAT(fields.at("message").string_value(), HasSubstr("'no-such'"));

  // A local error, whose message has quotes and a path to escape.
  const std::string bad = WriteFile("bad \"q\".csv", "a,b,t\n1,2,x\n");
  const Result local =
      Mlp({"--json", "dataset", "upload", "bad-data", bad, "--targets", "-1"});
  EXPECT_EQ(local.exit_code, 1);
  const auto local_error = ParseJson<google::protobuf::Struct>(local.err);
  const auto& local_fields =
      local_error.fields().at("error").struct_value().fields();
  EXPECT_EQ(local_fields.at("source").string_value(), "local");
  EXPECT_THAT(local_fields.at("message").string_value(),
              HasSubstr("bad \"q\".csv:2:5"));

  // A usage error of the argument parser (the model name is missing).
  const Result unparsed = Mlp({"--json", "show"});
  EXPECT_EQ(unparsed.exit_code, 2);
  EXPECT_EQ(ParseJson<google::protobuf::Struct>(unparsed.err)
                .fields()
                .at("error")
                .struct_value()
                .fields()
                .at("source")
                .string_value(),
            "usage")
      << unparsed.err;

  // A usage error found after parsing (ragged --input rows): exit 2.
  const Result usage =
      Mlp({"--json", "predict", "m", "--input", "1,2", "--input", "1,2,3"});
  EXPECT_EQ(usage.exit_code, 2);
  const auto usage_error = ParseJson<google::protobuf::Struct>(usage.err);
  EXPECT_EQ(usage_error.fields()
                .at("error")
                .struct_value()
                .fields()
                .at("source")
                .string_value(),
            "usage");
}

TEST_F(CliTest, UnknownModelIsNotFound) {
  for (const auto& command :
       {std::vector<std::string>{"show", "no-such"},
        std::vector<std::string>{"delete", "no-such"},
        std::vector<std::string>{"weights", "no-such"},
        std::vector<std::string>{"predict", "no-such", "--input", "1,2,3"}}) {
    const Result result = Mlp(command);
    EXPECT_EQ(result.exit_code, 1) << command[0];
    EXPECT_THAT(result.err, StartsWith("error: NOT_FOUND: ")) << command[0];
    EXPECT_THAT(result.err, HasSubstr("no-such")) << command[0];
    EXPECT_EQ(result.out, "") << command[0];
  }
  // Reported before the data is read.
  const Result train = Mlp(
      {"train", "no-such", "--data", "/nonexistent.csv", "--targets", "-1"});
  EXPECT_EQ(train.exit_code, 1);
  EXPECT_THAT(train.err, StartsWith("error: NOT_FOUND: "));
}

TEST_F(CliTest, PipedTrainPrintsOneLinePerEpoch) {
  CreateXnorModel("piped-model");
  const std::string csv = WriteFile("piped.csv", kXnorCsv);
  const std::string metrics = dir_->path() + "/metrics.csv";
  const Result result =
      Mlp({"train", "piped-model", "--data", csv, "--targets", "-1", "--epochs",
           "7", "--lr", "0.05", "--batch", "1", "--metrics-out", metrics});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::vector<std::string> lines = Lines(result.out);
  ASSERT_EQ(lines.size(), 8u) << result.out;  // 7 epochs + the summary
  for (int i = 0; i < 7; ++i) {
    EXPECT_THAT(lines[i], StartsWith("epoch "));
    EXPECT_THAT(lines[i], HasSubstr(absl::StrCat(" ", i + 1, "  loss ")));
  }
  EXPECT_THAT(lines[7],
              StartsWith("stopped after 7 epochs (max-epochs), loss "));
  EXPECT_THAT(lines[7], HasSubstr("; committed version 2"));
  // No progress bar, no cursor movement: plain lines for a pipe.
  EXPECT_THAT(result.out, Not(HasSubstr("\r")));
  EXPECT_THAT(result.out, Not(HasSubstr("\033")));
  const std::vector<std::string> rows = Lines(ReadWholeFile(metrics));
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_THAT(rows[0], StartsWith("epoch,loss,accuracy,"));
  EXPECT_THAT(rows[7], StartsWith("7,"));
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"no-such-command"},
      {"list", "--no-such-flag"},
      {"create", "m", "--input", "3"},
      {"create", "m", "--input", "3", "--layer", "4:wobbly"},
      {"train", "m"},
      {"train", "m", "--data", "x.csv"},
      {"train", "m", "--epochs", "many", "--dataset", "d"},
      {"predict", "m"},
      {"predict", "m", "--input", "1,2,3", "--input", "1,2"},
      {"predict", "m", "--input", "1,two,3"},
      {"dataset", "upload", "d", "x.csv"},
      {"--timeout", "0", "list"},
  };
  for (const auto& command : commands) {
    const Result result = Mlp(command);
    EXPECT_EQ(result.exit_code, 2) << absl::StrJoin(command, " ") << "\n"
                                   << result.err;
    EXPECT_FALSE(result.err.empty());
  }
  EXPECT_EQ(Mlp({"--help"}).exit_code, 0);
}

TEST_F(CliTest, MistypedCommandsAndOptionsAreNamed) {
  const Result command = Mlp({"lsit"});
  EXPECT_EQ(command.exit_code, 2);
  EXPECT_EQ(command.err,
            "error: unknown command 'lsit' (did you mean 'list'?)\n"
            "Run 'mlp --help' for more information.\n");
  const Result with_argument = Mlp({"predcit", "x"});
  EXPECT_EQ(with_argument.exit_code, 2);
  EXPECT_THAT(with_argument.err,
              StartsWith("error: unknown command 'predcit' (did you mean "
                         "'predict'?)\n"));
  const Result option = Mlp({"create", "-x"});
  EXPECT_EQ(option.exit_code, 2);
  EXPECT_EQ(option.err,
            "error: unknown option '-x' (see 'mlp create --help')\n"
            "Run 'mlp create --help' for more information.\n");
  const Result json = Mlp({"--json", "lsit"});
  EXPECT_EQ(json.exit_code, 2);
  EXPECT_EQ(ParseJson<google::protobuf::Struct>(json.err)
                .fields()
                .at("error")
                .struct_value()
                .fields()
                .at("message")
                .string_value(),
            "unknown command 'lsit' (did you mean 'list'?)");
}

TEST_F(CliTest, ZeroAndOutOfRangeValuesAreUsageErrorsNamingTheOption) {
  const Result port =
      CliProcess(dir_->path(), {"--server", "127.0.0.1:99999", "list"})
          .Wait(30);
  EXPECT_EQ(port.exit_code, 2);
  EXPECT_THAT(port.err, StartsWith("error: --server: the port must be a "
                                   "number in 1-65535, got '99999'"));
  CreateXnorModel("zero-model");
  const std::string csv = WriteFile("zero.csv", kXnorCsv);
  for (const char* option : {"--epochs", "--batch"}) {
    const Result zero = Mlp(
        {"train", "zero-model", "--data", csv, "--targets", "-1", option, "0"});
    EXPECT_EQ(zero.exit_code, 2) << option;
    EXPECT_THAT(zero.err, StartsWith(absl::StrCat("error: ", option,
                                                  ": must be at least 1, "
                                                  "got 0")));
  }
  // Nothing was trained.
  EXPECT_EQ(
      ParseJson<mlp::v1::ModelInfo>(Mlp({"show", "zero-model", "--json"}).out)
          .version(),
      1u);
}

// --patience without --validation watches the training loss (the API's
// rule, said in `mlp train --help`): a loss that cannot improve (a learning
// rate too small to move a float weight) stops after `patience` epochs.
TEST_F(CliTest, PatienceWithoutValidationWatchesTheTrainingLoss) {
  EXPECT_THAT(Mlp({"train", "--help"}).out,
              HasSubstr("without --validation, of the training loss"));
  CreateXnorModel("patient-model");
  const std::string csv = WriteFile("patient.csv", kXnorCsv);
  const Result result =
      Mlp({"train", "patient-model", "--data", csv, "--targets", "-1",
           "--epochs", "100", "--lr", "1e-30", "--patience", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out,
              HasSubstr("stopped after 3 epochs (early-stopping), kept epoch "
                        "1"));
}

TEST_F(CliTest, ShowSaysWhichInitWasUsed) {
  ASSERT_EQ(Mlp({"create", "auto-init", "--input", "784", "--layer", "128:relu",
                 "--layer", "10:softmax"})
                .exit_code,
            0);
  const Result shown = Mlp({"show", "auto-init"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out,
              ::testing::ContainsRegex(
                  "\ninit: +auto: he, xavier \\(he for relu layers, xavier "
                  "otherwise\\)\n"));
  ASSERT_EQ(Mlp({"create", "uniform-init", "--input", "3", "--layer",
                 "1:linear", "--init", "uniform01"})
                .exit_code,
            0);
  EXPECT_THAT(Mlp({"show", "uniform-init"}).out,
              ::testing::ContainsRegex("\ninit: +uniform01\n"));
}

TEST_F(CliTest, CommandHelpListsTheGlobalOptions) {
  const Result help = Mlp({"train", "--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  const size_t global =
      help.out.find("Global options (before or after the command):");
  ASSERT_NE(global, std::string::npos) << help.out;
  for (const char* option :
       {"--server", "--json", "--timeout", "--tls-ca", "--tls-cert"}) {
    EXPECT_THAT(help.out.substr(global), HasSubstr(option));
  }
}

// The longest line of `text`.
size_t Widest(const std::string& text) {
  size_t widest = 0;
  for (const std::string& line : Lines(text)) {
    widest = std::max(widest, line.size());
  }
  return widest;
}

// What people read fits 80 columns by default, and a wider terminal gets
// more (here through $COLUMNS, since the output is a file).
TEST_F(CliTest, OutputFits80ColumnsAndWiderTerminalsGetMore) {
  for (const auto& command :
       {std::vector<std::string>{"demo"},
        std::vector<std::string>{"demo", "--no-hidden"}}) {
    const Result demo = Mlp(command);
    ASSERT_EQ(demo.exit_code, 0) << demo.err;
    EXPECT_LE(Widest(demo.out), 80u) << demo.out;
  }

  ASSERT_EQ(Mlp({"create", "wide-clf", "--input", "3", "--layer", "8:tanh",
                 "--layer", "1:sigmoid", "--loss", "bce", "--seed", "1"})
                .exit_code,
            0);
  std::string rows;
  for (int i = 0; i < 10; ++i) rows += kXnorCsv;
  const std::vector<std::string> train = {
      "train",        "wide-clf", "--data",   WriteFile("wide.csv", rows),
      "--targets",    "-1",       "--epochs", "3",
      "--validation", "0.25"};
  const Result narrow_train = Mlp(train);
  ASSERT_EQ(narrow_train.exit_code, 0) << narrow_train.err;
  EXPECT_LE(Widest(narrow_train.out), 80u) << narrow_train.out;
  EXPECT_THAT(
      narrow_train.out,
      ::testing::ContainsRegex("epoch +1  loss [0-9.]+ +val [0-9.]+ +acc "));
  EXPECT_THAT(MlpInColumns(200, train).out, HasSubstr("  val_loss "));

  ASSERT_EQ(Mlp({"create", "wide-ten", "--input", "3", "--layer", "16:relu",
                 "--layer", "10:softmax", "--seed", "1"})
                .exit_code,
            0);
  const std::vector<std::string> predict = {"predict", "wide-ten", "--input",
                                            "1,0,1",   "--input",  "0,0.5,1"};
  const Result narrow_predict = Mlp(predict);
  ASSERT_EQ(narrow_predict.exit_code, 0) << narrow_predict.err;
  EXPECT_LE(Widest(narrow_predict.out), 80u) << narrow_predict.out;
  // Ten probabilities with three decimals.
  EXPECT_THAT(narrow_predict.out,
              ::testing::ContainsRegex("1 0 1 +[0-9] +(0\\.[0-9]{3} ){9}"
                                       "0\\.[0-9]{3}\n"));
  EXPECT_GT(Widest(MlpInColumns(200, predict).out), 80u);

  const Result narrow_list = Mlp({"list"});
  ASSERT_EQ(narrow_list.exit_code, 0) << narrow_list.err;
  EXPECT_LE(Widest(narrow_list.out), 80u) << narrow_list.out;
  EXPECT_THAT(narrow_list.out, HasSubstr("3 16:relu 10:softmax"));
  const Result wide_list = MlpInColumns(250, {"list"});
  EXPECT_THAT(wide_list.out, HasSubstr("3 -> 16 relu -> 10 softmax"));
  EXPECT_THAT(wide_list.out, HasSubstr("cross-entropy"));
}

TEST_F(CliTest, VersionNamesTheBuild) {
  const Result result = Mlp({"--version"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out,
              ::testing::MatchesRegex(
                  "mlp [0-9]+\\.[0-9]+\\.[0-9]+ \\(git [0-9a-z-]+\\)\n"));
}

TEST_F(CliTest, HealthIsZeroOnlyAgainstAServingServer) {
  const Result serving = Mlp({"health"});
  EXPECT_EQ(serving.exit_code, 0) << serving.err;
  EXPECT_EQ(serving.out, "SERVING\n");
  const Result closed =
      CliProcess(dir_->path(),
                 {absl::StrCat("--server=127.0.0.1:", ClosedPort()), "health",
                  "--timeout", "5"})
          .Wait(30);
  EXPECT_NE(closed.exit_code, 0);
  EXPECT_THAT(closed.err, StartsWith("error: UNAVAILABLE: "));
}

// The "error" object of a --json error line.
google::protobuf::Struct JsonError(const std::string& line) {
  const auto error = ParseJson<google::protobuf::Struct>(line);
  if (!error.fields().contains("error")) return {};
  return error.fields().at("error").struct_value();
}

// A gRPC server whose health service reports NOT_SERVING for every service,
// as mlp-server does while it shuts down (its health answers then cannot be
// caught deterministically: the port closes at the same time).
class NotServingHealth final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext*,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    asked_about_ = request->service();
    response->set_status(grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    return grpc::Status::OK;
  }
  // The service the last Check asked about.
  std::string asked_about() {
    std::lock_guard<std::mutex> lock(mu_);
    return asked_about_;
  }

 private:
  std::mutex mu_;
  std::string asked_about_;
};

TEST_F(CliTest, HealthOnANotServingServerExitsOneAndSaysSo) {
  NotServingHealth health;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string address = absl::StrCat("--server=127.0.0.1:", port);

  const Result text = CliProcess(dir_->path(), {address, "health"}).Wait(30);
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_EQ(text.out, "NOT_SERVING\n");
  EXPECT_EQ(text.err, "error: 'mlp.v1.ModelService' is NOT_SERVING\n");
  EXPECT_EQ(health.asked_about(), "mlp.v1.ModelService");

  const Result json =
      CliProcess(dir_->path(), {address, "health", "--json", "--service", ""})
          .Wait(30);
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_EQ(json.out, "{\"status\":\"NOT_SERVING\"}\n");
  const auto error = JsonError(json.err);
  ASSERT_TRUE(error.fields().contains("code")) << json.err;
  EXPECT_EQ(error.fields().at("code").string_value(), "UNAVAILABLE");
  EXPECT_EQ(error.fields().at("message").string_value(), "'' is NOT_SERVING");
  EXPECT_EQ(health.asked_about(), "");
  server->Shutdown();
}

// The environment names the server (MLP_SERVER) and the token (MLP_TOKEN,
// the token itself); --server and --token-file beat them, for better or
// worse.
TEST_F(CliTest, EnvironmentGivesServerAndTokenAndOptionsBeatIt) {
  const std::string token = WriteFile("env-token", "env-t0ken\n");
  ::chmod(token.c_str(), 0600);
  auto guarded = mlp::testing::ServerProcess::Start(
      dir_->path() + "/env-guarded", {"--auth_token_file=" + token});
  ASSERT_TRUE(guarded.ok()) << guarded.status();
  const std::string address = (*guarded)->address();
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  const std::string wrong_token = WriteFile("env-wrong", "nope\n");
  auto run = [&](std::vector<std::string> args,
                 std::vector<std::string> environment) {
    args.push_back("list");
    return CliProcess(dir_->path(), std::move(args), environment).Wait(30);
  };

  const Result both = run({}, {"MLP_SERVER=" + address, "MLP_TOKEN=env-t0ken"});
  EXPECT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, "no models\n");
  const Result no_token = run({}, {"MLP_SERVER=" + address});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, StartsWith("error: UNAUTHENTICATED: "));
  const Result wrong = run({}, {"MLP_SERVER=" + address, "MLP_TOKEN=nope"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, StartsWith("error: PERMISSION_DENIED: "));

  // --server beats MLP_SERVER.
  const Result server_option = run(
      {"--server=" + address}, {"MLP_SERVER=" + closed, "MLP_TOKEN=env-t0ken"});
  EXPECT_EQ(server_option.exit_code, 0) << server_option.err;
  const Result server_option_closed = run(
      {"--server=" + closed}, {"MLP_SERVER=" + address, "MLP_TOKEN=env-t0ken"});
  EXPECT_EQ(server_option_closed.exit_code, 1);
  EXPECT_THAT(server_option_closed.err, StartsWith("error: UNAVAILABLE: "));
  EXPECT_THAT(server_option_closed.err, HasSubstr(closed));
  // --token-file beats MLP_TOKEN.
  const Result file_option =
      run({"--token-file", token}, {"MLP_SERVER=" + address, "MLP_TOKEN=nope"});
  EXPECT_EQ(file_option.exit_code, 0) << file_option.err;
  const Result wrong_file =
      run({"--token-file", wrong_token},
          {"MLP_SERVER=" + address, "MLP_TOKEN=env-t0ken"});
  EXPECT_EQ(wrong_file.exit_code, 1);
  EXPECT_THAT(wrong_file.err, StartsWith("error: PERMISSION_DENIED: "));
}

// Rows of cells aligned as the CLI's tables are: each column as wide as its
// widest cell, two blanks between columns, no trailing blanks.
std::string Aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string Utc(const google::protobuf::Timestamp& t, const char* format) {
  return absl::FormatTime(format, absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// What `mlp list`, `mlp show` and `mlp predict` print for people, exactly,
// against a server of its own (so that the list holds only these models).
// The figures (times, losses, outputs) come from the same commands' --json.
TEST_F(CliTest, PlainTextListShowAndPredictAreExact) {
  auto server =
      mlp::testing::ServerProcess::Start(dir_->path() + "/plain-text");
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string at = "--server=" + (*server)->address();
  auto mlp = [&](std::vector<std::string> args,
                 std::vector<std::string> environment = {}) {
    args.insert(args.begin(), at);
    Result result = CliProcess(dir_->path(), args, environment).Wait(60);
    EXPECT_EQ(result.exit_code, 0)
        << absl::StrJoin(args, " ") << ": " << result.err;
    return result;
  };
  EXPECT_EQ(mlp({"list"}).out, "no models\n");
  mlp({"create", "xnor", "--input", "3", "--layer", "4:relu", "--layer",
       "1:linear", "--seed", "7"});
  mlp({"create", "clf", "--input", "3", "--layer", "4:tanh", "--layer",
       "2:softmax", "--seed", "3"});
  const std::string csv = WriteFile("plain.csv", "1,1,1,1\n1,1,0,0\n0,1,0,1\n");
  mlp({"train", "xnor", "--data", csv, "--targets", "-1", "--epochs", "5"});

  const auto list =
      ParseJson<mlp::v1::ListModelsResponse>(mlp({"list", "--json"}).out);
  ASSERT_EQ(list.models_size(), 2);
  const mlp::v1::ModelInfo& clf = list.models(0);
  const mlp::v1::ModelInfo& xnor = list.models(1);
  // 80 columns (no terminal, no $COLUMNS): the compact layout.
  EXPECT_EQ(mlp({"list"}).out,
            Aligned({{"NAME", "VER", "STATE", "LAYERS", "LOSS", "PARAMS",
                      "UPDATED (UTC)"},
                     {"clf", "1", "ready", "3 4:tanh 2:softmax", "ce", "26",
                      Utc(clf.updated_at(), "%Y-%m-%d %H:%M")},
                     {"xnor", "2", "ready", "3 4:relu 1:linear", "mse", "21",
                      Utc(xnor.updated_at(), "%Y-%m-%d %H:%M")}}));
  // A wide terminal: full names and times to the second.
  EXPECT_EQ(
      mlp({"list"}, {"COLUMNS=200"}).out,
      Aligned(
          {{"NAME", "VERSION", "STATE", "LAYERS", "LOSS", "PARAMS", "UPDATED"},
           {"clf", "1", "ready", "3 -> 4 tanh -> 2 softmax", "cross-entropy",
            "26", Utc(clf.updated_at(), "%Y-%m-%d %H:%M:%S UTC")},
           {"xnor", "2", "ready", "3 -> 4 relu -> 1 linear", "mse", "21",
            Utc(xnor.updated_at(), "%Y-%m-%d %H:%M:%S UTC")}}));

  const auto shown =
      ParseJson<mlp::v1::ModelInfo>(mlp({"show", "xnor", "--json"}).out);
  EXPECT_EQ(
      mlp({"show", "xnor"}).out,
      Aligned({{"name:", "xnor"},
               {"layers:", "3 -> 4 relu -> 1 linear"},
               {"loss:", "mse"},
               {"bias:", "yes"},
               {"init:",
                "auto: he, xavier (he for relu layers, xavier "
                "otherwise)"},
               {"seed:", "7"},
               {"parameters:", "21"},
               {"version:", "2"},
               {"versions kept:", "1, 2"},
               {"state:", "ready"},
               {"created:", Utc(shown.created_at(), "%Y-%m-%d %H:%M:%S UTC")},
               {"updated:", Utc(shown.updated_at(), "%Y-%m-%d %H:%M:%S UTC")},
               {"last training:",
                absl::StrFormat("5 epochs, loss %.6g, max-epochs",
                                shown.last_training().final_loss())}}) +
          Aligned(
              {{"v2 gRPC:",
                (*server)->address() +
                    "  inference.GRPCInferenceService  model_name \"xnor\""},
               {"v2 HTTP:", "http://127.0.0.1:8000/v2/models/xnor/infer"}}));

  // predict --input: the inputs as given, then each row's outputs.
  const std::vector<std::string> predict = {"predict", "xnor",    "--input",
                                            "1,1,1",   "--input", "0,1,0.5"};
  std::vector<std::string> predict_json = predict;
  predict_json.push_back("--json");
  const auto outputs =
      ParseJson<mlp::v1::PredictResponse>(mlp(predict_json).out);
  ASSERT_EQ(outputs.outputs().values_size(), 2);
  EXPECT_EQ(
      mlp(predict).out,
      "version 2\n" +
          Aligned(
              {{"INPUT", "OUTPUTS"},
               {"1 1 1", absl::StrFormat("%.6g", outputs.outputs().values(0))},
               {"0 1 0.5",
                absl::StrFormat("%.6g", outputs.outputs().values(1))}}));

  // predict --data with targets, for a classifier: row number, the class
  // with the highest output, the outputs, the target and right or WRONG.
  const auto classes = ParseJson<mlp::v1::PredictResponse>(
      mlp({"predict", "clf", "--data", csv, "--targets", "-1", "--json"}).out);
  ASSERT_EQ(classes.outputs().values_size(), 6);
  std::vector<std::vector<std::string>> rows = {
      {"ROW", "CLASS", "OUTPUTS", "TARGET"}};
  const int targets[] = {1, 0, 1};
  for (int r = 0; r < 3; ++r) {
    const float p0 = classes.outputs().values(2 * r);
    const float p1 = classes.outputs().values(2 * r + 1);
    const int top = p1 > p0 ? 1 : 0;
    rows.push_back({absl::StrCat(r + 1), absl::StrCat(top),
                    absl::StrFormat("%.6g %.6g", p0, p1),
                    absl::StrCat(targets[r]),
                    top == targets[r] ? "right" : "WRONG"});
  }
  EXPECT_EQ(mlp({"predict", "clf", "--data", csv, "--targets", "-1"}).out,
            "version 1\n" + Aligned(rows));
}

TEST_F(CliTest, NoGrpcServerAtTheAddressFailsFastAsAConnectionError) {
  const std::string csv = WriteFile("connect.csv", kXnorCsv);
  SilentPort silent;
  const std::string not_grpc =
      absl::StrCat("--server=127.0.0.1:", silent.port());
  const std::string closed = absl::StrCat("--server=127.0.0.1:", ClosedPort());
  // Commands with a deadline (--timeout 60) and streams without one.
  const std::vector<std::vector<std::string>> commands = {
      {not_grpc, "list", "--json", "--timeout", "60"},
      {not_grpc, "health", "--json"},
      {not_grpc, "train", "m", "--data", csv, "--targets", "-1", "--json"},
      {not_grpc, "dataset", "upload", "d", csv, "--targets", "-1", "--json"},
      {closed, "list", "--json"},
      {closed, "dataset", "upload", "d", csv, "--targets", "-1", "--json"},
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<CliProcess>> runs;
  for (const auto& command : commands) {
    runs.push_back(std::make_unique<CliProcess>(dir_->path(), command));
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const Result result = runs[i]->Wait(30);
    const std::string what = absl::StrJoin(commands[i], " ");
    EXPECT_EQ(result.exit_code, 1) << what << "\n" << result.err;
    const auto error = JsonError(result.err);
    ASSERT_TRUE(error.fields().contains("source"))
        << what << ": " << result.err;
    EXPECT_EQ(error.fields().at("source").string_value(), "connection") << what;
    EXPECT_EQ(error.fields().at("code").string_value(), "UNAVAILABLE") << what;
    EXPECT_THAT(error.fields().at("message").string_value(),
                HasSubstr(i < 4 ? "does not speak gRPC" : "cannot connect"))
        << what;
  }
  // The connection is given a few seconds, not gRPC's 20 s handshake.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(12));
}

TEST_F(CliTest, UploadedCsvDatasetTrainsAndEvaluates) {
  std::string rows = "x1,x2,x3,label\n";
  for (int i = 0; i < 50; ++i) rows += kXnorCsv;
  const std::string csv = WriteFile("xnor-big.csv", rows);
  const Result upload =
      Mlp({"dataset", "upload", "xnor-data", csv, "--targets", "label"});
  ASSERT_EQ(upload.exit_code, 0) << upload.err;
  EXPECT_THAT(upload.out,
              HasSubstr("'xnor-data': 200 rows, 3 inputs, 1 targets"));
  EXPECT_THAT(Mlp({"dataset", "list"}).out, HasSubstr("xnor-data"));

  const Result created =
      Mlp({"create", "xnor-clf", "--input", "3", "--layer", "8:tanh", "--layer",
           "1:sigmoid", "--loss", "bce", "--seed", "3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const Result trained =
      Mlp({"train", "xnor-clf", "--dataset", "xnor-data", "--epochs", "200",
           "--optimizer", "adam", "--lr", "0.05", "--batch", "8", "--shuffle",
           "--seed", "5", "--report-every", "50"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_THAT(trained.out, HasSubstr("acc "));   // a classifier shows accuracy
  EXPECT_EQ(Lines(trained.out).size(), 4u + 1);  // epochs 50..200, summary

  const Result evaluated =
      Mlp({"evaluate", "xnor-clf", "--data", csv, "--targets", "label"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_THAT(evaluated.out, HasSubstr("accuracy 100.00% (200 of 200 rows"));

  EXPECT_EQ(Mlp({"dataset", "delete", "xnor-data"}).exit_code, 0);
  const Result gone = Mlp({"dataset", "delete", "xnor-data"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, StartsWith("error: NOT_FOUND: "));
}

// A model and data whose epochs take long enough that a training is still
// running when a signal arrives.
class CtrlCTest : public CliTest {
 protected:
  static void SetUpTestSuite() {
    CliTest::SetUpTestSuite();
    std::string rows;
    for (int i = 0; i < 2000; ++i) rows += kXnorCsv;
    slow_csv_ = new std::string(WriteFile("slow.csv", rows));
    const Result created =
        Mlp({"create", "slow-model", "--input", "3", "--layer", "64:relu",
             "--layer", "64:relu", "--layer", "1:linear", "--seed", "1"});
    ASSERT_EQ(created.exit_code, 0) << created.err;
  }
  static void TearDownTestSuite() {
    delete slow_csv_;
    slow_csv_ = nullptr;
    CliTest::TearDownTestSuite();
  }

  // Starts a long training and waits for its first epoch line: the stream
  // is then certainly running.
  static std::unique_ptr<CliProcess> StartLongTraining() {
    auto train = std::make_unique<CliProcess>(
        dir_->path(),
        WithServer({"train", "slow-model", "--data", *slow_csv_, "--targets",
                    "-1", "--epochs", "100000", "--batch", "1"}));
    EXPECT_TRUE(train->WaitForEpochLine(60))
        << "no epoch line in 60 s: " << train->out();
    return train;
  }

  static void ExpectCancelledAndNothingCommitted(const Result& result) {
    EXPECT_EQ(result.exit_code, 130) << result.err;
    EXPECT_THAT(result.err, HasSubstr("training cancelled by Ctrl-C; nothing "
                                      "was committed"));
    const Result show = Mlp({"show", "slow-model", "--json"});
    ASSERT_EQ(show.exit_code, 0);
    EXPECT_EQ(ParseJson<mlp::v1::ModelInfo>(show.out).version(), 1u);
    EXPECT_EQ(ParseJson<mlp::v1::ModelInfo>(show.out).state(), mlp::v1::READY);
  }

  static std::string* slow_csv_;
};

std::string* CtrlCTest::slow_csv_ = nullptr;

TEST_F(CtrlCTest, CancelsTrainingAndCommitsNothing) {
  std::unique_ptr<CliProcess> train = StartLongTraining();
  train->Signal(SIGINT);
  ExpectCancelledAndNothingCommitted(train->Wait(30));
}

// `timeout -s INT` and a terminal's Ctrl-C signal the process and then its
// process group: the same interrupt arrives twice, close together. The
// command still waits for the server and says what it kept, every time.
TEST_F(CtrlCTest, TheSameInterruptTwiceStillSaysWhatWasKept) {
  for (int run = 0; run < 5; ++run) {
    SCOPED_TRACE(absl::StrCat("run ", run));
    std::unique_ptr<CliProcess> train = StartLongTraining();
    train->Signal(SIGINT);
    train->Signal(SIGINT);
    ExpectCancelledAndNothingCommitted(train->Wait(30));
  }
}

// A Ctrl-C well after the first one means the user will not wait: the
// process ends at once, and says so.
TEST_F(CtrlCTest, ASecondInterruptLaterEndsAtOnceAndSaysSo) {
  // A server that never answers the GetModel that follows a cancel would
  // keep the first Ctrl-C waiting; a stopped server does just that.
  auto server = mlp::testing::ServerProcess::Start(dir_->path() + "/stopped");
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = "--server=" + (*server)->address();
  ASSERT_EQ(
      CliProcess(dir_->path(), {address, "create", "m", "--input", "3",
                                "--layer", "64:relu", "--layer", "1:linear"})
          .Wait(30)
          .exit_code,
      0);
  CliProcess train(dir_->path(),
                   {address, "train", "m", "--data", *slow_csv_, "--targets",
                    "-1", "--epochs", "100000", "--batch", "1"});
  ASSERT_TRUE(train.WaitForEpochLine(60))
      << "no epoch line in 60 s: " << train.out();
  (*server)->Signal(SIGSTOP);
  train.Signal(SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  train.Signal(SIGINT);
  const Result result = train.Wait(10);
  (*server)->Signal(SIGCONT);
  EXPECT_EQ(result.exit_code, 130) << result.err;
  EXPECT_THAT(result.err, HasSubstr("interrupted again: exiting without "
                                    "waiting for the server"));
}

TEST_F(CliTest, TrainingCancelledByTheServerExitsOne) {
  const Result created = Mlp({"create", "doomed", "--input", "3", "--layer",
                              "4:relu", "--layer", "1:linear", "--seed", "1"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string csv = WriteFile("xnor.csv", kXnorCsv);
  CliProcess train(dir_->path(),
                   WithServer({"train", "doomed", "--data", csv, "--targets",
                               "-1", "--epochs", "100000000", "--batch", "1"}));
  ASSERT_TRUE(train.WaitForEpochLine(60))
      << "no epoch line in 60 s: " << train.out();
  const Result deleted = Mlp({"delete", "doomed"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  const Result result = train.Wait(30);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("the server cancelled the training"));
}

TEST_F(CliTest, TokenFileAuthenticatesAgainstAGuardedServer) {
  const std::string token = WriteFile("token", "t0ken-for-tests\n");
  ::chmod(token.c_str(), 0600);  // the server refuses a token others can read
  auto guarded = mlp::testing::ServerProcess::Start(
      dir_->path() + "/guarded", {"--auth_token_file=" + token});
  ASSERT_TRUE(guarded.ok()) << guarded.status();
  const std::string server = "--server=" + (*guarded)->address();
  const Result refused = CliProcess(dir_->path(), {server, "list"}).Wait(30);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, StartsWith("error: UNAUTHENTICATED: "));
  const Result wrong =
      CliProcess(dir_->path(),
                 {server, "--token-file", WriteFile("wrong", "nope"), "list"})
          .Wait(30);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, StartsWith("error: PERMISSION_DENIED: "));
  const Result accepted =
      CliProcess(dir_->path(), {server, "--token-file", token, "list"})
          .Wait(30);
  EXPECT_EQ(accepted.exit_code, 0) << accepted.err;
  // Health needs no token (container health checks).
  EXPECT_EQ(CliProcess(dir_->path(), {server, "health"}).Wait(30).exit_code, 0);
}

// ------------------------------------------------------------------ TLS

// Certificates made at test time (tests/testing/certs.h): the CA "a-"
// signed the servers' and the client's; "b-" is a stranger.
class CliTlsTest : public CliTest {
 protected:
  static void SetUpTestSuite() {
    CliTest::SetUpTestSuite();
    auto a = mlp::testing::MakeTestPki(dir_->path() + "/pki-a", "a-");
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = mlp::testing::MakeTestPki(dir_->path() + "/pki-b", "b-");
    ASSERT_TRUE(b.ok()) << b.status();
    pki_ = new mlp::testing::TestPki(*a);
    stranger_ = new mlp::testing::TestPki(*b);
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete stranger_;
    CliTest::TearDownTestSuite();
  }

  // A server speaking TLS with the "a-" certificate; `mutual`: it also
  // wants client certificates of the "a-" CA.
  static std::unique_ptr<mlp::testing::ServerProcess> StartTlsServer(
      const std::string& name, bool mutual,
      const std::string& address = "127.0.0.1:0") {
    std::vector<std::string> flags = {"--address=" + address,
                                      "--tls_cert_file=" + pki_->server_cert,
                                      "--tls_key_file=" + pki_->server_key};
    if (mutual) flags.push_back("--tls_client_ca_file=" + pki_->ca_cert);
    auto server =
        mlp::testing::ServerProcess::Start(dir_->path() + "/" + name, flags);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // `mlp --server=<server> args...` with NAME=VALUE `environment`.
  static Result MlpAt(const std::string& server, std::vector<std::string> args,
                      const std::vector<std::string>& environment = {}) {
    args.insert(args.begin(), "--server=" + server);
    return CliProcess(dir_->path(), std::move(args), environment).Wait(30);
  }

  static mlp::testing::TestPki* pki_;
  static mlp::testing::TestPki* stranger_;
};

mlp::testing::TestPki* CliTlsTest::pki_ = nullptr;
mlp::testing::TestPki* CliTlsTest::stranger_ = nullptr;

TEST_F(CliTlsTest, TheRightCaConnectsAndAWrongCaIsSaidInWords) {
  auto server = StartTlsServer("tls", /*mutual=*/false);
  ASSERT_NE(server, nullptr);
  const std::string address = server->address();
  const Result created =
      MlpAt(address, {"--tls-ca", pki_->ca_cert, "create", "over-tls",
                      "--input", "3", "--layer", "1:linear"});
  EXPECT_EQ(created.exit_code, 0) << created.err;
  // The environment variable works too, and with a name the certificate
  // holds ("localhost" as well as 127.0.0.1).
  const Result listed = MlpAt(absl::StrCat("localhost:", server->port()),
                              {"list"}, {"MLP_TLS_CA=" + pki_->ca_cert});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("over-tls"));
  // An option beats its variable.
  EXPECT_EQ(MlpAt(address, {"--tls-ca", pki_->ca_cert, "health"},
                  {"MLP_TLS_CA=" + stranger_->ca_cert})
                .exit_code,
            0);

  const Result wrong = MlpAt(address, {"--tls-ca", stranger_->ca_cert, "list"});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err,
              StartsWith("error: UNAVAILABLE: cannot connect to " + address +
                         ": TLS handshake failed: the server's certificate "
                         "is not signed by --tls-ca"));
  EXPECT_EQ(Lines(wrong.err).size(), 1u) << wrong.err;  // no gRPC log lines
  const Result json =
      MlpAt(address, {"--tls-ca", stranger_->ca_cert, "list", "--json"});
  EXPECT_EQ(json.exit_code, 1);
  const auto error = JsonError(json.err);
  ASSERT_TRUE(error.fields().contains("source")) << json.err;
  EXPECT_EQ(error.fields().at("source").string_value(), "connection");
  EXPECT_THAT(error.fields().at("message").string_value(),
              HasSubstr("is not signed by --tls-ca"));
}

// Plaintext against TLS and TLS against plaintext each say so.
TEST_F(CliTlsTest, PlaintextAndTlsMismatchesAreSaidInWords) {
  auto server = StartTlsServer("tls-only", /*mutual=*/false);
  ASSERT_NE(server, nullptr);
  const Result plaintext = MlpAt(server->address(), {"list"});
  EXPECT_EQ(plaintext.exit_code, 1);
  EXPECT_THAT(plaintext.err, HasSubstr("speaks only TLS; give the CA that "
                                       "signed its certificate with --tls-ca"));
  const Result tls =
      MlpAt(server_->address(), {"--tls-ca", pki_->ca_cert, "list"});
  EXPECT_EQ(tls.exit_code, 1);
  EXPECT_THAT(tls.err, HasSubstr("TLS handshake failed: the server does not "
                                 "speak TLS"));
}

// The certificate names localhost and 127.0.0.1; 127.0.0.2 is the same
// machine under a name it does not hold.
TEST_F(CliTlsTest, AHostTheCertificateDoesNotNameIsSaidInWords) {
  auto server =
      StartTlsServer("tls-other-host", /*mutual=*/false, "127.0.0.2:0");
  ASSERT_NE(server, nullptr);
  const Result result = MlpAt(absl::StrCat("127.0.0.2:", server->port()),
                              {"--tls-ca", pki_->ca_cert, "list"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err,
              HasSubstr("TLS handshake failed: the server's certificate does "
                        "not name the host in --server"));
}

TEST_F(CliTlsTest, MutualTlsRefusesACliWithoutAClientCertificate) {
  auto server = StartTlsServer("mtls", /*mutual=*/true);
  ASSERT_NE(server, nullptr);
  const std::string address = server->address();
  const Result without = MlpAt(address, {"--tls-ca", pki_->ca_cert, "list"});
  EXPECT_EQ(without.exit_code, 1);
  EXPECT_THAT(without.err,
              HasSubstr("TLS handshake failed: the server closed the "
                        "connection; a server run with --tls_client_ca_file "
                        "(mutual TLS) wants a client certificate: give "
                        "--tls-cert and --tls-key"));
  const Result stranger = MlpAt(
      address, {"--tls-ca", pki_->ca_cert, "--tls-cert", stranger_->client_cert,
                "--tls-key", stranger_->client_key, "list"});
  EXPECT_EQ(stranger.exit_code, 1);
  EXPECT_THAT(stranger.err, HasSubstr("is --tls-cert signed by a CA in the "
                                      "server's --tls_client_ca_file?"));
  const Result with = MlpAt(
      address, {"--tls-ca", pki_->ca_cert, "--tls-cert", pki_->client_cert,
                "--tls-key", pki_->client_key, "create", "mutual", "--input",
                "2", "--layer", "1:linear"});
  EXPECT_EQ(with.exit_code, 0) << with.err;
  const Result from_environment =
      MlpAt(address, {"show", "mutual"},
            {"MLP_TLS_CA=" + pki_->ca_cert, "MLP_TLS_CERT=" + pki_->client_cert,
             "MLP_TLS_KEY=" + pki_->client_key});
  EXPECT_EQ(from_environment.exit_code, 0) << from_environment.err;
}

// Files that cannot serve are named before any connection: a certificate
// without its key is a usage error (2), an unreadable or non-PEM file a
// local error (1).
TEST_F(CliTlsTest, UnusableTlsFilesAreNamed) {
  const std::string address = server_->address();
  const Result half = MlpAt(address, {"--tls-ca", pki_->ca_cert, "--tls-cert",
                                      pki_->client_cert, "list"});
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_THAT(half.err, StartsWith("error: --tls-cert (or MLP_TLS_CERT) needs "
                                   "--tls-key (or MLP_TLS_KEY)"));
  const Result missing =
      MlpAt(address, {"--tls-ca", dir_->path() + "/no-such.pem", "list"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "error: --tls-ca: cannot read '" + dir_->path() +
                             "/no-such.pem': No such file or directory\n");
  // The key given as the certificate, through the environment.
  const Result key_as_cert =
      MlpAt(address, {"list", "--json"},
            {"MLP_TLS_CA=" + pki_->ca_cert, "MLP_TLS_CERT=" + pki_->client_key,
             "MLP_TLS_KEY=" + pki_->client_key});
  EXPECT_EQ(key_as_cert.exit_code, 1);
  const auto error = JsonError(key_as_cert.err);
  ASSERT_TRUE(error.fields().contains("source")) << key_as_cert.err;
  EXPECT_EQ(error.fields().at("source").string_value(), "local");
  EXPECT_EQ(error.fields().at("message").string_value(),
            "--tls-cert: '" + pki_->client_key +
                "' is not a PEM file holding a certificate (a '-----BEGIN "
                "CERTIFICATE-----' block)");
  const Result not_pem =
      MlpAt(address, {"--tls-ca", WriteFile("not.pem", "hello\n"), "health"});
  EXPECT_EQ(not_pem.exit_code, 1);
  EXPECT_THAT(not_pem.err,
              HasSubstr("not.pem' is not a PEM file holding a certificate"));
}

TEST_F(CliTest, IdxUploadAndPredictFromAFile) {
  // Two 2x2 "images" with labels 0 and 1, the format of Fashion-MNIST.
  const std::string images =
      WriteFile("images.idx",
                std::string("\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x02", 16) +
                    std::string("\xff\0\0\xff\0\xff\xff\0", 8));
  const std::string labels =
      WriteFile("labels.idx", std::string("\0\0\x08\x01\0\0\0\x02", 8) +
                                  std::string("\0\x01", 2));
  const Result upload =
      Mlp({"dataset", "upload", "tiny-idx", images, "--labels", labels});
  ASSERT_EQ(upload.exit_code, 0) << upload.err;
  EXPECT_THAT(upload.out, HasSubstr("2 rows, 4 inputs, 1 targets"));

  ASSERT_EQ(Mlp({"create", "tiny", "--input", "4", "--layer", "2:softmax",
                 "--seed", "1"})
                .exit_code,
            0);
  ASSERT_EQ(Mlp({"train", "tiny", "--dataset", "tiny-idx", "--epochs", "50",
                 "--lr", "0.5"})
                .exit_code,
            0);
  // With labels, each row shows its label and whether the class is right.
  const Result predicted =
      Mlp({"predict", "tiny", "--data", images, "--labels", labels});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  EXPECT_THAT(
      Lines(predicted.out),
      ::testing::ElementsAre(
          "version 2", ::testing::MatchesRegex("ROW +CLASS +OUTPUTS +TARGET"),
          ::testing::MatchesRegex("1 +0 +[0-9.e-]+ +[0-9.e-]+ +0 +right"),
          ::testing::MatchesRegex("2 +1 +[0-9.e-]+ +[0-9.e-]+ +1 +right")))
      << predicted.out;
  const Result evaluated =
      Mlp({"evaluate", "tiny", "--data", images, "--labels", labels});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_THAT(evaluated.out, HasSubstr("accuracy 100.00% (2 of 2 rows"));
}

void WriteGzip(const std::string& path, const std::string& content) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  gzwrite(gz, content.data(), static_cast<unsigned>(content.size()));
  gzclose(gz);
}

// `mlp predict MODEL --data images.idx.gz` without --labels: IDX is
// recognised by its header, not read as CSV.
TEST_F(CliTest, PredictReadsGzipIdxImagesWithoutLabels) {
  ASSERT_EQ(Mlp({"create", "unlabelled", "--input", "4", "--layer", "3:softmax",
                 "--seed", "1"})
                .exit_code,
            0);
  const std::string images = dir_->path() + "/unlabelled-idx3-ubyte.gz";
  WriteGzip(images,
            std::string("\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x02", 16) +
                std::string("\xff\0\0\xff\0\xff\xff\0", 8));
  const Result predicted = Mlp({"predict", "unlabelled", "--data", images});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const std::vector<std::string> lines = Lines(predicted.out);
  ASSERT_EQ(lines.size(), 4u) << predicted.out;  // version, header, 2 rows
  EXPECT_THAT(lines[1], ::testing::MatchesRegex("ROW +CLASS +OUTPUTS"));
  EXPECT_THAT(lines[3], StartsWith("2 "));
}

// A binary file that is not IDX is refused without a byte of it on the
// terminal; a CSV field of control characters is quoted escaped.
TEST_F(CliTest, BinaryFilesNeverPutTheirBytesInAnError) {
  CreateXnorModel("binary-model");
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>((i * 7919) % 251);
  const std::string gz = dir_->path() + "/noise.gz";
  WriteGzip(gz, noise);
  const std::string raw = WriteFile("noise.bin", noise);
  const std::string csv =
      WriteFile("controls.csv", "1,1,1\n1,\x1b]0;owned\x07\x9b" +
                                    std::string(300, 'A') + ",1\n");
  for (const std::string& file : {gz, raw, csv}) {
    const Result result = Mlp({"predict", "binary-model", "--data", file});
    EXPECT_EQ(result.exit_code, 1) << file;
    EXPECT_LT(result.err.size(), 300u) << result.err;
    for (char c : result.err) {
      const auto byte = static_cast<unsigned char>(c);
      EXPECT_TRUE(byte == '\n' || (byte >= 0x20 && byte < 0x7f))
          << file << ": byte " << int{byte} << " in " << result.err;
    }
  }
}

// IDX bytes: the header (magic 0x0000080N, big-endian dimensions), then the
// unsigned bytes.
std::string IdxBytes(const std::vector<uint32_t>& dims,
                     const std::string& data) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) {
      bytes.push_back(static_cast<char>((d >> shift) & 0xff));
    }
  }
  return bytes + data;
}

// A directory laid out like the Fashion-MNIST package, with a few 2x2
// images: the demo's logic without its data.
std::string WriteTinyFashion(const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto images = [](int count) {
    std::string pixels;
    for (int i = 0; i < 4 * count; ++i) {
      pixels += static_cast<char>(i * 37 % 256);
    }
    return IdxBytes({static_cast<uint32_t>(count), 2, 2}, pixels);
  };
  auto labels = [](int count) {
    std::string classes;
    for (int i = 0; i < count; ++i) classes += static_cast<char>(i % 10);
    return IdxBytes({static_cast<uint32_t>(count)}, classes);
  };
  WriteGzip(dir + "/train-images-idx3-ubyte.gz", images(20));
  WriteGzip(dir + "/train-labels-idx1-ubyte.gz", labels(20));
  WriteGzip(dir + "/t10k-images-idx3-ubyte.gz", images(10));
  WriteGzip(dir + "/t10k-labels-idx1-ubyte.gz", labels(10));
  return dir;
}

// The demo never replaces a model that is not its own, and uses a dataset
// already on the server when it has the training set's shape instead of
// uploading a second copy; one with another shape is left alone too.
TEST_F(CliTest, FashionDemoKeepsOtherModelsAndReusesTheDataset) {
  const std::string tiny = WriteTinyFashion(dir_->path() + "/tiny-fashion");
  ASSERT_EQ(Mlp({"dataset", "upload", "tiny-train",
                 tiny + "/train-images-idx3-ubyte.gz", "--labels",
                 tiny + "/train-labels-idx1-ubyte.gz"})
                .exit_code,
            0);
  ASSERT_EQ(Mlp({"create", "mine", "--input", "4", "--layer", "3:relu",
                 "--layer", "10:softmax", "--seed", "1"})
                .exit_code,
            0);
  const std::string datasets_before = Mlp({"dataset", "list", "--json"}).out;

  const Result refused = Mlp({"demo", "fashion", "--dir", tiny, "--dataset",
                              "tiny-train", "--name", "mine", "--epochs", "1"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err,
              HasSubstr("model 'mine' exists and is not this demo's"));
  const auto mine =
      ParseJson<mlp::v1::ModelInfo>(Mlp({"show", "mine", "--json"}).out);
  EXPECT_EQ(mine.version(), 1u);
  EXPECT_EQ(mine.spec().layers(0).units(), 3u);

  const Result first =
      Mlp({"demo", "fashion", "--dir", tiny, "--dataset", "tiny-train",
           "--name", "tiny-demo", "--epochs", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_LE(Widest(first.out), 80u) << first.out;
  EXPECT_THAT(first.out, HasSubstr("using dataset 'tiny-train': 20 rows"));
  EXPECT_THAT(first.out, HasSubstr("model 'tiny-demo': 4 -> 128 relu"));
  EXPECT_THAT(first.out, HasSubstr("test accuracy"));
  EXPECT_THAT(first.out, HasSubstr("model 'tiny-demo' and dataset "
                                   "'tiny-train' stay on the server"));
  // A second run replaces its own model.
  const Result second =
      Mlp({"demo", "fashion", "--dir", tiny, "--dataset", "tiny-train",
           "--name", "tiny-demo", "--epochs", "1"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_THAT(second.out,
              HasSubstr("model 'tiny-demo' (replacing the last demo's)"));
  // Nothing was uploaded.
  EXPECT_EQ(Mlp({"dataset", "list", "--json"}).out, datasets_before);

  // A dataset of that name with another shape is not the training set.
  const std::string csv = WriteFile("other-shape.csv", kXnorCsv);
  ASSERT_EQ(Mlp({"dataset", "upload", "other-shape", csv, "--targets", "-1"})
                .exit_code,
            0);
  const Result mismatch =
      Mlp({"demo", "fashion", "--dir", tiny, "--dataset", "other-shape",
           "--name", "tiny-demo", "--epochs", "1"});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_THAT(mismatch.err,
              HasSubstr("dataset 'other-shape' on the server has 4 rows of 3 "
                        "inputs and 1 targets, not the training set's 20 rows "
                        "of 4 inputs and 1 target; choose another --dataset"));
}

// The README's tour, then `mlp demo fashion`: the tour's model 'fashion' is
// untouched and its dataset 'fashion-train' is used, not uploaded again.
TEST_F(CliTest, FashionDemoAfterTheTourReportsTestAccuracy) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << dir << " not installed";
  const Result upload = Mlp({"dataset", "upload", "fashion-train",
                             dir + "/train-images-idx3-ubyte.gz", "--labels",
                             dir + "/train-labels-idx1-ubyte.gz"},
                            240);
  ASSERT_EQ(upload.exit_code, 0) << upload.err;
  ASSERT_EQ(Mlp({"create", "fashion", "--input", "784", "--layer", "128:relu",
                 "--layer", "10:softmax"})
                .exit_code,
            0);
  const Result first = Mlp({"demo", "fashion", "--epochs", "1"}, 240);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_THAT(first.out, HasSubstr("using dataset 'fashion-train': 60000 rows, "
                                   "784 inputs"));
  EXPECT_THAT(first.out, HasSubstr("model 'demo-fashion': 784 -> 128 relu"));
  const std::regex accuracy(R"(test accuracy ([0-9.]+)% \((\d+) of 10000)");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(first.out, match, accuracy)) << first.out;
  EXPECT_GT(std::stod(match[1]), 75.0);  // one epoch of Adam gets ~83%
  EXPECT_EQ(
      ParseJson<mlp::v1::ModelInfo>(Mlp({"show", "fashion", "--json"}).out)
          .version(),
      1u);
  const auto datasets = ParseJson<mlp::v1::ListDatasetsResponse>(
      Mlp({"dataset", "list", "--json"}).out);
  int fashion_sets = 0;
  for (const auto& dataset : datasets.datasets()) {
    fashion_sets += dataset.rows() == 60000 ? 1 : 0;
  }
  EXPECT_EQ(fashion_sets, 1);

  // --json lines all parse.
  const Result second =
      Mlp({"demo", "fashion", "--epochs", "1", "--json"}, 240);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const std::vector<std::string> lines = Lines(second.out);
  ASSERT_EQ(lines.size(), 1u + 1 + 1 + 1);  // dataset, model, epoch, result
  EXPECT_TRUE(ParsesAs<mlp::v1::DatasetInfo>(lines[0]));
  EXPECT_TRUE(ParsesAs<mlp::v1::ModelInfo>(lines[1]));
  EXPECT_TRUE(ParsesAs<mlp::v1::TrainProgress>(lines[2]));
  EXPECT_TRUE(ParsesAs<google::protobuf::Struct>(lines[3]));
}

}  // namespace
}  // namespace mlp::cli
