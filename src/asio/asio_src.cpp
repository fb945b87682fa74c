// The one translation unit that compiles Asio (BOOST_ASIO_SEPARATE_COMPILATION),
// so no other file pays for its implementation.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
