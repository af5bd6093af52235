# LibTorch, and the NCCL + cudart that the NCCL backend links (docs/cluster.md, "Building for GPUs").
#
# Two LibTorch builds, one code base:
#   default   Debian's LibTorch 1.13 (CPU), found in the system's paths;
#   2.x       a CUDA LibTorch 2.x named by CMAKE_PREFIX_PATH: the torch wheel's folder (pip), its
#             torch.utils.cmake_prefix_path (<torch>/share/cmake), or an unpacked LibTorch zip.
#
# A torch wheel ships no CUDA toolkit, but Torch's CMake config enables CUDA (nvcc, cudart headers).
# The wheel's own CUDA libraries live beside it in <site-packages>/nvidia/*/lib. One libcudart and one
# NCCL per process, the ones torch loads: with a wheel, every program finds those folders first (build
# RPATH), and NCCL/cudart are taken from there, never from a system toolkit. The CUDA compiler is the
# wheel set's nvcc when it is installed there (tools/torch_venv.sh does so where no toolkit exists),
# else the system's (CUDA_HOME, /usr/local/cuda, PATH) as Torch's config finds it.

# <torch>/share/cmake names only the CMake files: put <torch> itself first, so that the config's
# find_library(c10 ...) takes <torch>/lib, not another LibTorch in /usr/lib (Debian's libtorch-dev).
set(prospect_torch_root "")
foreach(p IN LISTS CMAKE_PREFIX_PATH)
  if(EXISTS "${p}/Torch/TorchConfig.cmake")
    get_filename_component(prospect_torch_root "${p}/../.." ABSOLUTE)
  elseif(EXISTS "${p}/share/cmake/Torch/TorchConfig.cmake")
    get_filename_component(prospect_torch_root "${p}" ABSOLUTE)
  endif()
  if(prospect_torch_root)
    list(PREPEND CMAKE_PREFIX_PATH "${prospect_torch_root}")
    break()
  endif()
endforeach()

set(prospect_wheel_nvidia "")
if(prospect_torch_root AND IS_DIRECTORY "${prospect_torch_root}/../nvidia")
  get_filename_component(prospect_wheel_nvidia "${prospect_torch_root}/../nvidia" ABSOLUTE)
  file(GLOB prospect_wheel_libdirs LIST_DIRECTORIES true "${prospect_wheel_nvidia}/*/lib")
  list(PREPEND CMAKE_BUILD_RPATH ${prospect_wheel_libdirs})
  # nvcc + headers + dev links from the wheels (tools/torch_venv.sh): the toolkit of exactly this torch.
  file(GLOB prospect_wheel_nvcc "${prospect_wheel_nvidia}/cu[0-9]*/bin/nvcc")
  if(prospect_wheel_nvcc AND NOT DEFINED CUDA_TOOLKIT_ROOT_DIR AND NOT DEFINED CMAKE_CUDA_COMPILER)
    list(GET prospect_wheel_nvcc 0 prospect_wheel_nvcc)
    get_filename_component(prospect_wheel_cuda "${prospect_wheel_nvcc}/../.." ABSOLUTE)
    if(EXISTS "${prospect_wheel_cuda}/lib64/libcudart.so")
      set(CUDA_TOOLKIT_ROOT_DIR "${prospect_wheel_cuda}" CACHE PATH "CUDA toolkit (torch's wheels)")
      set(CMAKE_CUDA_COMPILER "${prospect_wheel_nvcc}" CACHE FILEPATH "nvcc (torch's wheels)")
    endif()
  endif()
endif()

find_package(Torch REQUIRED)

foreach(lib TORCH_LIBRARY c10_LIBRARY)
  string(FIND "${${lib}}" "${TORCH_INSTALL_PREFIX}/" prospect_at)
  if(${lib} AND NOT prospect_at EQUAL 0)
    message(FATAL_ERROR "LibTorch: the config in ${TORCH_INSTALL_PREFIX} found ${${lib}}, another "
      "LibTorch's library. Set CMAKE_PREFIX_PATH to ${TORCH_INSTALL_PREFIX} (the folder that holds "
      "lib/ and share/cmake/) and configure a fresh build folder.")
  endif()
endforeach()

# LibTorch 2.x puts its own fmt (12) in its include folder, ahead of /usr/include; spdlog and our code
# use Debian's fmt (9) and link libfmt.so.9. The include folder our code sees is LibTorch's without fmt/
# (its public headers that we include do not use it).
if(Torch_VERSION VERSION_GREATER_EQUAL 2 AND IS_DIRECTORY "${TORCH_INSTALL_PREFIX}/include/fmt")
  set(prospect_torch_include "${CMAKE_BINARY_DIR}/torch-include")
  file(MAKE_DIRECTORY "${prospect_torch_include}")
  file(GLOB prospect_entries RELATIVE "${TORCH_INSTALL_PREFIX}/include" "${TORCH_INSTALL_PREFIX}/include/*")
  list(REMOVE_ITEM prospect_entries fmt)
  foreach(e IN LISTS prospect_entries)
    file(CREATE_LINK "${TORCH_INSTALL_PREFIX}/include/${e}" "${prospect_torch_include}/${e}" SYMBOLIC)
  endforeach()
  foreach(t c10 c10_cuda torch_cpu torch_cuda torch)
    if(TARGET ${t})
      get_target_property(dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
      if(dirs)
        set(new_dirs "")
        foreach(d IN LISTS dirs)
          if(d STREQUAL "${TORCH_INSTALL_PREFIX}/include")
            set(d "${prospect_torch_include}")
          endif()
          list(APPEND new_dirs "${d}")
        endforeach()
        set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${new_dirs}")
      endif()
    endif()
  endforeach()
endif()

# NCCL + cudart: compiled and linked whenever found (the backend is chosen at run time by device).
if(prospect_wheel_nvidia)
  set(prospect_nccl_find NO_DEFAULT_PATH HINTS "${prospect_wheel_nvidia}/nccl")
  file(GLOB prospect_cuda_find LIST_DIRECTORIES true "${prospect_wheel_nvidia}/cu[0-9]*"
    "${prospect_wheel_nvidia}/cuda_runtime")
  set(prospect_cuda_find NO_DEFAULT_PATH HINTS ${prospect_cuda_find})
else()
  set(prospect_nccl_find HINTS $ENV{NCCL_ROOT} /usr/local/cuda)
  set(prospect_cuda_find HINTS $ENV{CUDA_HOME} /usr/local/cuda)
endif()
find_path(NCCL_INCLUDE_DIR nccl.h ${prospect_nccl_find} PATH_SUFFIXES include)
find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 ${prospect_nccl_find} PATH_SUFFIXES lib lib64)
if(prospect_wheel_nvidia AND CUDA_cudart_LIBRARY AND CUDAToolkit_INCLUDE_DIRS)
  # The cudart Torch's config links (a system toolkit's file, or the wheel's): two files of one soname
  # in a link make an unsatisfiable run path. Which file runs is the run path's choice: the wheel's.
  set(CUDART_LIBRARY "${CUDA_cudart_LIBRARY}")
  set(CUDART_INCLUDE_DIR "${CUDAToolkit_INCLUDE_DIRS}")
else()
  find_path(CUDART_INCLUDE_DIR cuda_runtime_api.h ${prospect_cuda_find} PATH_SUFFIXES include)
  find_library(CUDART_LIBRARY NAMES cudart libcudart.so.13 libcudart.so.12 ${prospect_cuda_find}
    PATH_SUFFIXES lib lib64)
endif()
if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY AND CUDART_INCLUDE_DIR AND CUDART_LIBRARY)
  set(PROSPECT_HAVE_NCCL ON)
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" prospect_nccl_version REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  string(REGEX REPLACE "[^0-9;]" "" prospect_nccl_version "${prospect_nccl_version}")
  string(REPLACE ";" "." prospect_nccl_version "${prospect_nccl_version}")
  message(STATUS "prospect: NCCL backend ON (nccl ${prospect_nccl_version}: ${NCCL_LIBRARY}, cudart: ${CUDART_LIBRARY})")
  if(prospect_wheel_nvidia)
    message(STATUS "prospect: run path starts with torch's CUDA libraries: ${prospect_wheel_libdirs}")
  endif()
else()
  set(PROSPECT_HAVE_NCCL OFF)
  message(STATUS "prospect: NCCL backend OFF (nccl.h/libnccl/cudart not found; set NCCL_ROOT or CUDA_HOME)")
endif()
if(TARGET torch_cuda)
  set(prospect_torch_cuda "CUDA ${CUDA_VERSION}, nvcc ${CMAKE_CUDA_COMPILER}")
else()
  set(prospect_torch_cuda "CPU only")
endif()
message(STATUS "prospect: LibTorch ${Torch_VERSION} (${prospect_torch_cuda}) from ${TORCH_INSTALL_PREFIX}")
