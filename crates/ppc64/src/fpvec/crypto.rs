//! AES, SHA-2 sigma and carry-less multiplication helpers.
