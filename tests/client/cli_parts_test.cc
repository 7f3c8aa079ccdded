// The CLI's pure parts: number and layer parsing, enum spellings, exit
// codes, progress lines, the loss curve, and the command-line grammar.
#include <grpcpp/support/status.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/names.h"
#include "client/output.h"
#include "client/parse.h"
#include "client/progress.h"
#include "client/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlp::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

TEST(ParseTest, Floats) {
  EXPECT_THAT(ParseFloat(" 1.5 "), Optional(1.5f));
  EXPECT_THAT(ParseFloat("+2"), Optional(2.0f));
  EXPECT_THAT(ParseFloat("-1e-3"), Optional(-1e-3f));
  EXPECT_EQ(ParseFloat(""), std::nullopt);
  EXPECT_EQ(ParseFloat("1.5x"), std::nullopt);
  EXPECT_EQ(ParseFloat("nan"), std::nullopt);
  EXPECT_EQ(ParseFloat("inf"), std::nullopt);
  EXPECT_EQ(ParseFloat("1e99"), std::nullopt);  // beyond float
}

TEST(ParseTest, NumberListsNameTheBadValue) {
  auto values = ParseNumberList("1, 0.5,-2");
  ASSERT_TRUE(values.ok());
  EXPECT_THAT(*values, ElementsAre(1, 0.5f, -2));
  EXPECT_THAT(std::string(ParseNumberList("1,x,1").status().message()),
              HasSubstr("value 2 of '1,x,1'"));
}

TEST(ParseTest, Layers) {
  auto layer = ParseLayer("4:relu");
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ(layer->units(), 4u);
  EXPECT_EQ(layer->activation(), mlp::v1::RELU);
  EXPECT_FALSE(ParseLayer("0:relu").ok());
  EXPECT_FALSE(ParseLayer("4").ok());
  EXPECT_FALSE(ParseLayer("4:activation-unspecified").ok());
  EXPECT_THAT(std::string(ParseLayer("4:relux").status().message()),
              HasSubstr("linear|relu|sigmoid|tanh|softmax"));
}

TEST(ParseTest, ServerAddresses) {
  for (const char* good : {"127.0.0.1:50051", "localhost:1", "[::1]:65535",
                           "dns:///mlp.example:50051", "unix:/run/mlp.sock"}) {
    EXPECT_TRUE(CheckServerAddress(good).ok()) << good;
  }
  EXPECT_EQ(CheckServerAddress("127.0.0.1:99999").message(),
            "the port must be a number in 1-65535, got '99999' in "
            "'127.0.0.1:99999'");
  EXPECT_FALSE(CheckServerAddress("127.0.0.1:0").ok());
  EXPECT_FALSE(CheckServerAddress("127.0.0.1:").ok());
  EXPECT_FALSE(CheckServerAddress("127.0.0.1:5x").ok());
  EXPECT_FALSE(CheckServerAddress("127.0.0.1:99999999999").ok());
  EXPECT_THAT(std::string(CheckServerAddress("localhost").message()),
              HasSubstr("expected HOST:PORT"));
  EXPECT_THAT(std::string(CheckServerAddress("::1:50051").message()),
              HasSubstr("in brackets"));
}

TEST(NamesTest, RoundTripsAndAliases) {
  EXPECT_EQ(ActivationName(mlp::v1::SOFTMAX), "softmax");
  EXPECT_EQ(LossName(mlp::v1::CROSS_ENTROPY), "cross-entropy");
  EXPECT_EQ(ParseLoss("CE"), mlp::v1::CROSS_ENTROPY);
  EXPECT_EQ(ParseLoss("binary_cross_entropy"), mlp::v1::BINARY_CROSS_ENTROPY);
  EXPECT_EQ(ParseInit("he"), mlp::v1::HE_NORMAL);
  EXPECT_EQ(ParseInit("uniform-0-1"), mlp::v1::UNIFORM_0_1);
  EXPECT_EQ(InitName(mlp::v1::UNIFORM_0_1), "uniform01");
  EXPECT_EQ(ParseOptimizer("adam"), mlp::v1::ADAM);
  EXPECT_EQ(ParseOptimizer("optimizer-unspecified"), std::nullopt);
  EXPECT_EQ(StopReasonName(mlp::v1::TARGET_LOSS), "target-loss");
  EXPECT_EQ(OptimizerChoices(), "sgd|momentum|adam");
}

TEST(StatusTest, ServerErrorsShowTheirCodeAndExitOne) {
  const absl::Status status = FromGrpc(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "model 'x' not found"));
  EXPECT_TRUE(IsServerError(status));
  EXPECT_EQ(FormatError(status), "error: NOT_FOUND: model 'x' not found");
  EXPECT_EQ(FormatErrorJson(status),
            R"({"error":{"code":"NOT_FOUND","message":"model 'x' not found",)"
            R"("source":"server"}})");
  EXPECT_EQ(ExitCode(status, false), kExitError);
}

TEST(StatusTest, LocalUsageAndInterruptExitCodes) {
  const absl::Status local = absl::InvalidArgumentError("a.csv:2:3: bad");
  EXPECT_EQ(FormatError(local), "error: a.csv:2:3: bad");
  EXPECT_EQ(FormatErrorJson(absl::InvalidArgumentError("\"a\\b\".csv:1: bad")),
            R"({"error":{"code":"INVALID_ARGUMENT",)"
            R"("message":"\"a\\b\".csv:1: bad","source":"local"}})");
  // Control characters escaped; bytes that are not UTF-8 replaced, valid
  // UTF-8 kept.
  EXPECT_EQ(FormatErrorJson(absl::InvalidArgumentError("x\tz \xff \xc3\xa9")),
            "{\"error\":{\"code\":\"INVALID_ARGUMENT\",\"message\":"
            "\"x\\tz \xef\xbf\xbd \xc3\xa9\",\"source\":\"local\"}}");
  EXPECT_EQ(ExitCode(local, false), kExitError);
  EXPECT_EQ(ExitCode(UsageError("no"), false), kExitUsage);
  EXPECT_EQ(ExitCode(absl::CancelledError("x"), true), kExitInterrupted);
  EXPECT_EQ(ExitCode(absl::OkStatus(), true), kExitOk);
}

TEST(StatusTest, QuotedTextIsEscapedAndBounded) {
  EXPECT_EQ(Quote("abc"), "'abc'");
  EXPECT_EQ(Quote("caf\xc3\xa9"), "'caf\xc3\xa9'");  // UTF-8 kept
  EXPECT_EQ(Quote(std::string("a\0b\x1b\x7f\xc2\x85\xff", 8)),
            "'a\\x00b\\x1b\\x7f\\xc2\\x85\\xff'");
  EXPECT_EQ(Quote(std::string(100, 'x'), 5), "'xxxxx...' (100 bytes)");
}

TEST(ProgressTest, EpochLines) {
  mlp::v1::TrainProgress progress;
  progress.set_epoch(12);
  progress.set_loss(0.0123);
  progress.set_accuracy(0.931);
  progress.set_validation_loss(0.0131);
  progress.set_validation_accuracy(0.928);
  progress.set_samples_per_second(1234);
  // A wide terminal: six digits, full labels.
  EXPECT_EQ(FormatEpoch(progress, false, false, 200),
            "epoch    12  loss 0.0123           1234 samples/s");
  EXPECT_EQ(FormatEpoch(progress, true, true, 200),
            "epoch    12  loss 0.0123       acc  93.10%  val_loss 0.0131       "
            "val_acc  92.80%      1234 samples/s");
  // 80 columns: the compact form.
  EXPECT_EQ(FormatEpoch(progress, true, true, 80),
            "epoch   12  loss 0.0123   val 0.0131    acc  93.1% val  92.8%  "
            "1.23k samples/s");
  // The long form when even its widest line fits.
  EXPECT_EQ(FormatEpoch(progress, false, false, 80),
            "epoch    12  loss 0.0123           1234 samples/s");
}

TEST(ProgressTest, EpochLinesFit80ColumnsWhateverTheFigures) {
  mlp::v1::TrainProgress widest;
  widest.set_epoch(99999);
  widest.set_loss(-1.23456e-05);
  widest.set_validation_loss(1.23456e+10);
  widest.set_accuracy(1);
  widest.set_validation_accuracy(1);
  widest.set_samples_per_second(123456789);
  for (bool classification : {false, true}) {
    for (bool validation : {false, true}) {
      const std::string line =
          FormatEpoch(widest, classification, validation, 80);
      EXPECT_LE(line.size(), 80u) << line;
      EXPECT_THAT(line, HasSubstr("loss -1.23")) << line;
    }
  }
}

// What a terminal shows of `text`: each line as left by its last
// carriage return / erase-line.
std::vector<std::string> ScreenLines(const std::string& text) {
  std::vector<std::string> lines;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    std::string line(raw);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t start = line.rfind('\r');
    if (start != std::string::npos) line = line.substr(start + 1);
    if (absl::StartsWith(line, "\033[K")) line = line.substr(3);
    lines.push_back(line);
  }
  return lines;
}

TEST(ProgressTest, LiveDisplayKeepsOneEpochLineOnATerminal) {
  std::ostringstream out;
  TrainDisplay::Options options;
  options.terminal = true;
  options.live = true;
  options.plot = true;
  auto display = TrainDisplay::Create(options, out);
  ASSERT_TRUE(display.ok());
  mlp::v1::TrainProgress progress;
  for (int epoch = 1; epoch <= 210; ++epoch) {
    progress.set_epoch(epoch);
    progress.set_loss(1.0 / epoch);
    if (epoch == 210) {
      progress.set_done(true);
      progress.set_stop_reason(mlp::v1::TARGET_LOSS);
      progress.set_version(2);
    }
    ASSERT_TRUE((*display)->Update(progress).ok());
  }
  (*display)->Finish(&progress);
  const std::vector<std::string> lines = ScreenLines(out.str());
  int epoch_lines = 0;
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "epoch")) {
      ++epoch_lines;
      EXPECT_THAT(line, ::testing::StartsWith("epoch   210  loss 0.0047619"));
    }
  }
  EXPECT_EQ(epoch_lines, 1) << out.str();
  EXPECT_THAT(out.str(), HasSubstr("stopped after 210 epochs (target-loss)"));
  EXPECT_THAT(out.str(), HasSubstr("loss per epoch"));
}

TEST(ProgressTest, BarWithEta) {
  EXPECT_EQ(FormatProgressBar(25, 100, 10, 50),
            "[#####................]   25/100 epochs  ETA 0:30");
  EXPECT_THAT(FormatProgressBar(0, 10, 0, 40), HasSubstr("ETA -:--"));
  EXPECT_THAT(FormatProgressBar(1, 2, 3600, 40), HasSubstr("ETA 1:00:00"));
}

TEST(ProgressTest, LossCurveFallsFromTopLeftToBottomRight) {
  std::vector<double> losses;
  for (int i = 0; i < 100; ++i) losses.push_back(1.0 / (1 + i * i));
  const std::string curve = RenderLossCurve(losses, 50, 6);
  EXPECT_THAT(curve, HasSubstr("log scale"));
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = curve.find('\n', start)) != std::string::npos;
       start = end + 1) {
    lines.push_back(curve.substr(start, end - start));
  }
  ASSERT_EQ(lines.size(), 1u + 6 + 2);      // title, rows, axis, labels
  EXPECT_THAT(lines[1], HasSubstr(" |*"));  // first epoch, top left
  EXPECT_EQ(lines[6].back(), '*');          // last epoch, bottom right
  EXPECT_THAT(lines[8], HasSubstr("100"));
  EXPECT_EQ(RenderLossCurve({0.5}, 50, 6), "");
}

// The y-axis says the real range: the first epoch's loss on top, even when
// several epochs share a column.
TEST(ProgressTest, LossCurveLabelsTheRealHighestAndLowestLoss) {
  std::vector<double> losses = {0.607};
  for (int i = 1; i < 210; ++i) losses.push_back(0.3 / i);
  const std::string curve = RenderLossCurve(losses, 60, 8);
  EXPECT_THAT(curve, ::testing::ContainsRegex("\n +0.607 \\|\\*\n"));
  EXPECT_THAT(curve, ::testing::ContainsRegex("\n0.00144 \\|[ *]*\\*\n"));
}

TEST(OutputTest, JsonIntegersAreNumbersInFieldOrder) {
  mlp::v1::ModelInfo model;
  model.set_name("m");
  model.set_version(2);
  model.mutable_spec()->set_seed(9223372036854775809u);  // beyond 2^63
  model.add_available_versions(1);
  model.add_available_versions(2);
  model.mutable_created_at()->set_seconds(1);
  const std::string json = ToJson(model);
  EXPECT_THAT(json, ::testing::StartsWith(R"({"name":"m","spec":{)"));
  EXPECT_THAT(json, HasSubstr(R"("seed":9223372036854775809)"));
  EXPECT_THAT(json, HasSubstr(R"("version":2,)"));
  EXPECT_THAT(json, HasSubstr(R"("available_versions":[1,2])"));
  EXPECT_THAT(json, HasSubstr(R"("created_at":"1970-01-01T00:00:01Z")"));
}

TEST(OutputTest, ProgressJsonHasOnlyTheFieldsThatApply) {
  mlp::v1::TrainProgress progress;
  progress.set_epoch(3);
  progress.set_loss(0.5);
  progress.set_samples_per_second(100);
  progress.set_elapsed_seconds(1.5);
  EXPECT_EQ(FormatProgressJson(progress, /*classification=*/false,
                               /*validation=*/false),
            R"({"epoch":3,"loss":0.5,"samples_per_second":100,)"
            R"("elapsed_seconds":1.5,"done":false})");
  progress.set_done(true);
  progress.set_stop_reason(mlp::v1::MAX_EPOCHS);
  progress.set_version(7);
  progress.set_epochs_run(3);
  progress.set_accuracy(0.75);
  progress.set_validation_accuracy(0.5);
  EXPECT_EQ(FormatProgressJson(progress, /*classification=*/true,
                               /*validation=*/true),
            R"({"epoch":3,"loss":0.5,"accuracy":0.75,"validation_loss":0,)"
            R"("validation_accuracy":0.5,"samples_per_second":100,)"
            R"("elapsed_seconds":1.5,"done":true,"stop_reason":"MAX_EPOCHS",)"
            R"("version":7,"epochs_run":3})");
}

// INIT_UNSPECIFIED is the API's "the activation's usual init", which the
// server applies per layer (he for relu, xavier otherwise); show says what
// was used.
TEST(OutputTest, InitSaysWhatEachLayerWasDrawnWith) {
  mlp::v1::ModelSpec spec;
  spec.set_input_size(784);
  for (auto activation : {mlp::v1::RELU, mlp::v1::TANH, mlp::v1::SOFTMAX}) {
    auto* layer = spec.add_layers();
    layer->set_units(10);
    layer->set_activation(activation);
  }
  EXPECT_EQ(FormatInit(spec),
            "auto: he, xavier, xavier (he for relu layers, xavier otherwise)");
  spec.set_init(mlp::v1::UNIFORM_0_1);
  EXPECT_EQ(FormatInit(spec), "uniform01");
  mlp::v1::ModelInfo model;
  *model.mutable_spec() = spec;
  model.mutable_spec()->clear_init();
  model.mutable_spec()->set_loss(mlp::v1::CROSS_ENTROPY);
  model.set_state(mlp::v1::READY);
  EXPECT_THAT(FormatModel(model),
              ::testing::ContainsRegex("\ninit: +auto: he, xavier, xavier "));
  EXPECT_THAT(FormatModel(model), Not(HasSubstr("unspecified")));
}

TEST(OutputTest, ServingUrlsUseTheServersHost) {
  EXPECT_EQ(FormatServingUrls("m", "10.0.0.7:50051", 8000),
            "v2 gRPC:  10.0.0.7:50051  inference.GRPCInferenceService  "
            "model_name \"m\"\n"
            "v2 HTTP:  http://10.0.0.7:8000/v2/models/m/infer\n");
  EXPECT_THAT(FormatServingUrls("m", "[::1]:50051", 9000),
              HasSubstr("http://[::1]:9000/v2/models/m/infer"));
  EXPECT_THAT(FormatServingUrls("m", "dns:///mlp.example:50051", 8000),
              HasSubstr("http://HOST:8000/v2/models/m/infer"));
}

mlp::v1::ModelInfo ListedModel(const std::string& name, uint32_t inputs,
                               uint32_t hidden, uint32_t outputs) {
  mlp::v1::ModelInfo model;
  model.set_name(name);
  model.set_version(12);
  model.set_state(mlp::v1::TRAINING);
  model.set_parameter_count(101770);
  model.mutable_updated_at()->set_seconds(1714564800);
  auto& spec = *model.mutable_spec();
  spec.set_input_size(inputs);
  spec.add_layers()->set_units(hidden);
  spec.mutable_layers(0)->set_activation(mlp::v1::RELU);
  spec.add_layers()->set_units(outputs);
  spec.mutable_layers(1)->set_activation(mlp::v1::SOFTMAX);
  spec.set_loss(mlp::v1::CROSS_ENTROPY);
  return model;
}

TEST(OutputTest, ModelListFitsTheWidthAndUsesMoreWhenThereIsMore) {
  mlp::v1::ListModelsResponse list;
  *list.add_models() = ListedModel("fashion", 784, 128, 10);
  *list.add_models() = ListedModel("demo-fashion", 784, 128, 10);
  *list.add_models() = ListedModel("demo-xnor-linear", 3, 4, 1);
  const std::string narrow = FormatModelList(list, 80);
  EXPECT_LE(WidestLine(narrow), 80u) << narrow;
  EXPECT_THAT(narrow, HasSubstr("784 128:relu 10:softmax"));
  EXPECT_THAT(narrow, HasSubstr("2024-05-01 12:00"));
  const std::string wide = FormatModelList(list, 200);
  EXPECT_THAT(wide, HasSubstr("784 -> 128 relu -> 10 softmax"));
  EXPECT_THAT(wide, HasSubstr("cross-entropy"));
  EXPECT_THAT(wide, HasSubstr("101770"));
  EXPECT_THAT(wide, HasSubstr("2024-05-01 12:00:00 UTC"));
  // However narrow, names, versions and layers stay.
  EXPECT_THAT(FormatModelList(list, 40),
              HasSubstr("demo-fashion      12   training  784 128:relu "
                        "10:softmax"));
}

TEST(OutputTest, TablesAndMatrices) {
  EXPECT_EQ(FormatTable({{"A", "BB"}, {"ccc", "d"}}), "A    BB\nccc  d\n");
  mlp::v1::Tensor tensor;
  tensor.add_shape(2);
  tensor.add_shape(2);
  for (float v : {1.0f, -0.5f, 10.0f, 2.0f}) tensor.add_values(v);
  EXPECT_EQ(FormatMatrix(tensor, "  "), "     1  -0.5\n    10     2\n");
}

// The grammar, through the same AddCommands that main() uses.
class CommandLineTest : public ::testing::Test {
 protected:
  // Parses; returns the exit code main() would return for a parse error,
  // or -1 when the line parses.
  int Parse(std::vector<std::string> args) {
    app_ = std::make_unique<CLI::App>("mlp", "mlp");
    global_ = GlobalOptions();
    action_ = nullptr;
    message_.clear();
    AddCommands(*app_, global_, &action_);
    std::vector<const char*> argv = {"mlp"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    try {
      app_->parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& error) {
      message_ = DescribeParseError(*app_, error);
      return error.get_exit_code() == 0 ? kExitOk : kExitUsage;
    }
    return -1;
  }

  // The message main() prints for a line that does not parse.
  std::string ErrorOf(std::vector<std::string> args) {
    EXPECT_EQ(Parse(std::move(args)), kExitUsage);
    return message_;
  }

  std::unique_ptr<CLI::App> app_;
  GlobalOptions global_;
  Action action_;
  std::string message_;
};

// CLI11 checks what is missing before what it did not recognise; the message
// names the mistyped word instead of the missing argument.
TEST_F(CommandLineTest, MistypedWordsAreNamedWithTheNearestSpelling) {
  EXPECT_EQ(ErrorOf({"lsit"}), "unknown command 'lsit' (did you mean 'list'?)");
  EXPECT_EQ(ErrorOf({"predcit", "x"}),
            "unknown command 'predcit' (did you mean 'predict'?)");
  EXPECT_EQ(ErrorOf({"--json", "shwo", "x"}),
            "unknown command 'shwo' (did you mean 'show'?)");
  EXPECT_EQ(ErrorOf({"dataset", "uplaod", "d", "f.csv"}),
            "unknown command 'dataset uplaod' (did you mean 'dataset "
            "upload'?)");
  EXPECT_EQ(ErrorOf({"frobnicate"}),
            "unknown command 'frobnicate' (the commands are create, list, "
            "show, delete, weights, train, predict, evaluate, dataset, demo, "
            "health)");
  EXPECT_EQ(ErrorOf({"create", "-x"}),
            "unknown option '-x' (see 'mlp create --help')");
  EXPECT_EQ(ErrorOf({"create", "m", "--inptu", "3", "--layer", "1:linear"}),
            "unknown option '--inptu' (did you mean '--input'?)");
  EXPECT_EQ(ErrorOf({"list", "--jsno"}),
            "unknown option '--jsno' (did you mean '--json'?)");
  EXPECT_EQ(ErrorOf({"train", "m", "--epochs=3", "--lr=1", "--bach=4"}),
            "unknown option '--bach' (did you mean '--batch'?)");
  EXPECT_EQ(ErrorOf({"list", "extra"}),
            "unexpected argument 'extra' (see 'mlp list --help')");
  EXPECT_EQ(ErrorOf({"dataset"}),
            "missing command (one of upload, list, delete)");
  // Nothing mistyped: CLI11's own message.
  EXPECT_EQ(ErrorOf({"show"}), "name is required");
  EXPECT_EQ(ErrorOf({"create", "m", "--input", "3"}), "--layer is required");
}

// Every command's --help lists the global options, which work after the
// command too, and fits 80 columns.
TEST_F(CommandLineTest, EveryHelpHasTheGlobalOptionsAndFits80Columns) {
  unsetenv("COLUMNS");
  ASSERT_EQ(Parse({"list"}), -1);
  std::vector<const CLI::App*> commands = {app_.get()};
  for (size_t i = 0; i < commands.size(); ++i) {
    for (const CLI::App* sub : commands[i]->get_subcommands({})) {
      commands.push_back(sub);
    }
  }
  ASSERT_GT(commands.size(), 10u);
  for (const CLI::App* command : commands) {
    const std::string help = command->help();
    for (const char* option :
         {"--server", "--json", "--timeout", "--token-file", "--tls-ca",
          "--tls-cert", "--tls-key"}) {
      EXPECT_THAT(help, HasSubstr(option)) << command->get_name();
    }
    if (command != app_.get()) {
      EXPECT_THAT(help,
                  HasSubstr("Global options (before or after the command):"))
          << command->get_name();
    }
    for (absl::string_view line : absl::StrSplit(help, '\n')) {
      EXPECT_LE(line.size(), 80u) << command->get_name() << ": " << line;
    }
  }
}

TEST_F(CommandLineTest, GlobalOptionsBeforeOrAfterTheCommand) {
  EXPECT_EQ(Parse({"--server", "h:1", "list", "--json"}), -1);
  EXPECT_EQ(global_.server, "h:1");
  EXPECT_TRUE(global_.json);
  EXPECT_TRUE(action_);
  EXPECT_EQ(Parse({"dataset", "list", "--json", "--timeout", "3"}), -1);
  EXPECT_TRUE(global_.json);
  EXPECT_EQ(global_.timeout_seconds, 3);
  EXPECT_EQ(Parse({"demo", "fashion", "--epochs", "1", "--json"}), -1);
  EXPECT_TRUE(global_.json);
  EXPECT_TRUE(action_);
}

// --tls-ca, --tls-cert, --tls-key or MLP_TLS_CA, MLP_TLS_CERT,
// MLP_TLS_KEY: an option beats its variable.
TEST_F(CommandLineTest, TlsFilesComeFromOptionsOrTheEnvironment) {
  setenv("MLP_TLS_CA", "env-ca.pem", 1);
  setenv("MLP_TLS_CERT", "env-cert.pem", 1);
  setenv("MLP_TLS_KEY", "env-key.pem", 1);
  EXPECT_EQ(Parse({"list"}), -1);
  EXPECT_EQ(global_.tls_ca_file, "env-ca.pem");
  EXPECT_EQ(global_.tls_cert_file, "env-cert.pem");
  EXPECT_EQ(global_.tls_key_file, "env-key.pem");
  EXPECT_EQ(Parse({"list", "--tls-ca", "ca.pem", "--tls-key=key.pem"}), -1);
  EXPECT_EQ(global_.tls_ca_file, "ca.pem");
  EXPECT_EQ(global_.tls_cert_file, "env-cert.pem");
  EXPECT_EQ(global_.tls_key_file, "key.pem");
  unsetenv("MLP_TLS_CA");
  unsetenv("MLP_TLS_CERT");
  unsetenv("MLP_TLS_KEY");
  EXPECT_EQ(Parse({"--tls-cert", "c.pem", "health"}), -1);
  EXPECT_EQ(global_.tls_ca_file, "");
  EXPECT_EQ(global_.tls_cert_file, "c.pem");
}

// What ResolveTls makes of the files: TLS on with any of them; a
// certificate without its key is a usage error; a file that cannot be read
// or holds no PEM block of its kind is a local error naming it.
TEST(ResolveTlsTest, ReadsThePemFilesAndNamesTheBadOnes) {
  char dir_template[] = "/tmp/mlp-tls-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const auto write = [&dir](const std::string& name, const std::string& text) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  };
  const std::string cert =
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const std::string ca = write("ca.pem", cert);
  const std::string client = write("client.pem", cert);
  const std::string key = write(
      "client.key",
      "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n");

  GlobalOptions none;
  ASSERT_TRUE(ResolveTls(&none).ok());
  EXPECT_FALSE(none.tls.enabled);

  GlobalOptions all;
  all.tls_ca_file = ca;
  all.tls_cert_file = client;
  all.tls_key_file = key;
  ASSERT_TRUE(ResolveTls(&all).ok());
  EXPECT_TRUE(all.tls.enabled);
  EXPECT_EQ(all.tls.root_certs, cert);
  EXPECT_EQ(all.tls.cert_chain, cert);
  EXPECT_THAT(all.tls.private_key, HasSubstr("EC PRIVATE KEY"));

  // A client certificate without --tls-ca: TLS with the system's CAs.
  GlobalOptions system_roots;
  system_roots.tls_cert_file = client;
  system_roots.tls_key_file = key;
  ASSERT_TRUE(ResolveTls(&system_roots).ok());
  EXPECT_TRUE(system_roots.tls.enabled);
  EXPECT_EQ(system_roots.tls.root_certs, "");

  GlobalOptions half;
  half.tls_cert_file = client;
  absl::Status status = ResolveTls(&half);
  EXPECT_TRUE(IsUsageError(status)) << status;
  EXPECT_EQ(ExitCode(status, false), kExitUsage);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("--tls-cert (or MLP_TLS_CERT) needs --tls-key"));
  half.tls_cert_file.clear();
  half.tls_key_file = key;
  status = ResolveTls(&half);
  EXPECT_TRUE(IsUsageError(status)) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("--tls-key (or MLP_TLS_KEY) needs --tls-cert"));

  GlobalOptions missing;
  missing.tls_ca_file = dir + "/nowhere.pem";
  status = ResolveTls(&missing);
  EXPECT_EQ(ExitCode(status, false), kExitError);
  EXPECT_EQ(status.message(), "--tls-ca: cannot read '" + dir +
                                  "/nowhere.pem': No such file or directory");

  GlobalOptions swapped;  // the key given as the certificate
  swapped.tls_cert_file = key;
  swapped.tls_key_file = client;
  status = ResolveTls(&swapped);
  EXPECT_EQ(ExitCode(status, false), kExitError);
  EXPECT_EQ(status.message(),
            "--tls-cert: '" + key +
                "' is not a PEM file holding a certificate (a '-----BEGIN "
                "CERTIFICATE-----' block)");
  swapped.tls_cert_file = client;
  swapped.tls_key_file = ca;
  EXPECT_THAT(std::string(ResolveTls(&swapped).message()),
              HasSubstr("--tls-key: '" + ca +
                        "' is not a PEM file holding a private key"));

  // openssl ecparam -genkey writes the parameters before the key.
  GlobalOptions parameters_first;
  parameters_first.tls_cert_file = client;
  parameters_first.tls_key_file =
      write("params.key",
            "-----BEGIN EC PARAMETERS-----\nBgg\n-----END EC PARAMETERS-----\n"
            "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE "
            "KEY-----\n");
  EXPECT_TRUE(ResolveTls(&parameters_first).ok());

  GlobalOptions not_pem;
  not_pem.tls_ca_file = write("notes.txt", "just words\n");
  EXPECT_THAT(std::string(ResolveTls(&not_pem).message()),
              HasSubstr("is not a PEM file holding a certificate"));
  std::filesystem::remove_all(dir);
}

TEST_F(CommandLineTest, SyntaxErrorsAreUsageErrors) {
  EXPECT_EQ(Parse({}), kExitUsage);
  EXPECT_EQ(Parse({"frobnicate"}), kExitUsage);
  EXPECT_EQ(Parse({"list", "--bogus"}), kExitUsage);
  EXPECT_EQ(Parse({"create", "m", "--input", "3"}), kExitUsage);  // no layer
  EXPECT_EQ(Parse({"create", "m", "--input", "x", "--layer", "1:linear"}),
            kExitUsage);
  EXPECT_EQ(Parse({"train", "m", "--data", "a.csv", "--dataset", "d"}),
            kExitUsage);
  EXPECT_EQ(Parse({"--timeout", "-1", "list"}), kExitUsage);
  EXPECT_EQ(Parse({"--help"}), kExitOk);
}

// The API reads 0 as "the default"; a user who types 0 gets an error that
// names the option instead of 10 epochs or batches of 32.
TEST_F(CommandLineTest, ZeroIsRefusedWhereTheApiReadsItAsTheDefault) {
  const std::vector<std::string> train = {"train", "m", "--dataset", "d"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = train;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  EXPECT_EQ(ErrorOf(with({"--epochs", "0"})),
            "--epochs: must be at least 1, got 0 (without the option: 10)");
  EXPECT_EQ(ErrorOf(with({"--batch", "0"})),
            "--batch: must be at least 1, got 0 (without the option: 32)");
  EXPECT_EQ(ErrorOf(with({"--report-every", "0"})),
            "--report-every: must be at least 1, got 0 (without the option: "
            "1)");
  EXPECT_EQ(ErrorOf(with({"--lr", "0"})),
            "--lr: must be greater than 0, got 0 (without the option: 0.01)");
  EXPECT_EQ(ErrorOf(with({"--optimizer", "momentum", "--momentum", "0"})),
            "--momentum: must be greater than 0, got 0 (without the option: "
            "0.9)");
  EXPECT_EQ(ErrorOf({"demo", "fashion", "--epochs", "0"}),
            "--epochs: must be at least 1, got 0 (without the option: 5)");
  EXPECT_EQ(Parse(with({"--epochs", "1", "--batch", "1", "--lr", "1e-3"})), -1);
  // --momentum with another optimizer would be ignored.
  ASSERT_EQ(Parse(with({"--momentum", "0.5"})), -1);
  const absl::Status momentum = action_();
  EXPECT_TRUE(IsUsageError(momentum));
  EXPECT_THAT(std::string(momentum.message()),
              HasSubstr("--momentum applies only to --optimizer momentum"));
}

TEST_F(CommandLineTest, ServerPortOutOfRangeIsAUsageError) {
  EXPECT_EQ(ErrorOf({"--server", "127.0.0.1:99999", "list"}),
            "--server: the port must be a number in 1-65535, got '99999' in "
            "'127.0.0.1:99999'");
  setenv("MLP_SERVER", "127.0.0.1:70000", 1);
  EXPECT_EQ(Parse({"list"}), kExitUsage);
  unsetenv("MLP_SERVER");
  EXPECT_EQ(Parse({"--server", "[::1]:50051", "list"}), -1);
}

TEST_F(CommandLineTest, RepeatedOptionsTakeOneValueEach) {
  EXPECT_EQ(Parse({"create", "--layer", "4:relu", "m", "--layer", "1:linear",
                   "--input", "3"}),
            -1);
  EXPECT_EQ(Parse({"predict", "m", "--input", "1,1,1", "--input", "0,1,0"}),
            -1);
}

TEST_F(CommandLineTest, SemanticErrorsAreUsageErrorsWhenRun) {
  ASSERT_EQ(Parse({"train", "m"}), -1);
  EXPECT_TRUE(IsUsageError(action_()));
  ASSERT_EQ(Parse({"create", "m", "--input", "3", "--layer", "4:nope"}), -1);
  EXPECT_TRUE(IsUsageError(action_()));
  ASSERT_EQ(Parse({"predict", "m", "--input", "1,2", "--input", "1"}), -1);
  EXPECT_TRUE(IsUsageError(action_()));
  ASSERT_EQ(Parse({"dataset", "upload", "d", "f.csv"}), -1);
  EXPECT_TRUE(IsUsageError(action_()));
}

}  // namespace
}  // namespace mlp::cli
