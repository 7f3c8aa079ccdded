#include "client/commands.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/output.h"
#include "client/parse.h"

namespace mlp::cli {
namespace {

// Edits (insertions, deletions, substitutions, swaps of neighbours) that turn
// `a` into `b`: "lsit" is 1 from "list".
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1,
                                     std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + substitute});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate `word` was most likely meant as, or "" if none is close: a
// few edits away (fewer than half its length), or begun by it.
std::string Nearest(const std::string& word,
                    const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;
  for (const std::string& candidate : candidates) {
    size_t distance = EditDistance(word, candidate);
    if (word.size() >= 3 && absl::StartsWith(candidate, word)) distance = 1;
    if (distance < best_distance && 2 * distance < word.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// The deepest command the parser got to: `app` itself if it got none.
const CLI::App& ParsedCommand(const CLI::App& app) {
  const CLI::App* command = &app;
  while (!command->get_subcommands().empty()) {
    command = command->get_subcommands().front();
  }
  return *command;
}

// A word that the parser would have read as an option: "-x", "--name=v",
// but not "-1" or "-0.5", which are values.
bool LooksLikeOption(const std::string& word) {
  return word.size() > 1 && word[0] == '-' && !ParseFloat(word).has_value();
}

// Every spelling of the options `command` and the commands above it accept
// (global options may follow the command).
std::vector<std::string> OptionNames(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* app = &command; app != nullptr;
       app = app->get_parent()) {
    for (const CLI::Option* option : app->get_options()) {
      for (const std::string& name : option->get_lnames()) {
        names.push_back("--" + name);
      }
      for (const std::string& name : option->get_snames()) {
        names.push_back("-" + name);
      }
    }
  }
  return names;
}

// `text` with line breaks at spaces so that no line is longer than `width`
// (a word longer than that gets a line of its own); its own breaks kept.
std::string Wrap(const std::string& text, size_t width) {
  std::string out;
  for (absl::string_view paragraph : absl::StrSplit(text, '\n')) {
    if (!out.empty()) out += '\n';
    size_t line = 0;
    for (absl::string_view word :
         absl::StrSplit(paragraph, ' ', absl::SkipEmpty())) {
      if (line > 0 && line + 1 + word.size() > width) {
        out += '\n';
        line = 0;
      } else if (line > 0) {
        out += ' ';
        ++line;
      }
      absl::StrAppend(&out, word);
      line += word.size();
    }
  }
  return out;
}

// CLI11's help, fitted to the terminal (descriptions wrapped in their
// column), and with the global options in every command's help: they work
// after the command too (`mlp list --json`).
class HelpFormatter final : public CLI::Formatter {
 public:
  std::string make_option_desc(const CLI::Option* option) const override {
    return Wrap(CLI::Formatter::make_option_desc(option), DescriptionWidth());
  }

  std::string make_subcommand(const CLI::App* command) const override {
    std::stringstream out;
    CLI::detail::format_help(
        out, command->get_display_name(true),
        Wrap(command->get_description(), DescriptionWidth()), column_width_);
    return out.str();
  }

  std::string make_footer(const CLI::App* command) const override {
    std::string footer = CLI::Formatter::make_footer(command);
    if (command->get_parent() == nullptr) return footer;
    const CLI::App* root = command;
    while (root->get_parent() != nullptr) root = root->get_parent();
    const std::vector<const CLI::Option*> global =
        root->get_options([root](const CLI::Option* option) {
          return option != root->get_help_ptr() &&
                 option != root->get_version_ptr() && option->nonpositional();
        });
    // make_help puts a blank line before the footer; make_group adds one.
    std::string group = make_group(
        "Global options (before or after the command)", false, global);
    return absl::StrCat(absl::StripPrefix(group, "\n"), footer);
  }

  std::string make_description(const CLI::App* command) const override {
    return Wrap(CLI::Formatter::make_description(command),
                static_cast<size_t>(TerminalWidth() - 1));
  }

 private:
  size_t DescriptionWidth() const {
    const int width = TerminalWidth() - 1 - static_cast<int>(column_width_);
    return static_cast<size_t>(std::max(width, 30));
  }
};

}  // namespace

CLI::Validator AtLeastOne(const std::string& when_omitted) {
  return CLI::Validator(
      [when_omitted](std::string& text) -> std::string {
        const std::optional<float> value = ParseFloat(text);
        if (!value || *value >= 1) return "";
        return absl::StrCat("must be at least 1, got ", text,
                            " (without the option: ", when_omitted, ")");
      },
      "");
}

CLI::Validator GreaterThanZero(const std::string& when_omitted) {
  return CLI::Validator(
      [when_omitted](std::string& text) -> std::string {
        const std::optional<float> value = ParseFloat(text);
        if (!value || *value > 0) return "";
        return absl::StrCat("must be greater than 0, got ", text,
                            " (without the option: ", when_omitted, ")");
      },
      "");
}

CLI::Validator ServerAddress() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const absl::Status status = CheckServerAddress(text);
        return status.ok() ? "" : std::string(status.message());
      },
      "");
}

std::string ParsedCommandPath(const CLI::App& app) {
  std::vector<std::string> words = {app.get_name()};
  for (const CLI::App* command = &app; !command->get_subcommands().empty();) {
    command = command->get_subcommands().front();
    words.push_back(command->get_name());
  }
  return absl::StrJoin(words, " ");
}

std::string DescribeParseError(const CLI::App& app,
                               const CLI::ParseError& error) {
  const std::vector<std::string> leftover = app.remaining(true);
  const CLI::App& command = ParsedCommand(app);
  const std::string path = ParsedCommandPath(app);
  // The words after the program's name that name the command so far.
  const std::string prefix = path.size() > app.get_name().size()
                                 ? path.substr(app.get_name().size() + 1) + " "
                                 : "";

  // A command that needs a subcommand got none, or a word it does not know.
  if (command.get_require_subcommand_min() > 0 &&
      command.get_subcommands().empty()) {
    std::vector<std::string> names;
    for (const CLI::App* sub : command.get_subcommands({})) {
      if (!sub->get_disabled()) names.push_back(sub->get_name());
    }
    const auto word =
        std::find_if_not(leftover.begin(), leftover.end(), LooksLikeOption);
    if (word == leftover.end() && error.get_name() == "RequiredError") {
      return absl::StrCat("missing command (one of ",
                          absl::StrJoin(names, ", "), ")");
    }
    if (word != leftover.end()) {
      const std::string nearest = Nearest(*word, names);
      return absl::StrCat(
          "unknown command '", prefix, *word, "' ",
          nearest.empty()
              ? absl::StrCat("(the commands are ", absl::StrJoin(names, ", "),
                             ")")
              : absl::StrCat("(did you mean '", prefix, nearest, "'?)"));
    }
  }
  if (leftover.empty()) return error.what();
  const auto option =
      std::find_if(leftover.begin(), leftover.end(), LooksLikeOption);
  if (option != leftover.end()) {
    const std::string name = option->substr(0, option->find('='));
    const std::string nearest = Nearest(name, OptionNames(command));
    return absl::StrCat("unknown option '", name, "' ",
                        nearest.empty()
                            ? absl::StrCat("(see '", path, " --help')")
                            : absl::StrCat("(did you mean '", nearest, "'?)"));
  }
  return absl::StrCat("unexpected argument '", leftover.front(), "' (see '",
                      path, " --help')");
}

void AddCommands(CLI::App& app, GlobalOptions& global, Action* action) {
  // Before the commands: each takes its parent's formatter when added.
  app.formatter(std::make_shared<HelpFormatter>());
  app.add_option("--server", global.server, "mlp-server address host:port")
      ->envname("MLP_SERVER")
      ->check(ServerAddress())
      ->capture_default_str();
  app.add_flag("--json", global.json,
               "print results as JSON (one object per line) for scripts");
  app.add_option("--timeout", global.timeout_seconds,
                 "deadline of each request in seconds (training streams and "
                 "uploads have none; Ctrl-C cancels them)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--token-file", global.token_file,
                 "file holding the server's access token (for a server run "
                 "with --auth_token_file); the token itself may instead be "
                 "given in the environment variable MLP_TOKEN");
  app.add_option("--tls-ca", global.tls_ca_file,
                 "TLS: the CA certificates (PEM) that signed the server's "
                 "certificate; any --tls-* option turns TLS on, without "
                 "--tls-ca the system's CAs are trusted")
      ->envname("MLP_TLS_CA")
      ->type_name("FILE");
  app.add_option("--tls-cert", global.tls_cert_file,
                 "mutual TLS: this client's certificate (PEM), for a server "
                 "run with --tls_client_ca_file; with --tls-key")
      ->envname("MLP_TLS_CERT")
      ->type_name("FILE");
  app.add_option("--tls-key", global.tls_key_file,
                 "mutual TLS: the private key (PEM) of --tls-cert")
      ->envname("MLP_TLS_KEY")
      ->type_name("FILE");
  // Global options are also accepted after the command: `mlp list --json`.
  app.fallthrough();
  app.require_subcommand(1);

  AddModelCommands(app, global, action);
  AddTrainCommand(app, global, action);
  AddPredictCommands(app, global, action);
  AddDatasetCommands(app, global, action);
  AddDemoCommand(app, global, action);
  AddHealthCommand(app, global, action);
}

}  // namespace mlp::cli
