# Per-target build settings, so that no global flags are touched.
#
#   mlp_compile_options(target)  -march and sanitizers (every target, generated
#                                code included, so that all objects agree)
#   mlp_warnings(target)         warnings (and -Werror with MLP_WERROR) for the
#                                project's own code only
#   mlp_add_test(name SOURCES ... LIBS ... LABELS ... TIMEOUT s)
#                                one test executable per test file

function(mlp_compile_options target)
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
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gmock
                        GTest::gtest_main)
  mlp_warnings(${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
                       LABELS "${T_LABELS}")
endfunction()
