# -DSHOAL_STATIC=ON: a self-contained `shoal` for a minimal initramfs (scripts/initramfs.sh).
# Included from the top-level CMakeLists.txt BEFORE its find_package() calls: it pre-defines the
# imported targets the project links (spdlog::spdlog, tomlplusplus::tomlplusplus, PkgConfig::URING,
# PkgConfig::ISAL) so that the later find_package()/pkg_check_modules() calls keep ours.
#
# What Debian 12 ships, and so what this does:
#   OpenSSL 3   libssl.a, libcrypto.a       -> static (OPENSSL_USE_STATIC_LIBS)
#   liburing    liburing.a                   -> static
#   zstd        libzstd.a                    -> static
#   spdlog/fmt  shared only                  -> header-only (FMT_HEADER_ONLY, no SPDLOG_COMPILED_LIB)
#   toml++      shared only                  -> header-only (TOML_HEADER_ONLY=1)
#   libstdc++   libstdc++.a, libgcc.a        -> static
#   ISA-L       libisal.so only (no archive) -> shared, so glibc stays shared too: a "few-dependency"
#               binary needing ld-linux, libc, libm and libisal.so.2 (scripts/initramfs.sh copies them).
#   With a libisal.a (packaging/static/build-isal.sh builds one from Debian's source package; pass its
#   path as -DSHOAL_ISAL_STATIC_LIB=/path/libisal.a) the binary is linked with -static: no
#   dependencies at all.
# The DPDK transport is left out (its drivers are loaded as shared objects; an initramfs receiver
# uses the kernel-socket path). Checked by packaging/static/check-static.sh (ctest e2e_static_binary).

set(SHOAL_DPDK OFF)  # a normal variable: shadows the option for this build only
find_package(Threads REQUIRED)

# OpenSSL: FindOpenSSL picks libssl.a/libcrypto.a and adds their own dependencies (libdl, threads).
set(OPENSSL_USE_STATIC_LIBS TRUE)

# spdlog and fmt, header-only. Debian's tweakme.h already defines SPDLOG_FMT_EXTERNAL; without
# SPDLOG_COMPILED_LIB spdlog compiles its definitions inline. Both spdlog targets are defined so
# that spdlog's package config (if anything else loads it) sees them and returns early.
find_path(SHOAL_SPDLOG_INCLUDE spdlog/spdlog.h REQUIRED)
find_path(SHOAL_FMT_INCLUDE fmt/format.h REQUIRED)
foreach(t spdlog::spdlog spdlog::spdlog_header_only)
  add_library(${t} INTERFACE IMPORTED)
  set_target_properties(${t} PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SHOAL_SPDLOG_INCLUDE};${SHOAL_FMT_INCLUDE}"
    INTERFACE_COMPILE_DEFINITIONS "SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY=1"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endforeach()

# toml++, header-only (its package config links the shared library and sets TOML_HEADER_ONLY=0).
find_path(SHOAL_TOML_INCLUDE toml++/toml.h REQUIRED)
add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
set_target_properties(tomlplusplus::tomlplusplus PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES "${SHOAL_TOML_INCLUDE}" INTERFACE_COMPILE_DEFINITIONS "TOML_HEADER_ONLY=1")

# pkg-config modules from their archives: pkg_check_modules(PREFIX ... IMPORTED_TARGET) keeps a
# PkgConfig::PREFIX target that exists already. A new pkg-config dependency of the project needs a
# line here too (packaging/static/check-static.sh names any shared library that slips through).
function(shoal_static_pkg prefix header archive)
  find_path(SHOAL_${prefix}_INCLUDE ${header} REQUIRED)
  find_library(SHOAL_${prefix}_STATIC_LIB NAMES ${archive} REQUIRED)
  add_library(PkgConfig::${prefix} INTERFACE IMPORTED)
  set_target_properties(PkgConfig::${prefix} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
    "${SHOAL_${prefix}_INCLUDE}" INTERFACE_LINK_LIBRARIES "${SHOAL_${prefix}_STATIC_LIB}")
endfunction()
shoal_static_pkg(URING liburing.h liburing.a)
shoal_static_pkg(ZSTD zstd.h libzstd.a)

find_library(SHOAL_ISAL_STATIC_LIB NAMES libisal.a DOC "an ISA-L static archive, for a fully static shoal")
if(SHOAL_ISAL_STATIC_LIB)
  find_path(SHOAL_ISAL_INCLUDE isa-l/erasure_code.h REQUIRED)
  # ISA-L's gf_mul (a helper of its matrix code, private to ec_base.o) and libcrypto.a's curve448
  # gf_mul are both global: a static link sees two definitions. Ours is a copy with ISA-L's made local.
  set(isal_local ${CMAKE_BINARY_DIR}/libisal-localized.a)
  execute_process(COMMAND ${CMAKE_OBJCOPY} --localize-symbol=gf_mul ${SHOAL_ISAL_STATIC_LIB} ${isal_local}
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objcopy --localize-symbol=gf_mul ${SHOAL_ISAL_STATIC_LIB} failed")
  endif()
  add_library(PkgConfig::ISAL INTERFACE IMPORTED)
  set_target_properties(PkgConfig::ISAL PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SHOAL_ISAL_INCLUDE}" INTERFACE_LINK_LIBRARIES "${isal_local}")
  # Fully static. glibc warns that getaddrinfo() would need its NSS modules at run time: shoal in an
  # initramfs is given numeric addresses, which getaddrinfo resolves without them.
  string(APPEND CMAKE_EXE_LINKER_FLAGS " -static")
  message(STATUS "shoal: SHOAL_STATIC: fully static (ISA-L from ${SHOAL_ISAL_STATIC_LIB})")
else()
  string(APPEND CMAKE_EXE_LINKER_FLAGS " -static-libstdc++ -static-libgcc")
  message(STATUS "shoal: SHOAL_STATIC: no libisal.a (Debian ships none): static except glibc and "
                 "libisal.so.2 (see packaging/static/static.cmake)")
endif()
