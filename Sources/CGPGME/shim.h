// CGPGME: the system libgpgme (OpenPGP simple signing), through Debian's libgpgme-dev.
#include <gpgme.h>
