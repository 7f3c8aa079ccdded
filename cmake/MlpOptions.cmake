# Per-target build settings, so that no global flags are touched.
#
#   mlp_compile_options(target)  -march and sanitizers (every target, generated
#                                code included, so that all objects agree)
#   mlp_warnings(target)         warnings (and -Werror with MLP_WERROR) for the
#                                project's own code only
#   mlp_add_test(name SOURCES ... LIBS ... LABELS ... TIMEOUT s [SERIAL])
#                                one test executable per test file; each of
#                                its tests is a ctest test of its own
#                                ("<name>.<Suite>.<Test>", TIMEOUT each);
#                                SERIAL: never beside another test (one that
#                                uses every core, or measures time)

function(mlp_compile_options target)
  # Source paths in the binaries (__FILE__: logs, --help) relative to the
  # checkout, whatever directory it was built in.
  target_compile_options(${target} PRIVATE
                         -ffile-prefix-map=${PROJECT_SOURCE_DIR}/=)
  if(MLP_MARCH)
    target_compile_options(${target} PRIVATE -march=${MLP_MARCH})
  endif()
  if(MLP_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${MLP_SANITIZE}
                           -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${MLP_SANITIZE})
  endif()
endfunction()

function(mlp_warnings target)
  mlp_compile_options(${target})
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                         -Wno-unused-parameter)
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(MLP_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

function(mlp_add_test name)
  cmake_parse_arguments(T "SERIAL" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock
                        GTest::gtest_main)
  mlp_warnings(${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  # Listed when ctest runs (not at build time, so a sanitizer build's
  # binaries are not run by the build), one process per test: a failure
  # names its test, and no test sees another's process state.
  gtest_discover_tests(${name} TEST_PREFIX "${name}."
                       DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}"
                                  RUN_SERIAL ${T_SERIAL})
endfunction()

# mlp_grpc_proto_library(target PROTO_DIR dir PROTOS a.proto b/c.proto ...)
# Generates C++ messages and gRPC stubs for PROTOS (paths relative to
# PROTO_DIR, which is also the import root) into a static library whose
# generated headers are included as SYSTEM (no project warnings on them).
function(mlp_grpc_proto_library target)
  cmake_parse_arguments(P "" "PROTO_DIR" "PROTOS" ${ARGN})
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  set(srcs)
  foreach(proto IN LISTS P_PROTOS)
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    set(gen ${out}/${stem}.pb.cc ${out}/${stem}.pb.h
            ${out}/${stem}.grpc.pb.cc ${out}/${stem}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${gen}
      COMMAND protobuf::protoc --proto_path=${P_PROTO_DIR}
              --cpp_out=${out} --grpc_out=${out}
              --plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>
              ${proto}
      DEPENDS ${P_PROTO_DIR}/${proto} protobuf::protoc gRPC::grpc_cpp_plugin
      WORKING_DIRECTORY ${P_PROTO_DIR}
      COMMENT "protoc ${proto}")
    list(APPEND srcs ${gen})
  endforeach()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} SYSTEM PUBLIC ${out})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  mlp_compile_options(${target})
endfunction()
