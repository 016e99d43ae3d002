// OpenSSL's libcrypto: SHA-256 and MD5 through the EVP interface.
#include <openssl/evp.h>
