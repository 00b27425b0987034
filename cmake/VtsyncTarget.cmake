# Common compile settings for every vtsync target: warnings, optional -Werror and sanitizers.
function(vtsync_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wno-missing-field-initializers)
  # GCC 12 misreports Asio's coroutine frame allocator (aligned new, sized delete) as mismatched.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(VTSYNC_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(VTSYNC_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${VTSYNC_SANITIZE} -fno-omit-frame-pointer
                                             -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${VTSYNC_SANITIZE})
  endif()
endfunction()
