# -DPARALLAX_BUNDLE=<dir>: every dependency but LibTorch comes from a folder that
# scripts/gpu-bundle.sh made on a Debian machine, for a GPU machine that has a pip torch, CMake,
# ninja and a compiler but none of the -dev packages (scripts/gpu-check.sh). Included by
# CMakeLists.txt before its find_package() calls; sets the search paths they use and
#   PARALLAX_BUNDLE_INCLUDE_DIR     headers every translation unit may see (gloo's among them)
#   PARALLAX_PROTOBUF               the bundled libprotobuf
#   PARALLAX_PROTOBUF_INCLUDE_DIR   its headers, for the TensorBoard writer alone
#   PARALLAX_PROTO_OUT, PARALLAX_PROTO_CC   the event code generated there (no protoc needed)
get_filename_component(PARALLAX_BUNDLE "${PARALLAX_BUNDLE}" ABSOLUTE)
if(NOT EXISTS "${PARALLAX_BUNDLE}/bundle.cmake")
  message(FATAL_ERROR "PARALLAX_BUNDLE=${PARALLAX_BUNDLE} is not a bundle (no bundle.cmake): "
                      "run scripts/gpu-bundle.sh on a Debian machine with scripts/install-deps.sh's packages")
endif()
include("${PARALLAX_BUNDLE}/bundle.cmake")
set(PARALLAX_BUNDLE_LIB "${PARALLAX_BUNDLE}/lib/${PARALLAX_BUNDLE_MULTIARCH}")

# The generated code matches one .proto; an edited one needs the bundle made again.
set(parallax_bundle_proto "${CMAKE_CURRENT_SOURCE_DIR}/src/metrics/tensorboard_event.proto")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${parallax_bundle_proto}")
file(SHA256 "${parallax_bundle_proto}" parallax_bundle_proto_sha256)
if(NOT parallax_bundle_proto_sha256 STREQUAL PARALLAX_BUNDLE_PROTO_SHA256)
  message(FATAL_ERROR "${PARALLAX_BUNDLE} was generated from another src/metrics/tensorboard_event.proto: "
                      "run scripts/gpu-bundle.sh again on the Debian machine")
endif()

# The bundle keeps Debian's layout (lib/<multiarch>/...), which a compiler outside Debian's family
# would not search: name each place outright rather than rely on CMAKE_LIBRARY_ARCHITECTURE.
list(PREPEND CMAKE_PREFIX_PATH "${PARALLAX_BUNDLE}")
list(PREPEND CMAKE_LIBRARY_PATH "${PARALLAX_BUNDLE_LIB}")
set(nlohmann_json_DIR "${PARALLAX_BUNDLE}/share/cmake/nlohmann_json" CACHE PATH "" FORCE)
set(CLI11_DIR "${PARALLAX_BUNDLE}/share/cmake/CLI11" CACHE PATH "" FORCE)
set(yaml-cpp_DIR "${PARALLAX_BUNDLE_LIB}/cmake/yaml-cpp" CACHE PATH "" FORCE)
set(GTest_DIR "${PARALLAX_BUNDLE_LIB}/cmake/GTest" CACHE PATH "" FORCE)
# Boost is headers only here: no BoostConfig, and never the system's.
set(Boost_NO_BOOST_CMAKE ON)
set(Boost_NO_SYSTEM_PATHS ON)
set(BOOST_INCLUDEDIR "${PARALLAX_BUNDLE}/include")

set(PARALLAX_BUNDLE_INCLUDE_DIR "${PARALLAX_BUNDLE}/include")
find_library(PARALLAX_PROTOBUF protobuf PATHS "${PARALLAX_BUNDLE_LIB}" NO_DEFAULT_PATH REQUIRED)
set(PARALLAX_PROTOBUF_INCLUDE_DIR "${PARALLAX_BUNDLE}/protobuf/include")
set(PARALLAX_PROTO_OUT "${PARALLAX_BUNDLE}/proto")
set(PARALLAX_PROTO_CC "${PARALLAX_PROTO_OUT}/metrics/tensorboard_event.pb.cc")

# libcurl, libarchive and OpenSSL are not bundled (their dependencies would not fit).
if(PARALLAX_DOWNLOAD)
  message(STATUS "parallax: the bundle has no libcurl/libarchive/OpenSSL: PARALLAX_DOWNLOAD OFF")
  set(PARALLAX_DOWNLOAD OFF CACHE BOOL
      "`parallax data download` (needs libcurl, libarchive and OpenSSL)" FORCE)
endif()

# The binaries run where they are built, with no LD_LIBRARY_PATH: CMake's build RPATH names the
# bundle's lib/ (as it names the wheel's), and the old DT_RPATH tag (not DT_RUNPATH) makes the
# loader search it for the bundled libraries' own dependencies too (libprotobuf's libz), which
# carry no search path of their own. -rpath-link lets the linker find those at link time.
list(APPEND CMAKE_BUILD_RPATH "${PARALLAX_BUNDLE_LIB}")
add_link_options("LINKER:--disable-new-dtags" "LINKER:-rpath-link,${PARALLAX_BUNDLE_LIB}")
message(STATUS "parallax: dependencies from the bundle ${PARALLAX_BUNDLE} "
               "(protobuf ${PARALLAX_BUNDLE_PROTOBUF_VERSION}, code generated there)")
