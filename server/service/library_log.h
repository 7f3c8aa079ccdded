// The libraries' own log lines (gRPC's gpr_log, protobuf's GOOGLE_LOG) sent
// through the server's log (server/common/log.h), so that every line on
// stderr has the server's format: with --log_format=json a log collector
// never meets a "[libprotobuf ERROR ...]" or "E0101 ... grpc" line that is
// not JSON. (libmicrohttpd's messages are routed by server/http itself.)
//
// Thread-safety: RouteLibraryLogs replaces process-wide handlers; call it
// before serving (MlpServer::Start does). The handlers themselves may run
// on any thread.
#ifndef MLP_SERVER_SERVICE_LIBRARY_LOG_H_
#define MLP_SERVER_SERVICE_LIBRARY_LOG_H_

namespace mlp::service {

// Idempotent. Library messages keep their file, line and severity (gRPC's
// debug/info/error, protobuf's info/warning/error/fatal) and are escaped and
// bounded like the rest of the log, since they may quote a request.
void RouteLibraryLogs();

}  // namespace mlp::service

#endif  // MLP_SERVER_SERVICE_LIBRARY_LOG_H_
