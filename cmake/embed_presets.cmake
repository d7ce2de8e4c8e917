# Embeds bench/suites/*.yaml into the binary (parallax bench --preset NAME) as generated C++.
#
# parallax_generate_presets(SOURCE_DIR OUTPUT) writes OUTPUT from src/suite/presets.cpp.in (it
# also works under `cmake -P`); parallax_embed_presets(TARGET) does that into
# ${CMAKE_BINARY_DIR}/generated/presets.cpp, adds it to TARGET, and re-runs CMake whenever a suite
# file changes, appears or goes, so the binary never ships a stale preset.

# A raw-string delimiter (at most 16 characters): ")~suite~" followed by a quote is no YAML
# anyone writes, and every file is checked for it anyway.
set(PARALLAX_PRESET_DELIMITER "~suite~")

function(parallax_generate_presets source_dir output)
  file(GLOB suites "${source_dir}/bench/suites/*.yaml")
  list(SORT suites)
  if(NOT suites)
    message(FATAL_ERROR "no preset suites in ${source_dir}/bench/suites/*.yaml")
  endif()
  set(d "${PARALLAX_PRESET_DELIMITER}")
  set(entries "")
  foreach(path IN LISTS suites)
    get_filename_component(name "${path}" NAME_WLE)
    if(NOT name MATCHES "^[A-Za-z0-9_.+-]+$")
      message(FATAL_ERROR "${path}: a preset name may hold letters, digits and . _ + - only")
    endif()
    file(READ "${path}" text)
    string(FIND "${text}" ")${d}\"" clash)
    if(NOT clash EQUAL -1)
      message(FATAL_ERROR "${path} contains )${d}\", the raw-string delimiter of presets.cpp; "
                          "change PARALLAX_PRESET_DELIMITER in cmake/embed_presets.cmake")
    endif()
    string(APPEND entries "    {\"${name}\", R\"${d}(${text})${d}\"},\n")
  endforeach()
  set(PARALLAX_PRESET_ENTRIES "${entries}")
  # @ONLY: ${...} in a suite's text stays as written; configure_file leaves OUTPUT untouched when
  # its text is unchanged, so an unrelated re-configure recompiles nothing.
  configure_file("${source_dir}/src/suite/presets.cpp.in" "${output}" @ONLY)
endfunction()

function(parallax_embed_presets target)
  set(output "${CMAKE_BINARY_DIR}/generated/presets.cpp")
  parallax_generate_presets("${PROJECT_SOURCE_DIR}" "${output}")
  # file(READ) is not a dependency by itself; the glob's CONFIGURE_DEPENDS notices new files.
  file(GLOB suites CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/bench/suites/*.yaml")
  set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${suites})
  target_sources(${target} PRIVATE "${output}")
  # Plain strings: LibTorch's precompiled header would only slow this file down; out of the unity
  # batches, so that editing a suite recompiles this file alone.
  set_source_files_properties("${output}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON
                              SKIP_UNITY_BUILD_INCLUSION ON)
endfunction()
