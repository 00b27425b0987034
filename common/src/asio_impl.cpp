// The one translation unit that compiles Boost.Asio, Asio's SSL support and Boost.Beast.
// Every other file includes their headers with *_SEPARATE_COMPILATION defined (see CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
