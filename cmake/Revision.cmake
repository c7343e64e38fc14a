# Run at every build (cmake -P): writes the git revision into a header, touching it only when it
# changed, so that results always name the code that produced them without rebuilding needlessly.
execute_process(COMMAND git describe --always --dirty --abbrev=12
                WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE revision
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
if(failed OR NOT revision)
  set(revision "unknown")
endif()
set(content "#pragma once\n#define CCTUNE_GIT_REVISION \"${revision}\"\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} existing)
endif()
if(NOT existing STREQUAL content)
  file(WRITE ${OUTPUT} "${content}")
endif()
