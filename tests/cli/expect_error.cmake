# Runs the expertcast tool with arguments that are a mistake and checks how it refuses them: the
# exit status, one message on stderr that matches EXPECT, and nothing on stdout (a mistake is
# caught before any report starts). -DTOOL=... -DARGS=a|b|c -DEXPECT=regex [-DSTATUS=2]
if(NOT DEFINED STATUS)
  set(STATUS 2)
endif()
string(REPLACE "|" ";" _args "${ARGS}")
execute_process(COMMAND ${TOOL} ${_args} RESULT_VARIABLE _status OUTPUT_VARIABLE _out
                ERROR_VARIABLE _err TIMEOUT 60)
if(NOT _status STREQUAL "${STATUS}")
  message(FATAL_ERROR "exit status '${_status}', expected ${STATUS}\nstdout:\n${_out}\nstderr:\n${_err}")
endif()
if(NOT _err MATCHES "${EXPECT}")
  message(FATAL_ERROR "stderr does not match '${EXPECT}':\n${_err}")
endif()
if(NOT _out STREQUAL "")
  message(FATAL_ERROR "printed to stdout before refusing:\n${_out}")
endif()
