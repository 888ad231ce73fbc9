# Builds and runs the consumer project against expertcast, as a ctest:
#   cmake -DMODE=subdirectory|engine-only|installed|build-tree -DSOURCE=<expertcast> -DWORK=<dir>
#         -P run.cmake
file(REMOVE_RECURSE ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}\n${out}")
  endif()
endfunction()
set(consumer ${SOURCE}/tests/consumer)
if(MODE STREQUAL "subdirectory")
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/build -DEXPERTCAST_SOURCE=${SOURCE})
elseif(MODE STREQUAL "engine-only")
  # nlohmann_json and fmt hidden: the engine needs neither.
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/build -DEXPERTCAST_SOURCE=${SOURCE}
      -DENGINE_ONLY=ON -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
      -DCMAKE_DISABLE_FIND_PACKAGE_fmt=ON)
else()
  run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/expertcast -DEXPERTCAST_BUILD_TESTS=OFF
      -DEXPERTCAST_BUILD_EXAMPLES=OFF -DEXPERTCAST_BUILD_BENCHMARKS=OFF -DEXPERTCAST_INSTALL=ON)
  if(MODE STREQUAL "build-tree")
    # find_package straight from a configured build directory, nothing installed.
    run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/build -Dexpertcast_DIR=${WORK}/expertcast)
  else()
    run(${CMAKE_COMMAND} --install ${WORK}/expertcast --prefix ${WORK}/prefix)
    run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix)
  endif()
endif()
run(${CMAKE_COMMAND} --build ${WORK}/build)
run(${WORK}/build/engine)
if(NOT MODE STREQUAL "engine-only")
  run(${WORK}/build/offline)
endif()
message(STATUS "consumer (${MODE}) built and ran")
