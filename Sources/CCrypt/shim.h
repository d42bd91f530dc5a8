// CCrypt: the system's libcrypt (libxcrypt), for htpasswd bcrypt hashes.
#include <crypt.h>
