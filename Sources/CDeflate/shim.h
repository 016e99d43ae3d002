// libdeflate, for its CRC-32 only (carry-less multiplication: about three times zlib's on the
// IDAT chunks of a container). zlib still inflates: libdeflate does not stream.
#include <libdeflate.h>
