// OpenSSL's SHA-256/SHA-512 contexts are plain structs that can be saved and restored byte for
// byte, which swift-crypto's hashers cannot: uploads continue their hash on another replica or
// after a restart. The low-level SHA*_Init/Update/Final calls are deprecated in OpenSSL 3 (in
// favour of EVP, whose state is opaque) but kept; the deprecation attributes are switched off here.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
