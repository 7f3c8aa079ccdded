// mlp dataset upload | list | delete
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/operations.h"
#include "client/output.h"
#include "client/rows.h"
#include "client/status.h"

namespace mlp::cli {
namespace {

using mlp::v1::ModelService;

absl::Status RunUpload(const std::string& name, const DataFiles& files,
                       const GlobalOptions& global) {
  if (files.targets.empty() == files.labels.empty()) {
    return UsageError(
        "dataset upload needs either --targets COLS (CSV) or --labels FILE "
        "(IDX images)");
  }
  MLP_ASSIGN_OR_RETURN(std::unique_ptr<RowSource> source, OpenRows(files));
  Connection connection(global);
  MLP_ASSIGN_OR_RETURN(
      mlp::v1::DatasetInfo info,
      UploadDataset(connection, name, *source,
                    /*show_progress=*/!global.json && StdoutIsTerminal()));
  std::cout << (global.json ? ToJson(info) + "\n"
                            : absl::StrCat("uploaded ", FormatDataset(info)));
  return absl::OkStatus();
}

absl::Status RunList(const GlobalOptions& global) {
  Connection connection(global);
  MLP_ASSIGN_OR_RETURN(mlp::v1::ListDatasetsResponse list,
                       connection.Call(&ModelService::Stub::ListDatasets,
                                       mlp::v1::ListDatasetsRequest()));
  std::cout << (global.json ? ToJson(list) + "\n" : FormatDatasetList(list));
  return absl::OkStatus();
}

absl::Status RunDelete(const std::string& name, const GlobalOptions& global) {
  Connection connection(global);
  mlp::v1::DeleteDatasetRequest request;
  request.set_name(name);
  MLP_ASSIGN_OR_RETURN(
      mlp::v1::DeleteDatasetResponse response,
      connection.Call(&ModelService::Stub::DeleteDataset, request));
  std::cout << (global.json ? ToJson(response)
                            : absl::StrCat("deleted dataset '", name, "'"))
            << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddDatasetCommands(CLI::App& app, GlobalOptions& global, Action* action) {
  CLI::App* dataset =
      app.add_subcommand("dataset", "upload, list and delete training sets");
  dataset->require_subcommand(1);
  {
    auto name = std::make_shared<std::string>();
    auto files = std::make_shared<DataFiles>();
    CLI::App* upload = dataset->add_subcommand(
        "upload",
        "upload a CSV file (with --targets) or IDX images (with --labels), "
        "streamed in chunks");
    upload->add_option("name", *name, "dataset name")->required();
    upload->add_option("file", files->path, "CSV file or IDX images file")
        ->required();
    upload->add_option("--targets", files->targets,
                       "CSV target columns: 0-based indices (-1 = last) or "
                       "header names, comma-separated");
    upload->add_option("--labels", files->labels,
                       "IDX labels file (.gz or plain)");
    upload->callback([name, files, &global, action] {
      *action = [name, files, &global] {
        return RunUpload(*name, *files, global);
      };
    });
  }
  {
    CLI::App* list = dataset->add_subcommand("list", "list the datasets");
    list->callback(
        [&global, action] { *action = [&global] { return RunList(global); }; });
  }
  {
    auto name = std::make_shared<std::string>();
    CLI::App* remove = dataset->add_subcommand("delete", "delete a dataset");
    remove->add_option("name", *name, "dataset name")->required();
    remove->callback([name, &global, action] {
      *action = [name, &global] { return RunDelete(*name, global); };
    });
  }
}

}  // namespace mlp::cli
